// RFC 9110 §15.5.6: a request for a path that exists under other methods is answered 405 with `Allow`, in the error
// shape of the API it reached (RFC 6749 §5.2 at the OAuth endpoints, `{error, error_description}` elsewhere).
import type { FastifyInstance, HTTPMethods } from 'fastify'
import { MethodNotAllowed } from '../errors/mandate-error.ts'
import { MethodNotAllowed as OAuthMethodNotAllowed, toOAuthErrorResponse } from '../errors/oauth-error.ts'
import { toErrorResponse } from './errors.ts'

const METHODS: readonly HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

/**
 * Answers 405 instead of 404 when the path is served under another method. It runs before the body is parsed, so a
 * `PUT /oauth/token` with any body is a 405 too; routed requests only pay for one property read.
 */
export function answerWrongMethods(app: FastifyInstance, options: { oauthPaths: ReadonlySet<string> }): void {
  // A callback hook, not an async one: every request passes here, the token endpoint's included.
  app.addHook('onRequest', (request, reply, done) => {
    if (!request.is404) return done()
    const path = request.url.split('?', 1)[0] ?? ''
    const allow = METHODS.filter(
      (method) => method !== request.method && app.findRoute({ method, url: path }) !== null,
    )
    if (allow.length === 0) return done()
    const oauth = options.oauthPaths.has(path)
    const { body } = oauth
      ? toOAuthErrorResponse(new OAuthMethodNotAllowed(allow))
      : toErrorResponse(new MethodNotAllowed(allow))
    if (oauth) void reply.headers({ 'cache-control': 'no-store', pragma: 'no-cache' })
    void reply
      .status(405)
      .headers({ allow: allow.join(', '), 'x-request-id': request.id })
      .type('application/json')
      .send(body)
  })
}
