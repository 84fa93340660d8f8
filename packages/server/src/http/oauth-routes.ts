// The OAuth endpoints over HTTP: form parsing, RFC 6749 §5.2 error bodies and no-store caching. The endpoints
// themselves live in oauth/.
import { parse as parseQueryString } from 'node:querystring'
import type { TLSSocket } from 'node:tls'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ClientCertificate } from '../authn/client-authentication.ts'
import { AuditUnavailable } from '../errors/mandate-error.ts'
import {
  InvalidRequest,
  OAuthError,
  TemporarilyUnavailable,
  toOAuthErrorResponse,
} from '../errors/oauth-error.ts'
import type { AuthorizationEndpoint } from '../oauth/authorization-endpoint.ts'
import type { BackchannelEndpoint } from '../oauth/backchannel-endpoint.ts'
import type { IntrospectionEndpoint, RevocationEndpoint } from '../oauth/introspection-endpoint.ts'
import { OAUTH_PATHS } from '../oauth/metadata.ts'
import type { TokenEndpoint } from '../oauth/token-endpoint.ts'
import { isUnavailable } from '../store/database.ts'
import { validTraceparent } from './admin/auth.ts'
import { dpopHeaders } from './dpop-headers.ts'

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }

// Errors raised before a handler runs (media type, body size) are the client's: say so in OAuth's words.
function asOAuthError(error: unknown): unknown {
  if (error instanceof OAuthError) return error
  if (isUnavailable(error)) return new TemporarilyUnavailable('the database is not answering; retry later')
  // Nothing is acknowledged without its durable record: a log that refuses writes refuses tokens too.
  if (error instanceof AuditUnavailable)
    return new TemporarilyUnavailable('the audit log refuses writes; an operator must recover it')
  const code = (error as Partial<FastifyError> | null)?.code
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return new InvalidRequest('the request must be application/x-www-form-urlencoded')
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new InvalidRequest('the request body is too large')
  const status = (error as Partial<FastifyError> | null)?.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500)
    return new InvalidRequest('the request is malformed')
  return error
}

function sendOAuthError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body, headers, unexpected } = toOAuthErrorResponse(asOAuthError(error))
  if (unexpected) request.log.error({ err: error }, 'unexpected error')
  void reply
    .status(status)
    .headers({ ...NO_STORE, ...headers, 'x-request-id': request.id })
    .type('application/json')
    .send(body)
}

// RFC 8705: the connection's client certificate, when the node serves HTTPS and the client sent one.
function clientCertificate(request: FastifyRequest): ClientCertificate | undefined {
  const socket = request.raw.socket as TLSSocket
  if (typeof socket.getPeerX509Certificate !== 'function') return undefined
  const x509 = socket.getPeerX509Certificate()
  return x509 ? { x509, authorized: socket.authorized } : undefined
}

/** Registers the OAuth endpoints in their own context (own body parser and error handler). */
export function registerOAuthRoutes(
  app: FastifyInstance,
  deps: {
    tokenEndpoint: TokenEndpoint
    introspectionEndpoint: IntrospectionEndpoint
    revocationEndpoint: RevocationEndpoint
    backchannelEndpoint: BackchannelEndpoint
    authorizationEndpoint: AuthorizationEndpoint
  },
): void {
  void app.register(async (oauth) => {
    oauth.removeAllContentTypeParsers()
    oauth.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_request, body, done) => {
        done(null, parseQueryString(body as string))
      },
    )
    oauth.setErrorHandler(sendOAuthError)

    oauth.post(OAUTH_PATHS.token, { schema: { hide: true } }, async (request, reply) => {
      const form = (request.body ?? {}) as Record<string, string | string[] | undefined>
      const response = await deps.tokenEndpoint.handle({
        form,
        authorization: request.headers.authorization,
        certificate: clientCertificate(request),
        dpop: dpopHeaders(request.raw.rawHeaders),
        requestId: request.id,
        traceparent: validTraceparent(request.headers.traceparent),
        clientIp: request.ip,
      })
      void reply.headers(NO_STORE)
      return response
    })

    // CIBA §7: answered like the token endpoint (§7.3 200 with no-store; §13 errors in the RFC 6749 §5.2 shape).
    oauth.post(OAUTH_PATHS.backchannel, { schema: { hide: true } }, async (request, reply) => {
      const form = (request.body ?? {}) as Record<string, string | string[] | undefined>
      const response = await deps.backchannelEndpoint.handle({
        form,
        authorization: request.headers.authorization,
        certificate: clientCertificate(request),
        requestId: request.id,
        traceparent: validTraceparent(request.headers.traceparent),
        clientIp: request.ip,
      })
      void reply.headers(NO_STORE)
      return response
    })

    // RFC 9126 §2: 201 with the request_uri, client authenticated as at the token endpoint.
    oauth.post(OAUTH_PATHS.par, { schema: { hide: true } }, async (request, reply) => {
      const form = (request.body ?? {}) as Record<string, string | string[] | undefined>
      const pushed = await deps.authorizationEndpoint.push({
        form,
        authorization: request.headers.authorization,
        certificate: clientCertificate(request),
      })
      void reply.headers(NO_STORE).status(201)
      return pushed
    })

    oauth.post(OAUTH_PATHS.introspection, { schema: { hide: true } }, async (request, reply) => {
      const form = (request.body ?? {}) as Record<string, string | string[] | undefined>
      void reply.headers(NO_STORE)
      return deps.introspectionEndpoint.handle({
        form,
        authorization: request.headers.authorization,
        certificate: clientCertificate(request),
        requestId: request.id,
      })
    })

    oauth.post(OAUTH_PATHS.revocation, { schema: { hide: true } }, async (request, reply) => {
      const form = (request.body ?? {}) as Record<string, string | string[] | undefined>
      await deps.revocationEndpoint.handle({
        form,
        authorization: request.headers.authorization,
        certificate: clientCertificate(request),
        requestId: request.id,
      })
      // RFC 7009 §2.2: 200 with an empty body, whether or not there was anything to revoke.
      void reply.headers(NO_STORE).status(200)
      return ''
    })
  })
}
