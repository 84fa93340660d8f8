// OAuth protocol errors (RFC 6749 §5.2 and the RFCs that add codes): one class per wire code, serialized in one place.
import type { OAuthErrorCode as SdkOAuthErrorCode } from '@mandate/sdk'

/**
 * Every OAuth error code Mandate answers with: the SDK's union without its client-side codes, so that the SDK knows
 * every code the server can send.
 */
export type OAuthErrorCode = Exclude<SdkOAuthErrorCode, 'network_error' | 'invalid_response'>

/** Base of every OAuth error: a wire code, an HTTP status and a description safe to show the client. */
export abstract class OAuthError extends Error {
  abstract readonly code: OAuthErrorCode
  readonly status: number = 400
  /** Extra response headers (e.g. `WWW-Authenticate`, `DPoP-Nonce`). */
  headers: Record<string, string> = {}
  /** Extra members of the error body (e.g. `approval_id`). */
  extra: Record<string, string | number> = {}
}

/** RFC 6749 §5.2: a missing, repeated or malformed parameter; RFC 8693 §2.2.2: an unacceptable subject or actor token. */
export class InvalidRequest extends OAuthError {
  readonly code = 'invalid_request'
}

/**
 * RFC 6749 §3.2 (and RFC 7662 §2.1, RFC 7009 §2.1): the endpoint takes only POST. Answered as `invalid_request` with
 * 405 and `Allow` (RFC 9110 §15.5.6), so OAuth clients read the usual error body.
 */
export class MethodNotAllowed extends OAuthError {
  readonly code = 'invalid_request'
  override readonly status = 405
  constructor(readonly allow: readonly string[]) {
    super(`this endpoint accepts only ${allow.join(', ')}`)
    this.headers.allow = allow.join(', ')
  }
}

/** RFC 6749 §5.2: client authentication failed. Always 401. */
export class InvalidClient extends OAuthError {
  readonly code = 'invalid_client'
  override readonly status = 401
  constructor(description: string, scheme?: 'Basic') {
    super(description)
    if (scheme) this.headers['www-authenticate'] = `Basic realm="mandate"`
  }
}

/**
 * RFC 6750 §3.1 and RFC 9449 §7.1 at Mandate's own resource endpoints: the access token is missing, expired, revoked,
 * for another audience, or presented without the proof its binding needs (`invalid_token`); or its DPoP proof is
 * wrong (`invalid_dpop_proof`) or lacks the server's nonce (`use_dpop_nonce`). Always 401 with a challenge.
 */
export class InvalidToken extends OAuthError {
  override readonly status = 401
  constructor(
    description: string,
    challenge: string,
    readonly code: 'invalid_token' | 'invalid_dpop_proof' | 'use_dpop_nonce' = 'invalid_token',
  ) {
    super(description)
    this.headers['www-authenticate'] = challenge
  }
}

/** RFC 6750 §3.1: the token is valid but lacks the scope the endpoint needs. Always 403. */
export class InsufficientScope extends OAuthError {
  readonly code = 'insufficient_scope'
  override readonly status = 403
  constructor(description: string, challenge: string) {
    super(description)
    this.headers['www-authenticate'] = challenge
  }
}

/** RFC 6749 §5.2: the grant or assertion is invalid, expired or revoked (RFC 7523 §3.1 for jwt-bearer). */
export class InvalidGrant extends OAuthError {
  readonly code = 'invalid_grant'
}

/** RFC 6749 §5.2: the client may not use this grant (e.g. a delegated-only agent asking to act autonomously). */
export class UnauthorizedClient extends OAuthError {
  readonly code = 'unauthorized_client'
}

/** RFC 6749 §5.2: the grant type is not supported. */
export class UnsupportedGrantType extends OAuthError {
  readonly code = 'unsupported_grant_type'
}

/** RFC 6749 §5.2: a requested scope is unknown, or beyond what the client may get. */
export class InvalidScope extends OAuthError {
  readonly code = 'invalid_scope'
}

/** RFC 8707 §2: the resource is unknown or not acceptable. */
export class InvalidTarget extends OAuthError {
  readonly code = 'invalid_target'
}

/** RFC 9396 §5: an authorization_details entry is malformed or of an unknown type. */
export class InvalidAuthorizationDetails extends OAuthError {
  readonly code = 'invalid_authorization_details'
}

/** RFC 9449 §5: the DPoP proof is invalid. */
export class InvalidDpopProof extends OAuthError {
  readonly code = 'invalid_dpop_proof'
}

/** RFC 9449 §8: the proof must carry the server's nonce, sent in `DPoP-Nonce`. */
export class UseDpopNonce extends OAuthError {
  readonly code = 'use_dpop_nonce'
  constructor(nonce: string) {
    super('a DPoP nonce is required')
    this.headers['dpop-nonce'] = nonce
  }
}

