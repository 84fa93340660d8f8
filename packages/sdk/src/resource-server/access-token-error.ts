// Why a resource server refuses a request's access token: one error class with a stable code per RFC 6750 §3.1 and
// RFC 9449 §7.1 error, its HTTP status, and the WWW-Authenticate challenge (and DPoP-Nonce) to answer with.

import { ASYMMETRIC_ALGORITHMS } from '../algorithms.js'
import { formatChallenge } from '../www-authenticate.js'

/**
 * Every code `verifyAccessToken` refuses with:
 * - `invalid_token` (401): no token, or one that is malformed, not signed by the issuer, expired, not for this
 *   audience, not an access token (`typ`), or presented without the binding it has;
 * - `insufficient_scope` (403): a valid token without every scope asked for;
 * - `invalid_dpop_proof` (401): the DPoP proof is missing, malformed, replayed, for another request or another key;
 * - `use_dpop_nonce` (401): the proof lacks the nonce the resource server requires (RFC 9449 §9).
 * @example
 * const status = (code: AccessTokenErrorCode) => (code === 'insufficient_scope' ? 403 : 401)
 */
export type AccessTokenErrorCode =
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'

/** How the refused request presented its token, which decides the challenge's scheme. */
export type PresentedScheme = 'none' | 'bearer' | 'dpop'

const DPOP_ALGS = ASYMMETRIC_ALGORITHMS.join(' ')

/**
 * A refused access token. Answer with `status` and `headers` (`WWW-Authenticate`, plus `DPoP-Nonce` for
 * `use_dpop_nonce`); `description` says why and is safe to send (it never quotes the token).
 * @example
 * try {
 *   await verifyAccessToken(request, { issuer, audience })
 * } catch (error) {
 *   if (!(error instanceof AccessTokenError)) throw error
 *   res.writeHead(error.status, error.headers).end(JSON.stringify({ error: error.code, error_description: error.description }))
 * }
 */
export class AccessTokenError extends Error {
  /** 401, or 403 for `insufficient_scope`. */
  readonly status: 401 | 403
  /** The response headers that say why, in lower case: `www-authenticate`, and `dpop-nonce` when one is asked for. */
  readonly headers: Readonly<Record<string, string>>

  constructor(
    /** The stable error code. */
    readonly code: AccessTokenErrorCode,
    /** What is wrong, safe to log and to send. */
    readonly description: string,
    options: {
      /** How the token was presented (`none`: no token at all, RFC 6750 §3.1 says no error code then). */
      scheme: PresentedScheme
      realm?: string | undefined
      /** insufficient_scope: the scopes needed. */
      scope?: string | undefined
      /** use_dpop_nonce: the nonce to use. */
      nonce?: string | undefined
    },
  ) {
    super(`${code}: ${description}`)
    this.name = 'AccessTokenError'
    this.status = code === 'insufficient_scope' ? 403 : 401
    const headers: Record<string, string> = { 'www-authenticate': challengesFor(code, description, options) }
    if (code === 'use_dpop_nonce' && options.nonce !== undefined) headers['dpop-nonce'] = options.nonce
    this.headers = Object.freeze(headers)
  }

  /** The `WWW-Authenticate` value. */
  get challenge(): string {
    return this.headers['www-authenticate'] ?? ''
  }
}

// RFC 6750 §3 and RFC 9449 §7.1: a request without a token learns both schemes; a DPoP failure is told in the DPoP
// scheme; any other error in the scheme the token came with, and, for invalid_token, in both (a client may switch).
function challengesFor(
  code: AccessTokenErrorCode,
  description: string,
  options: { scheme: PresentedScheme; realm?: string | undefined; scope?: string | undefined },
): string {
  const realm = options.realm
  const bearer = (params: Record<string, string | undefined> = {}) =>
    formatChallenge('Bearer', { realm, ...params })
  const dpop = (params: Record<string, string | undefined> = {}) =>
    formatChallenge('DPoP', { realm, ...params, algs: DPOP_ALGS })
  if (options.scheme === 'none') return `${bearer()}, ${dpop()}`
  const error = { error: code, error_description: description }
  if (code === 'invalid_dpop_proof' || code === 'use_dpop_nonce') return dpop(error)
  if (code === 'insufficient_scope') {
    const params = { ...error, scope: options.scope }
    return options.scheme === 'dpop' ? dpop(params) : bearer(params)
  }
  return options.scheme === 'dpop' ? `${dpop(error)}, ${bearer(error)}` : `${bearer(error)}, ${dpop(error)}`
}
