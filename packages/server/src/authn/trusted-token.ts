// Tokens from trusted external issuers: a human's token from the company IdP, or a workload's token from Kubernetes,
// GitHub Actions, SPIFFE or any OIDC issuer. Verified against the issuer's registered keys, never the token's own.

import { decodeJwt, type JWK, type JWTPayload, jwtVerify } from 'jose'
import { findUnstorable } from '../audit/storable.ts'
import type { Directory } from '../registry/directory.ts'
import type { KeySets } from '../registry/key-sets.ts'
import { KeySetUnavailable } from '../registry/key-sets.ts'
import type { Stored, TrustedIssuer } from '../registry/model.ts'
import { ASSERTION_ALGORITHMS } from '../tokens/algorithms.ts'

/** Why an external token was not accepted. */
export class ExternalTokenRejected extends Error {}

/** A verified external token. */
export interface VerifiedExternalToken {
  issuer: Stored<TrustedIssuer>
  claims: JWTPayload & { sub: string; exp: number }
}

/** What {@link TrustedTokenVerifier} needs. */
export interface TrustedTokenDeps {
  directory: Directory
  keySets: KeySets
  /** Audiences a token may name when its issuer registers none: this server's issuer and token endpoint. */
  defaultAudiences: () => readonly string[]
  clockSkewSeconds: number
  now: () => number
  /** The most verified tokens remembered. Default 20000. */
  maxCached?: number
}

/** The audience values of a token: `aud` as a string or a list (RFC 7519 §4.1.3). */
export function audiencesOf(claims: { aud?: unknown }): string[] {
  return typeof claims.aud === 'string'
    ? [claims.aud]
    : Array.isArray(claims.aud)
      ? claims.aud.filter((a): a is string => typeof a === 'string')
      : []
}

/**
 * Verifies JWTs from registered TrustedIssuers. A user's token is presented again for each action of a session, so
 * a verified token is remembered until it expires; the issuer object is part of the key, so a changed registration
 * (new keys, new audiences) verifies afresh.
 */
export class TrustedTokenVerifier {
  private readonly verified = new Map<string, { issuer: object; result: VerifiedExternalToken }>()

  constructor(private readonly deps: TrustedTokenDeps) {}

  /**
   * Verifies a JWT from a registered TrustedIssuer of `type`: signature with the issuer's keys (asymmetric algorithms
   * only), `iss`, `aud`, `exp`, `nbf`, and `sub`. `aud` must name one of the issuer's registered audiences (or the
   * default ones); a workload token, which authenticates a client, must name nothing else (draft-ietf-oauth-rfc7523bis:
   * a token also meant for another party could be replayed by it).
   * @example
   * const { claims } = await trustedTokens.verify(subjectToken, 'human_idp')
   */
  async verify(token: string, type: TrustedIssuer['type']): Promise<VerifiedExternalToken> {
    // A token verified before names its issuer in its verified claims: no need to decode it again.
    const seen = this.verified.get(token)
    if (seen) {
      const now = this.deps.now()
      const issuer = this.deps.directory.trustedIssuer(String(seen.result.claims.iss))
      if (
        issuer === seen.issuer &&
        issuer.type === type &&
        isCurrent(seen.result.claims, now, this.deps.clockSkewSeconds)
      )
        return seen.result
    }
    let iss: unknown
    try {
      iss = decodeJwt(token).iss
    } catch {
      throw new ExternalTokenRejected('the token is not a JWT')
    }
    const issuer = typeof iss === 'string' ? this.deps.directory.trustedIssuer(iss) : undefined
    if (!issuer || issuer.type !== type)
      throw new ExternalTokenRejected('the token is not from a trusted issuer')
    const now = this.deps.now()
    const cached = this.verified.get(token)
    if (cached?.issuer === issuer && isCurrent(cached.result.claims, now, this.deps.clockSkewSeconds))
      return cached.result
    const audiences =
      issuer.audiences && issuer.audiences.length > 0 ? issuer.audiences : this.deps.defaultAudiences()
    const keys = this.deps.keySets.resolver(issuer, {
      inline: (issuer.jwks?.keys ?? []) as JWK[],
      uris: issuer.jwks_uri ? [issuer.jwks_uri] : [],
    })
    let claims: JWTPayload
    try {
      ;({ payload: claims } = await jwtVerify(token, keys, {
        issuer: issuer.issuer,
        audience: [...audiences],
        algorithms: ASSERTION_ALGORITHMS,
        requiredClaims: ['sub', 'exp'],
        clockTolerance: this.deps.clockSkewSeconds,
        currentDate: new Date(now),
      }))
    } catch (error) {
      if (error instanceof KeySetUnavailable)
        throw new ExternalTokenRejected('the issuer keys cannot be fetched')
      throw new ExternalTokenRejected('the token is invalid, expired or not meant for this server')
    }
    if (type === 'workload' && !audiencesOf(claims).every((aud) => audiences.includes(aud)))
      throw new ExternalTokenRejected('the token is also meant for another audience')
    // Its claims (a subject, an email) may be bound, recorded and hashed: they must be storable as they are.
    const unstorable = findUnstorable(claims)
    if (unstorable) throw new ExternalTokenRejected(`claim ${unstorable.path.slice(1)} ${unstorable.message}`)
    const result = { issuer, claims: claims as VerifiedExternalToken['claims'] }
    if (this.verified.size >= (this.deps.maxCached ?? 20_000)) this.verified.clear()
    this.verified.set(token, { issuer, result })
    return result
  }
}

// The time checks jwtVerify made, repeated for a cached token: not expired, already valid.
function isCurrent(claims: { exp: number; nbf?: number }, now: number, skewSeconds: number): boolean {
  return claims.exp * 1000 > now - skewSeconds * 1000 && (claims.nbf ?? 0) * 1000 <= now + skewSeconds * 1000
}
