// The authorization endpoint over HTTP (OAuth 2.1 §4.1.1): GET only, never framed (OAuth 2.1 §7.10), never cached, no
// CORS (RFC 9700 §2.6). A valid request is sent on to the consent page with 303 (OAuth 2.1 §7.5.4: never 307); a
// refusal goes back to the client's redirect URI, except a bad client_id or redirect_uri, which is a 400 page.
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { AuthorizationEndpoint } from '../oauth/authorization-endpoint.ts'
import { RedirectedError, UnsafeAuthorizationRequest } from '../oauth/authorization-request.ts'
import { OAUTH_PATHS } from '../oauth/metadata.ts'

/** Where the consent page is served. */
export const CONSENT_PATH = '/consent'

/** Headers of every page and redirect of the authorization flow. */
export const FLOW_HEADERS = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'none'; style-src 'self'; form-action 'self' https: http:; frame-ancestors 'none'; base-uri 'none'",
  'referrer-policy': 'no-referrer',
} as const

/** A page that says why the request cannot be answered at the client's redirect URI. */
export function refusalPage(reply: FastifyReply, code: string, message: string): FastifyReply {
  return reply
    .status(400)
    .headers(FLOW_HEADERS)
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Authorization request refused</title></head><body><main><h1>This authorization request cannot be answered</h1><p>Error: <code>${escapeHtml(code)}</code></p><p>${escapeHtml(message)}</p><p>Nothing was sent back to the application. Return to it and start again.</p></main></body></html>`,
    )
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Registers GET /oauth/authorize. */
export function registerAuthorizationRoutes(
  app: FastifyInstance,
  deps: { authorizationEndpoint: AuthorizationEndpoint },
): void {
  app.get(OAUTH_PATHS.authorization, { schema: { hide: true } }, async (request, reply) => {
    try {
      const ref = await deps.authorizationEndpoint.authorize(
        request.query as Record<string, string | string[] | undefined>,
      )
      return reply.status(303).headers(FLOW_HEADERS).redirect(`${CONSENT_PATH}?request=${ref}`, 303)
    } catch (error) {
      if (error instanceof UnsafeAuthorizationRequest) return refusalPage(reply, error.code, error.message)
      if (error instanceof RedirectedError)
        return reply.headers(FLOW_HEADERS).redirect(deps.authorizationEndpoint.redirectedError(error), 303)
      throw error
    }
  })
}
