// The one place where errors become HTTP responses: expected errors keep their code, anything else is `server_error`
// with nothing internal in the body.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import {
  AuditUnavailable,
  type FieldError,
  InvalidToken,
  MandateError,
  TooManyRequests,
  ValidationFailed,
} from '../errors/mandate-error.ts'
import { toFieldErrors } from '../registry/validate.ts'
import { isUnavailable } from '../store/database.ts'

/** The error body of the admin API (the OAuth endpoints use the RFC 6749 §5.2 shape, with the same field names). */
export interface ErrorBody {
  error: string
  error_description: string
  fields?: FieldError[]
}

/** Maps any thrown value onto a status and body. */
export function toErrorResponse(error: unknown): { status: number; body: ErrorBody; unexpected: boolean } {
  if (error instanceof MandateError) {
    const body: ErrorBody = { error: error.code, error_description: error.message }
    if (error instanceof ValidationFailed) body.fields = error.fields
    return { status: error.status, body, unexpected: false }
  }
  const fastifyError = error as Partial<FastifyError> | null
  if (fastifyError?.validation) {
    const prefix =
      fastifyError.validationContext === 'body' || !fastifyError.validationContext
        ? ''
        : `/${fastifyError.validationContext}`
    return {
      status: 400,
      body: {
        error: 'validation_failed',
        error_description: 'the request is invalid',
        fields: toFieldErrors(fastifyError.validation as never, prefix),
      },
      unexpected: false,
    }
  }
  switch (fastifyError?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        body: { error: 'payload_too_large', error_description: 'the request body is too large' },
        unexpected: false,
      }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        body: { error: 'unsupported_media_type', error_description: 'send application/json' },
        unexpected: false,
      }
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return {
        status: 400,
        body: {
          error: 'validation_failed',
          error_description: 'the request body is not valid JSON',
          fields: [{ path: '/', message: 'is not valid JSON' }],
        },
        unexpected: false,
      }
  }
  if (isUnavailable(error)) {
    return {
      status: 503,
      body: { error: 'unavailable', error_description: 'the database is not answering; retry later' },
      unexpected: false,
    }
  }
  if (fastifyError?.code === 'FST_ERR_BAD_URL' || fastifyError?.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return {
      status: 400,
      body: {
        error: 'validation_failed',
        error_description: 'the URL is invalid',
        fields: [{ path: '/params', message: 'is not a valid URL component or is too long' }],
      },
      unexpected: false,
    }
  }
  // Fastify's own 4xx errors (bad headers, bad URL encoding) are the client's, but their messages may echo input.
  const status = fastifyError?.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return {
      status,
      body: {
        error: status === 404 ? 'not_found' : 'validation_failed',
        error_description: 'the request is invalid',
      },
      unexpected: false,
    }
  }
  return {
    status: 500,
    body: { error: 'server_error', error_description: 'internal error' },
    unexpected: true,
  }
}

/** Fastify error handler: serializes, and logs unexpected errors without request data. */
export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body, unexpected } = toErrorResponse(error)
  if (unexpected) request.log.error({ err: error }, 'unexpected error')
  else if (error instanceof AuditUnavailable) request.log.error({ err: error }, 'audit log refuses writes')
  else if (status === 503) request.log.warn({ err: error }, 'database unavailable')
  // RFC 6750 §3: a challenge on every 401; `invalid_token` when a token was presented but is not valid.
  if (status === 401)
    reply.header(
      'www-authenticate',
      error instanceof InvalidToken
        ? 'Bearer realm="mandate-admin", error="invalid_token"'
        : 'Bearer realm="mandate-admin"',
    )
  if (status === 503) reply.header('retry-after', '1')
  if (error instanceof TooManyRequests) reply.header('retry-after', String(error.retryAfterSeconds))
  void reply.header('x-request-id', request.id).status(status).type('application/json').send(body)
}
