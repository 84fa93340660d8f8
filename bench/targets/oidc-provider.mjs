// oidc-provider 9 configured for the benchmark's one job, for bench/token.mjs.
//
// One confidential client (client_secret_basic, grant client_credentials, scope bench:read), resource indicators
// enabled with one resource server whose access tokens are RFC 9068 JWTs (`accessTokenFormat: 'jwt'`) signed ES256,
// audience = the resource. The key set holds one ES256 key only; clientDefaults name ES256 too so nothing asks for RS256.
// Default in-memory adapter: JWT access tokens are not stored by oidc-provider, so no adapter call is made per token.
//
// Environment (set by bench/token.mjs): BENCH_PORT, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_RESOURCE, BENCH_SCOPE.
// The token endpoint is POST /token; discovery at /.well-known/openid-configuration, keys at /jwks.
import { generateKeyPairSync } from 'node:crypto'
import http from 'node:http'
import Provider, { errors } from 'oidc-provider'

const port = Number(process.env.BENCH_PORT)
const clientId = process.env.BENCH_CLIENT_ID
const clientSecret = process.env.BENCH_CLIENT_SECRET
const resource = process.env.BENCH_RESOURCE
const scope = process.env.BENCH_SCOPE
if (!port || !clientId || !clientSecret || !resource || !scope) {
  console.error(
    'oidc-provider: BENCH_PORT, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_RESOURCE and BENCH_SCOPE are required',
  )
  process.exit(2)
}
const issuer = `http://127.0.0.1:${port}`
const lifetimeSeconds = 300

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-1', alg: 'ES256', use: 'sig' }

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope,
    },
  ],
  clientDefaults: {
    grant_types: ['client_credentials'],
    response_types: [],
    id_token_signed_response_alg: 'ES256',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  jwks: { keys: [signingJwk] },
  scopes: [scope],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo(_ctx, indicator) {
        if (indicator !== resource) throw new errors.InvalidTarget()
        return {
          scope,
          audience: resource,
          accessTokenTTL: lifetimeSeconds,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }
      },
    },
  },
  ttl: { ClientCredentials: lifetimeSeconds },
})

const server = http.createServer(provider.callback())
server.listen(port, '127.0.0.1')

// Exit through process.exit so that `node --cpu-prof` writes its profile.
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => process.exit(0))
