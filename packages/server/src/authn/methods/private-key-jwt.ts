// private_key_jwt (RFC 7523 §2.2 and §3, OpenID Connect Core §9): the client signs an assertion with a key it
// registered, inline or at a jwks_uri. No shared secret crosses the wire.

import { decodeProtectedHeader, type JWK, type JWTVerifyGetKey, jwtVerify } from 'jose'
import { InvalidClient, InvalidRequest } from '../../errors/oauth-error.ts'
import type { Client } from '../../registry/directory.ts'
import { KeySetUnavailable } from '../../registry/key-sets.ts'
import { ASSERTION_ALGORITHMS } from '../../tokens/algorithms.ts'
import { isFederatedAssertion, verifyFederatedAssertion } from './federated-assertion.ts'
import type { AuthenticatedClient, ClientAuthContext, ClientAuthMethod } from './method.ts'

/** RFC 7523 §2.2 client_assertion_type. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** The longest assertion lifetime accepted; it also bounds how long a jti is remembered. */
const MAX_ASSERTION_LIFETIME_SECONDS = 3600

// The client's registered keys, inline and at its jwks_uri documents, through the node's key sets.
function keySetOf(client: Client, ctx: ClientAuthContext): JWTVerifyGetKey | undefined {
  const inline = client.principal.credentials.flatMap((c) =>
    c.type === 'jwks' ? (c.jwks.keys as JWK[]) : [],
  )
  const uris = client.principal.credentials.flatMap((c) => (c.type === 'jwks_uri' ? [c.jwks_uri] : []))
  if (inline.length === 0 && uris.length === 0) return undefined
  return ctx.keySets.resolver(client.principal, { inline, uris })
}

function claimsIssuer(assertion: string): string | undefined {
  const payload = assertion.split('.')[1]
  if (!payload) return undefined
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss?: unknown }
    return typeof claims.iss === 'string' ? claims.iss : undefined
  } catch {
    return undefined
  }
}

/**
 * Verifies a client assertion and returns the client it proves. Also used for the client assertion of other grants.
 * Refuses every algorithm outside ASSERTION_ALGORITHMS, embedded or referenced keys (`jwk`, `jku`, `x5u`, `x5c`);
 * an `aud` other than one string naming this server (never a list); missing `exp` or `jti`; `iat` in the future; lifetimes over an hour; a replayed jti.
 */
export async function verifyClientAssertion(
  assertion: string,
  claimedClientId: string | undefined,
  ctx: ClientAuthContext,
): Promise<AuthenticatedClient> {
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(assertion)
  } catch {
    throw new InvalidClient('client_assertion is not a JWS')
  }
  if (typeof header.alg !== 'string' || !ASSERTION_ALGORITHMS.includes(header.alg))
    throw new InvalidClient('client_assertion uses an algorithm that is not accepted')
  // RFC 7523 and RFC 8725 §3.5: keys come from the registration, never from the token.
  if (['jwk', 'jku', 'x5u', 'x5c'].some((name) => name in header))
    throw new InvalidClient('client_assertion may not carry or point to keys')
  const clientId = claimsIssuer(assertion)
  if (clientId === undefined) throw new InvalidClient('client_assertion has no iss')
  if (claimedClientId !== undefined && claimedClientId !== clientId)
    throw new InvalidClient('client_id does not match the client_assertion')
  const client = ctx.directory.client(clientId)
  const keys = client ? keySetOf(client, ctx) : undefined
  // The same answer as a bad signature, so that nobody learns which client ids exist.
  if (!client || !keys) throw new InvalidClient('client_assertion is invalid')

  const now = ctx.now()
  let claims: Awaited<ReturnType<typeof jwtVerify>>['payload']
  try {
    ;({ payload: claims } = await jwtVerify(assertion, keys, {
      algorithms: ASSERTION_ALGORITHMS,
      issuer: clientId,
      subject: clientId,
      requiredClaims: ['exp', 'jti'],
      clockTolerance: ctx.clockSkewSeconds,
      currentDate: new Date(now),
    }))
  } catch (error) {
    if (error instanceof KeySetUnavailable)
      throw new InvalidClient('the client keys at its jwks_uri cannot be fetched')
    throw new InvalidClient('client_assertion is invalid')
  }
  // RFC 7523 §3 with draft-ietf-oauth-rfc7523bis: `aud` is one string naming this server (its issuer, or the token
  // endpoint that clients have long used). A list is refused even when it names this server: an assertion meant for
  // several parties could be replayed by any of them here.
  if (typeof claims.aud !== 'string' || !ctx.audiences().includes(claims.aud))
    throw new InvalidClient(
      "client_assertion aud must be this server's issuer identifier, as a single string",
    )
  const nowSeconds = Math.floor(now / 1000)
  if (typeof claims.iat === 'number' && claims.iat > nowSeconds + ctx.clockSkewSeconds)
    throw new InvalidClient('client_assertion was issued in the future')
  const exp = claims.exp as number
  if (
    exp - Math.min(nowSeconds, typeof claims.iat === 'number' ? claims.iat : nowSeconds) >
    MAX_ASSERTION_LIFETIME_SECONDS + ctx.clockSkewSeconds
  ) {
    throw new InvalidClient('client_assertion lives too long')
  }
  if (typeof claims.jti !== 'string' || claims.jti.length === 0 || claims.jti.length > 256)
    throw new InvalidClient('client_assertion needs a jti')
  // RFC 7523 §3: the jti is remembered until the assertion could no longer be accepted, on every node.
  const fresh = await ctx.replay.claim(
    `client_assertion:${clientId}`,
    claims.jti,
    (exp + ctx.clockSkewSeconds) * 1000,
  )
  if (!fresh) throw new InvalidClient('client_assertion was already used')
  return { id: clientId, client, method: 'private_key_jwt' }
}

export const privateKeyJwt: ClientAuthMethod = {
  name: 'private_key_jwt',
  advertises: ['private_key_jwt'],
  detect: (request) =>
    request.params.client_assertion !== undefined || request.params.client_assertion_type !== undefined,
  async authenticate(request, ctx): Promise<AuthenticatedClient> {
    if (request.params.client_assertion_type !== JWT_BEARER_ASSERTION_TYPE)
      throw new InvalidRequest(`client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE}`)
    const assertion = request.params.client_assertion
    if (!assertion) throw new InvalidRequest('client_assertion is required')
    // RFC 7523 §2.2 allows an assertion from a third party: a trusted workload issuer vouching for the client.
    if (isFederatedAssertion(claimsIssuer(assertion), ctx))
      return verifyFederatedAssertion(assertion, request.params.client_id, ctx)
    return verifyClientAssertion(assertion, request.params.client_id, ctx)
  },
}
