// Tokens from trusted external issuers: a human's token from the company IdP, or a workload's token from Kubernetes,
// GitHub Actions, SPIFFE or any OIDC issuer. Verified against the issuer's registered keys, never the token's own.
import { createLocalJWKSet, decodeJwt, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose'
import type { Directory } from '../registry/directory.ts'
import type { JwksFetcher } from '../registry/jwks-fetcher.ts'
import type { Stored, TrustedIssuer } from '../registry/model.ts'
import { ASSERTION_ALGORITHMS } from '../tokens/algorithms.ts'

/** Why an external token was not accepted. */
export class ExternalTokenRejected extends Error {}

/** A verified external token. */
export interface VerifiedExternalToken {
  issuer: Stored<TrustedIssuer>
  claims: JWTPayload & { sub: string; exp: number }
}

const keySets = new Map<string, { text: string; get: JWTVerifyGetKey }>()
// A user's token is presented again for each action of a session: verify it once, keep it until it expires. The
// issuer object is part of the key, so a changed registration (new keys, new audiences) verifies afresh.
const verified = new Map<string, { issuer: object; result: VerifiedExternalToken }>()
const MAX_VERIFIED = 20_000

/**
 * Verifies a JWT from a registered TrustedIssuer of `type`: signature with the issuer's keys (asymmetric algorithms
 * only), `iss`, `aud` (one of the issuer's registered audiences, or `defaultAudiences`), `exp`, `nbf`, and `sub`.
 */
export async function verifyTrustedToken(
  token: string,
  type: TrustedIssuer['type'],
  deps: {
    directory: Directory
    jwks: JwksFetcher
    defaultAudiences: readonly string[]
    clockSkewSeconds: number
    now: number
  },
): Promise<VerifiedExternalToken> {
  let iss: unknown
  try {
    iss = decodeJwt(token).iss
  } catch {
    throw new ExternalTokenRejected('the token is not a JWT')
  }
  const issuer = typeof iss === 'string' ? deps.directory.trustedIssuer(iss) : undefined
  if (!issuer || issuer.type !== type)
    throw new ExternalTokenRejected('the token is not from a trusted issuer')
  const cached = verified.get(token)
  if (cached?.issuer === issuer && isCurrent(cached.result.claims, deps.now, deps.clockSkewSeconds))
    return cached.result
  const keys = await keySetOf(issuer, deps.jwks)
  let claims: JWTPayload
  try {
    ;({ payload: claims } = await jwtVerify(token, keys, {
      issuer: issuer.issuer,
      audience: [
        ...(issuer.audiences && issuer.audiences.length > 0 ? issuer.audiences : deps.defaultAudiences),
      ],
      algorithms: ASSERTION_ALGORITHMS,
      requiredClaims: ['sub', 'exp'],
      clockTolerance: deps.clockSkewSeconds,
      currentDate: new Date(deps.now),
    }))
  } catch {
    throw new ExternalTokenRejected('the token is invalid, expired or not meant for this server')
  }
  const result = { issuer, claims: claims as VerifiedExternalToken['claims'] }
  if (verified.size >= MAX_VERIFIED) verified.clear()
  verified.set(token, { issuer, result })
  return result
}

// The time checks jwtVerify made, repeated for a cached token: not expired, already valid.
function isCurrent(claims: { exp: number; nbf?: number }, now: number, skewSeconds: number): boolean {
  return claims.exp * 1000 > now - skewSeconds * 1000 && (claims.nbf ?? 0) * 1000 <= now + skewSeconds * 1000
}

async function keySetOf(issuer: Stored<TrustedIssuer>, fetcher: JwksFetcher): Promise<JWTVerifyGetKey> {
  let jwks: { keys: unknown[] }
  if (issuer.jwks) jwks = issuer.jwks
  else if (issuer.jwks_uri) {
    try {
      jwks = await fetcher.fetch(issuer.jwks_uri)
    } catch {
      throw new ExternalTokenRejected('the issuer keys cannot be fetched')
    }
  } else throw new ExternalTokenRejected('the issuer has no keys')
  const text = JSON.stringify(jwks)
  const cached = keySets.get(issuer.issuer)
  if (cached?.text === text) return cached.get
  const get = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0])
  if (keySets.size > 1000) keySets.clear()
  keySets.set(issuer.issuer, { text, get })
  return get
}
