// RFC 9068 JWT access tokens: audience-bound, short-lived, with the delegation chain and confirmation key.
import { randomUUID } from 'node:crypto'
import { signJws } from './jws.ts'
import type { KeyRing } from './key-ring.ts'

/** RFC 8693 §4.1 actor claim: the current actor, with earlier actors nested inside. */
export interface ActClaim {
  sub: string
  act?: ActClaim
}

/** RFC 7800 confirmation: `jkt` for DPoP (RFC 9449 §6.1), `x5t#S256` for mTLS (RFC 8705 §3.1). */
export type Confirmation = { jkt: string } | { 'x5t#S256': string }

/** What a grant decides to put in an access token. */
export interface AccessTokenGrant {
  /** The subject: the agent or workload itself (autonomous) or the human it acts for (delegated). */
  sub: string
  client_id: string
  /** The one resource server the token is for (RFC 8707). */
  aud: string
  scope: string[]
  act?: ActClaim
  authorization_details?: Array<Record<string, unknown>>
  cnf?: Confirmation
  /** The mandate a delegated token is issued under. */
  mandate_id?: string
  lifetimeSeconds: number
}

/** A minted token and the facts the audit record and the response need. */
export interface MintedToken {
  token: string
  jti: string
  iat: number
  exp: number
}

/** Mints RFC 9068 access tokens with the ring's current key. */
export class AccessTokenMinter {
  constructor(
    private readonly keyRing: KeyRing,
    private readonly issuer: () => string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Signs an access token (`typ: at+jwt`, RFC 9068 §2.1) for `grant`. */
  mint(grant: AccessTokenGrant): MintedToken {
    const iat = Math.floor(this.now() / 1000)
    const exp = iat + grant.lifetimeSeconds
    const jti = randomUUID()
    const claims: Record<string, unknown> = {
      iss: this.issuer(),
      sub: grant.sub,
      aud: grant.aud,
      client_id: grant.client_id,
      iat,
      exp,
      jti,
    }
    if (grant.scope.length > 0) claims.scope = grant.scope.join(' ')
    if (grant.act) claims.act = grant.act
    if (grant.authorization_details) claims.authorization_details = grant.authorization_details
    if (grant.cnf) claims.cnf = grant.cnf
    if (grant.mandate_id) claims.mandate_id = grant.mandate_id
    return { token: signJws(this.keyRing.signingKey(), 'at+jwt', claims), jti, iat, exp }
  }
}
