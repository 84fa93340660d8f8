// Typed errors of the Mandate API, with stable codes to switch on.

/** Every error code a Mandate admin API call can end with. The server's codes plus the client's own. */
export type ErrorCode =
  | 'validation_failed'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  /** The endpoint exists but not for this HTTP method (405, with `Allow`). */
  | 'method_not_allowed'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unavailable'
  /** The audit log refuses writes until an operator recovers it (`mandate audit recover`); reads still work. */
  | 'audit_unavailable'
  /** Too many failed requests from this address; retry after the `Retry-After` seconds. */
  | 'too_many_requests'
  | 'server_error'
  /** The node could not be reached. */
  | 'network_error'
  /** The node answered with something that is not a Mandate response. */
  | 'invalid_response'

/** One invalid field of a request. */
export interface FieldError {
  path: string
  message: string
  /** Where in a text field (a Cedar policy set) the problem is: 1-based line and column, and the policy's id. */
  location?: { line: number; column: number; policy?: string }
  /** How to fix it, when the checker knows. */
  help?: string
}

/**
 * An error answered by (or on the way to) a Mandate node.
 * @example
 * try { await admin.get('agents', 'x') } catch (e) { if (e instanceof MandateApiError && e.code === 'not_found') ... }
 */
export class MandateApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly status: number,
    readonly fields: FieldError[] = [],
  ) {
    super(message)
    this.name = 'MandateApiError'
  }
}
