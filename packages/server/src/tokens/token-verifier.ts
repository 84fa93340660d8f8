// Verifies access tokens this node's deployment issued, once per token: a verified token is cached until it expires,
// since the same token is presented many times (token exchange chains, introspection, later the gateway).
import { createLocalJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose'
import type { KeyRing } from './key-ring.ts'
import { type TransactionTokenClaims, TXN_TOKEN_TYP } from './txn-token.ts'

/** Claims of a Mandate access token. */
export interface MandateTokenClaims extends JWTPayload {
  sub: string
  client_id: string
  aud: string
  exp: number
  iat: number
  jti: string
  scope?: string
  act?: { sub: string; act?: unknown }
  may_act?: { sub?: string }
  authorization_details?: Array<Record<string, unknown>>
  cnf?: Record<string, string>
  /** The mandate a delegated token was issued under. */
  mandate_id?: string
}

/** Why a token was not accepted. */
export class TokenRejected extends Error {}

const MAX_CACHED = 50_000

/** Verifies Mandate access tokens against the node's own key ring. */
export class TokenVerifier {
  private keys: { generation: number; get: JWTVerifyGetKey } | undefined
  private readonly cache = new Map<string, MandateTokenClaims>()

  constructor(
    private readonly keyRing: KeyRing,
    private readonly issuer: () => string,
    private readonly options: { clockSkewSeconds: number; now?: () => number },
  ) {}

  /** The token's claims if it is a valid, unexpired `at+jwt` from this issuer; throws TokenRejected otherwise. */
  async verify(token: string): Promise<MandateTokenClaims> {
    const now = (this.options.now ?? Date.now)()
    const cached = this.cache.get(token)
    if (cached) {
      if (cached.exp * 1000 + this.options.clockSkewSeconds * 1000 > now) return cached
      this.cache.delete(token)
    }
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(token, this.keySet(), {
        issuer: this.issuer(),
        typ: 'at+jwt',
        algorithms: ['ES256', 'EdDSA', 'RS256'],
        requiredClaims: ['sub', 'client_id', 'aud', 'exp', 'iat', 'jti'],
        clockTolerance: this.options.clockSkewSeconds,
        currentDate: new Date(now),
      }))
    } catch {
      throw new TokenRejected('the token is not a valid, unexpired access token from this issuer')
    }
    const claims = payload as MandateTokenClaims
    if (typeof claims.aud !== 'string' || typeof claims.client_id !== 'string')
      throw new TokenRejected('the token has an unexpected shape')
    if (this.cache.size >= MAX_CACHED) this.cache.clear()
    this.cache.set(token, claims)
    return claims
  }

  /** The claims of a valid, unexpired transaction token from this issuer; throws TokenRejected otherwise. */
  async verifyTransactionToken(token: string): Promise<TransactionTokenClaims> {
    const now = (this.options.now ?? Date.now)()
    try {
      const { payload } = await jwtVerify(token, this.keySet(), {
        issuer: this.issuer(),
        typ: TXN_TOKEN_TYP,
        algorithms: ['ES256', 'EdDSA', 'RS256'],
        requiredClaims: ['sub', 'aud', 'exp', 'iat', 'txn', 'scope', 'req_wl'],
        clockTolerance: this.options.clockSkewSeconds,
        currentDate: new Date(now),
      })
      if (typeof payload.aud !== 'string' || typeof payload.scope !== 'string') throw new Error('shape')
      return payload as unknown as TransactionTokenClaims
    } catch {
      throw new TokenRejected('the token is not a valid, unexpired transaction token from this issuer')
    }
  }

  // The key set follows the ring: rebuilt only when the ring was reloaded, not per token.
  private keySet(): JWTVerifyGetKey {
    if (this.keys?.generation !== this.keyRing.generation) {
      this.keys = { generation: this.keyRing.generation, get: createLocalJWKSet(this.keyRing.jwks()) }
    }
    return this.keys.get
  }
}
