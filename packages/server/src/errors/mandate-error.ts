// Errors that domain code raises and protocol surfaces serialize: each class has a stable code and an HTTP status.
import type { ErrorCode as SdkErrorCode } from '@mandate/sdk'

/** Stable error codes of the admin API and the CLI: `@mandate/sdk`'s union without its client-side codes. */
export type ErrorCode = Exclude<SdkErrorCode, 'network_error' | 'invalid_response'>

/** One invalid field: a JSON Pointer into the input and what is wrong with it. */
export interface FieldError {
  path: string
  message: string
  /** Where in a text field (a Cedar policy set) the problem is: 1-based line and column, and the policy's id. */
  location?: { line: number; column: number; policy?: string }
  /** How to fix it, when the checker knows (Cedar's `help`). */
  help?: string
}

/** Base of every expected error. Anything else reaching a surface is a bug and becomes `server_error`. */
export abstract class MandateError extends Error {
  abstract readonly code: ErrorCode
  abstract readonly status: number
}

/** Input that does not match its schema or a registry rule. */
export class ValidationFailed extends MandateError {
  readonly code = 'validation_failed'
  readonly status = 400
  constructor(
    readonly fields: FieldError[],
    message = 'the request is invalid',
  ) {
    super(message)
  }
}

/** No credentials, or credentials that do not identify anyone. */
export class Unauthorized extends MandateError {
  readonly code = 'unauthorized'
  readonly status = 401
}

/** Credentials that were presented but are not valid (RFC 6750 §3.1 `invalid_token` in the challenge). */
export class InvalidToken extends Unauthorized {}

/** An authenticated caller that may not do this. */
export class Forbidden extends MandateError {
  readonly code = 'forbidden'
  readonly status = 403
}

/** The named object does not exist. */
export class NotFound extends MandateError {
  readonly code = 'not_found'
  readonly status = 404
  constructor(kind: string, id: string) {
    super(`${kind} ${JSON.stringify(id)} does not exist`)
  }
}

/** The path exists, but not for this method (RFC 9110 §15.5.6: the answer names the allowed ones in `Allow`). */
export class MethodNotAllowed extends MandateError {
  readonly code = 'method_not_allowed'
  readonly status = 405
  constructor(readonly allow: readonly string[]) {
    super(`this endpoint accepts only ${allow.join(', ')}`)
  }
}

/** The change conflicts with the current state (duplicate id, stale version, object still referenced). */
export class Conflict extends MandateError {
  readonly code = 'conflict'
  readonly status = 409
}

/** A request body over the configured limit. */
export class PayloadTooLarge extends MandateError {
  readonly code = 'payload_too_large'
  readonly status = 413
}

/** A request body in a media type the endpoint does not read. */
export class UnsupportedMediaType extends MandateError {
  readonly code = 'unsupported_media_type'
  readonly status = 415
}

/** A dependency (the database) is not answering; the request is refused rather than half done. */
export class Unavailable extends MandateError {
  readonly code = 'unavailable'
  readonly status = 503
}

/**
 * The audit log cannot be appended to safely (its head fails its MAC, is not the last record, or moved back), so every
 * state-changing request is refused until an operator runs `mandate audit recover`. Reads keep working.
 */
export class AuditUnavailable extends MandateError {
  readonly code = 'audit_unavailable'
  readonly status = 503
}

/** Too many failed requests from one source: answered 429 with `Retry-After`. */
export class TooManyRequests extends MandateError {
  readonly code = 'too_many_requests'
  readonly status = 429
  constructor(
    message: string,
    /** Seconds until the source may try again. */
    readonly retryAfterSeconds: number,
  ) {
    super(message)
  }
}
