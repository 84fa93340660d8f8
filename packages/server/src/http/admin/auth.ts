// Admin API authentication: a bearer admin token on every call; reader tokens may only read.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AdminCaller, AdminTokens } from '../../authn/admin-token.ts'
import { Forbidden, InvalidToken, Unauthorized } from '../../errors/mandate-error.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated admin caller, set on every `/api/v1` request. */
    admin?: AdminCaller
  }
}

const READ_METHODS = new Set(['GET', 'HEAD'])

/** Adds the admin authentication hook to every route of `app` (an encapsulated `/api/v1` context). */
export function requireAdmin(app: FastifyInstance, tokens: AdminTokens): void {
  app.decorateRequest('admin', undefined)
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization
    const match = typeof header === 'string' ? /^Bearer ([\x21-\x7e]+)$/i.exec(header) : null
    if (!match?.[1]) throw new Unauthorized('an admin bearer token is required')
    const caller = await tokens.authenticate(match[1])
    if (!caller) throw new InvalidToken('the admin token is not valid')
    if (caller.role === 'pep') throw new Forbidden('this token may only call the AuthZEN API')
    if (caller.role === 'reader' && !READ_METHODS.has(request.method) && !isReadOnlyPost(request)) {
      throw new Forbidden('this admin token may only read')
    }
    request.admin = caller
  })
}

// Verifying the audit chain and explaining a decision change nothing, so a reader may do them.
function isReadOnlyPost(request: FastifyRequest): boolean {
  return (
    request.method === 'POST' &&
    (request.url.startsWith('/api/v1/audit/verify') || request.url.startsWith('/api/v1/decisions/explain'))
  )
}

/** The authenticated caller of an admin route (the hook guarantees it). */
export function adminOf(request: FastifyRequest): AdminCaller {
  if (!request.admin) throw new Unauthorized('an admin bearer token is required')
  return request.admin
}

/** The change context of an admin request, for audit records. */
export function changeContext(request: FastifyRequest) {
  return {
    actor: adminOf(request).actor,
    requestId: request.id,
    traceparent: validTraceparent(request.headers.traceparent),
  }
}

/** The `traceparent` header if it is valid W3C Trace Context (§3.2: not version ff, no all-zero ids), else undefined. */
export function validTraceparent(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined
  const match = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/.exec(header)
  if (!match || match[1] === 'ff' || /^0+$/.test(match[2] ?? '') || /^0+$/.test(match[3] ?? ''))
    return undefined
  return header
}
