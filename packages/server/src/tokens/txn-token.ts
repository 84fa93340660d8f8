// Transaction tokens (IETF OAuth Transaction Tokens draft): a short-lived, signed record of one action inside a trust
// domain: who it is for (`sub`), which workload asked (`req_wl`), what it may do (`scope`), the transaction's immutable
// details (`tctx`) and the request's environment (`rctx`). Never refreshable.
import { randomUUID } from 'node:crypto'
import type { ActClaim, Confirmation } from './access-token.ts'
import { signJws } from './jws.ts'
import type { KeyRing } from './key-ring.ts'

/** RFC 8693 token type identifier of a transaction token. */
export const TXN_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:txn_token'

/** The JWT `typ` of a transaction token. */
export const TXN_TOKEN_TYP = 'txntoken+jwt'

/** What goes into a transaction token. */
export interface TransactionTokenGrant {
  /** The trust domain. */
  aud: string
  sub: string
  /** The workload (client) that asked for it. */
  req_wl: string
  /** The one action. */
  scope: string
  /** Immutable details of the transaction (from `request_details`). */
  tctx?: Record<string, unknown>
  /** The request's environment (from `request_context`, plus `req_ip`). */
  rctx: Record<string, unknown>
  act?: ActClaim
  /** The binding of the sender-constrained token it was issued from (RFC 7800), kept so it is never downgraded. */
  cnf?: Confirmation
  /** Set when replacing a transaction token: the transaction keeps its id. */
  txn?: string
  /** The mandate it is issued under. */
  mandate_id?: string
  lifetimeSeconds: number
}

/** Claims of a transaction token. */
export interface TransactionTokenClaims {
  iss: string
  iat: number
  exp: number
  aud: string
  txn: string
  sub: string
  scope: string
  req_wl: string
  tctx?: Record<string, unknown>
  rctx?: Record<string, unknown>
  act?: ActClaim
  cnf?: Confirmation
  mandate_id?: string
}

/**
 * Signs a transaction token with the ring's current key.
 * @example
 * const { token } = mintTransactionToken(keyRing, issuer, Date.now(), { aud: issuer, sub: 'alice', req_wl: 'bot', scope: 'tickets:read', rctx: {}, lifetimeSeconds: 30 })
 */
export function mintTransactionToken(
  keyRing: KeyRing,
  issuer: string,
  nowMs: number,
  grant: TransactionTokenGrant,
): { token: string; claims: TransactionTokenClaims } {
  const iat = Math.floor(nowMs / 1000)
  const claims: TransactionTokenClaims = {
    iss: issuer,
    iat,
    exp: iat + grant.lifetimeSeconds,
    aud: grant.aud,
    txn: grant.txn ?? randomUUID(),
    sub: grant.sub,
    scope: grant.scope,
    req_wl: grant.req_wl,
    ...(grant.tctx ? { tctx: grant.tctx } : {}),
    rctx: grant.rctx,
    ...(grant.act ? { act: grant.act } : {}),
    ...(grant.cnf ? { cnf: grant.cnf } : {}),
    ...(grant.mandate_id ? { mandate_id: grant.mandate_id } : {}),
  }
  return { token: signJws(keyRing.signingKey(), TXN_TOKEN_TYP, { ...claims }), claims }
}