/** RFC 7009 §2.2.1: the server does not revoke this token type. */
export class UnsupportedTokenType extends OAuthError {
  readonly code = 'unsupported_token_type'
}

/** The request is valid but refused (e.g. by policy). */
export class AccessDenied extends OAuthError {
  readonly code = 'access_denied'
  override readonly status = 403
}

/** RFC 6749 §4.1.2.1: the authorization endpoint serves only `response_type=code` (OAuth 2.1 §4.1.1). */
export class UnsupportedResponseType extends OAuthError {
  readonly code = 'unsupported_response_type'
}

/** RFC 9126 §2.2, §4: the `request_uri` is unknown, expired, already used, or pushed by another client. */
export class InvalidRequestUri extends OAuthError {
  readonly code = 'invalid_request_uri'
}

/**
 * A policy requires a human's approval first. The body carries `approval_id` (the stored approval request, redeemed
 * once approved at the token endpoint with the CIBA grant and `auth_req_id` = this id), `approver` (`sponsor`,
 * `delegator` or `group`), and CIBA §7.3's `expires_in` and `interval` for polling.
 */
export class ApprovalRequired extends OAuthError {
  readonly code = 'approval_required'
  override readonly status = 403
  constructor(
    description: string,
    approval: { id: string; approver: string; expiresIn: number; interval: number },
  ) {
    super(description)
    this.extra = {
      approval_id: approval.id,
      approver: approval.approver,
      expires_in: approval.expiresIn,
      interval: approval.interval,
    }
  }
}

/** CIBA §11: the approver has not decided yet; poll again after the interval. */
export class AuthorizationPending extends OAuthError {
  readonly code = 'authorization_pending'
}

/** CIBA §11: polled sooner than the interval; the interval grows by 5 s for this and every later poll. */
export class SlowDown extends OAuthError {
  readonly code = 'slow_down'
  constructor(description: string, interval: number) {
    super(description)
    this.extra = { interval }
  }
}

/** CIBA §11: the `auth_req_id` has expired; the client must start a new request. */
export class ExpiredToken extends OAuthError {
  readonly code = 'expired_token'
}

/** CIBA §13: the hint names no user the server can identify. */
export class UnknownUserId extends OAuthError {
  readonly code = 'unknown_user_id'
}

/** CIBA §13: the binding message is invalid or unacceptable. */
export class InvalidBindingMessage extends OAuthError {
  readonly code = 'invalid_binding_message'
}

/**
 * The mandate a delegation would be issued under refuses it: no budget left (`mandate_exhausted`), past its expiry
 * (`mandate_expired`) or revoked (`mandate_revoked`). OAuth defines no code for these; 400 like the grant errors of
 * RFC 6749 §5.2, with the mandate's id in `mandate_id` so the agent can tell its human which grant to renew.
 */
export abstract class MandateRefused extends OAuthError {
  constructor(description: string, mandateId?: string) {
    super(description)
    if (mandateId) this.extra = { mandate_id: mandateId }
  }
}

/** The mandate has no budget left for this request. */
export class MandateExhausted extends MandateRefused {
  readonly code = 'mandate_exhausted'
}

/** The mandate has expired. */
export class MandateExpired extends MandateRefused {
  readonly code = 'mandate_expired'
}

/** The mandate has been revoked. */
export class MandateRevoked extends MandateRefused {
  readonly code = 'mandate_revoked'
}

/**
 * Too many failed requests from this address (RFC 6585 §4): 429 with `Retry-After`. OAuth defines no code for it;
 * `temporarily_unavailable` tells clients to come back later.
 */
export class RateLimited extends OAuthError {
  readonly code = 'temporarily_unavailable'
  override readonly status = 429
  constructor(description: string, retryAfterSeconds: number) {
    super(description)
    this.headers['retry-after'] = String(retryAfterSeconds)
  }
}

/** The database is not answering; the client may retry. */
export class TemporarilyUnavailable extends OAuthError {
  readonly code = 'temporarily_unavailable'
  override readonly status = 503
}

/** RFC 6749 §5.2 error body. */
export interface OAuthErrorBody {
  error: OAuthErrorCode
  error_description?: string
  [member: string]: string | number | undefined
}

/** Serializes an OAuth error; `unexpected` errors become `server_error` with nothing internal. */
export function toOAuthErrorResponse(error: unknown): {
  status: number
  body: OAuthErrorBody
  headers: Record<string, string>
  unexpected: boolean
} {
  if (error instanceof OAuthError) {
    return {
      status: error.status,
      body: { ...error.extra, error: error.code, error_description: error.message },
      headers: error.headers,
      unexpected: false,
    }
  }
  return {
    status: 500,
    body: { error: 'server_error', error_description: 'internal error' },
    headers: {},
    unexpected: true,
  }
}
