// A plain CommonJS script using @mandate/sdk installed from its tarball, against a real node: an agent with a client
// secret gets a token, a resource server checks it with verifyAccessToken, and errors are the SDK's own classes.
const assert = require('node:assert/strict')
const sdk = require('@mandate/sdk')

const { MANDATE_URL, MANDATE_TOKEN } = process.env
const RESOURCE = 'https://notes.example.com/'

async function main() {
  assert.match(require.resolve('@mandate/sdk'), /dist[\\/]cjs[\\/]index\.js$/)
  const admin = new sdk.AdminClient({ baseUrl: MANDATE_URL, token: MANDATE_TOKEN })
  await admin.put('humans', 'alice@example.com', {})
  await admin.put('resource-servers', 'notes-cjs', {
    audience: RESOURCE,
    scopes: ['notes:read', 'notes:write'],
  })
  // Policies are checked against what is registered, so they come after the resource server they speak of.
  await admin.put('policies', 'allow-all', { policies: '@id("all")\npermit (principal, action, resource);' })
  const created = await admin.put('agents', 'cjs-bot', {
    sponsor: 'alice@example.com',
    classification: 'autonomous',
    ceiling: ['notes:read'],
    credentials: [{ type: 'client_secret' }],
  })
  const secret = created.issued_secrets[0].client_secret

  const agent = new sdk.AgentClient({
    issuer: MANDATE_URL,
    clientId: 'cjs-bot',
    credential: { type: 'client_secret', secret },
  })
  const token = await agent.getToken({ resource: RESOURCE, scope: 'notes:read' })
  assert.equal(token.tokenType, 'Bearer')

  const issuer = new sdk.MandateIssuer(MANDATE_URL)
  const request = {
    method: 'GET',
    url: `${RESOURCE}notes/1`,
    headers: new Headers({ authorization: `Bearer ${token.accessToken}` }),
  }
  const verified = await sdk.verifyAccessToken(request, {
    issuer,
    audience: RESOURCE,
    scopes: ['notes:read'],
  })
  assert.equal(verified.claims.sub, 'cjs-bot')
  assert.equal(verified.binding, 'bearer')

  await assert.rejects(
    sdk.verifyAccessToken(request, { issuer, audience: RESOURCE, scopes: 'notes:write' }),
    (error) =>
      error instanceof sdk.AccessTokenError && error.code === 'insufficient_scope' && error.status === 403,
  )
  await assert.rejects(
    admin.get('agents', 'nobody'),
    (error) => error instanceof sdk.MandateApiError && error.code === 'not_found',
  )
}

main().then(
  () => console.log('use.cjs: ok'),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
