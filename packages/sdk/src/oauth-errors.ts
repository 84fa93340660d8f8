// Typed errors of Mandate's OAuth endpoints, with the wire codes as stable codes to switch on.

/**
 * Every code a token request can end with: the OAuth error codes a Mandate node answers with (RFC 6749 §5.2, RFC 8707,
 * RFC 9396, RFC 9449, RFC 7009, RFC 6750), plus the client's own `network_error` and `invalid_response`.
 * @example
 * const retryable = (code: OAuthErrorCode) => code === 'temporarily_unavailable' || code === 'network_error'
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'invalid_authorization_details'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'unsupported_token_type'
  | 'access_denied'
  /** RFC 6749 §4.1.2.1: the authorization endpoint serves only `response_type=code`. */
  | 'unsupported_response_type'
  /** RFC 9126 §2.2: a pushed authorization request's `request_uri` is unknown, expired, used or another client's. */
  | 'invalid_request_uri'
  /** A policy requires a human's approval first; the error carries `approval_id` and `approver`. */
  | 'approval_required'
  /** CIBA §11: the approval is not decided yet; poll again after the interval. */
  | 'authorization_pending'
  /** CIBA §11: polled too often; the interval grows by 5 s for good. */
  | 'slow_down'
  /** CIBA §11: the approval request expired; start a new one. */
  | 'expired_token'
  /** CIBA §13: the `login_hint` names no registered, active human. */
  | 'unknown_user_id'
  /** CIBA §13: the `binding_message` is not acceptable. */
  | 'invalid_binding_message'
  /** The mandate the delegation is issued under has no budget left for this request (its calls or its sum). */
  | 'mandate_exhausted'
  /** The mandate the delegation would be issued under has expired. */
  | 'mandate_expired'
  /** The mandate the delegation would be issued under has been revoked. */
  | 'mandate_revoked'
  /** RFC 6750 §3.1: at one of Mandate's own resource endpoints, the access token is missing its binding, expired, revoked or not for this endpoint. */
  | 'invalid_token'
  /** RFC 6750 §3.1: the access token is valid but does not carry the scope the endpoint needs. */
  | 'insufficient_scope'
  | 'server_error'
  | 'temporarily_unavailable'
  /** The node could not be reached, or the connection broke before the answer was read. */
  | 'network_error'
  /** The node answered with something that is not an OAuth response (not JSON, an unknown error code, no token). */
  | 'invalid_response'

const WIRE_CODES: ReadonlySet<string> = new Set<OAuthErrorCode>([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'invalid_authorization_details',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  'unsupported_token_type',
  'access_denied',
  'unsupported_response_type',
  'invalid_request_uri',
  'approval_required',
  'authorization_pending',
  'slow_down',
  'expired_token',
  'unknown_user_id',
  'invalid_binding_message',
  'mandate_exhausted',
  'mandate_expired',
  'mandate_revoked',
  'invalid_token',
  'insufficient_scope',
  'server_error',
  'temporarily_unavailable',
])

/**
 * Whether `value` is an error code a Mandate node sends on the wire (the client-side codes are not).
 * @example
 * isWireErrorCode('invalid_scope') // true
 * isWireErrorCode('network_error') // false
 */
export function isWireErrorCode(
  value: unknown,
): value is Exclude<OAuthErrorCode, 'network_error' | 'invalid_response'> {
  return typeof value === 'string' && WIRE_CODES.has(value)
}

/**
 * An OAuth request that failed: refused by the node (`code` is the RFC error code it sent, `status` its HTTP status),
 * or never answered properly (`network_error` with status 0, `invalid_response`). `description` is the node's
 * `error_description` with every secret and token of the request removed; neither it nor `message` ever carries the
 * client secret, an assertion or a token. An `approval_required` error carries the pending approval's id and who
 * must approve it.
 * @example
 * try {
 *   await agent.getToken({ resource: 'https://tickets.example.com/', scope: 'tickets:delete' })
 * } catch (e) {
 *   if (e instanceof MandateOAuthError && e.code === 'invalid_scope') console.warn('not within my ceiling')
 *   else if (e instanceof MandateOAuthError && e.code === 'approval_required') await waitFor(e.approvalId, e.approver)
 *   else throw e
 * }
 */
export class MandateOAuthError extends Error {
  /** `approval_required` only: the id of the pending approval (the node's `approval_id`). */
  readonly approvalId: string | undefined
  /** `approval_required` only: who must approve, `sponsor`, `delegator` or `group` (the node's `approver`). */
  readonly approver: string | undefined
  /** `approval_required` only: seconds the approval request waits for a decision (the node's `expires_in`). */
  readonly expiresIn: number | undefined
  /** `approval_required` and `slow_down`: the least seconds between polls (the node's `interval`). */
  readonly interval: number | undefined

  constructor(
    /** The stable error code. */
    readonly code: OAuthErrorCode,
    /** What went wrong, safe to log. */
    readonly description: string,
    /** The HTTP status of the answer; 0 when there was none. */
    readonly status: number,
    approval: { approvalId?: string; approver?: string; expiresIn?: number; interval?: number } = {},
  ) {
    super(`${code}: ${description}`)
    this.name = 'MandateOAuthError'
    this.approvalId = approval.approvalId
    this.approver = approval.approver
    this.expiresIn = approval.expiresIn
    this.interval = approval.interval
  }
}
