// Login, its callback and logout: the browser side of human login (login/relying-party.ts does the OpenID Connect).
//   GET  /login?return_to=<local path>[&idp=<TrustedIssuer id>]  the IdP choice, or straight to the one IdP
//   GET  /login/callback                                         the IdP's answer; starts the session
//   POST /logout                                                 ends the session (CSRF-checked), links the IdP's
// plus the home page (`/`) and the stylesheet.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { LoginRefused, type RelyingParty } from '../../login/relying-party.ts'
import type { Sessions } from '../../login/sessions.ts'
import { validTraceparent } from '../admin/auth.ts'
import { acceptForms } from './form.ts'
import { html, STYLE_PATH, STYLESHEET, sendPage } from './html.ts'
import { localPath, readCookie, type WebSessions } from './session.ts'

const LOGIN_COOKIE = 'mandate_login'
const SESSION_COOKIE = 'mandate_session'

const trace = (request: FastifyRequest) => ({
  requestId: request.id,
  traceparent: validTraceparent(request.headers.traceparent),
})

/** Registers the login routes and the home page. */
export function registerLoginRoutes(
  app: FastifyInstance,
  deps: { web: WebSessions; sessions: Sessions; rp: RelyingParty; issuer: () => string; maxSeconds: number },
): void {
  void app.register(async (scope) => {
    acceptForms(scope)

    scope.get(STYLE_PATH, { schema: { hide: true } }, async (_request, reply) =>
      reply
        .header('content-type', 'text/css; charset=utf-8')
        .header('cache-control', 'max-age=3600')
        .send(STYLESHEET),
    )

    scope.get('/', { schema: { hide: true } }, async (request, reply) => {
      const current = await deps.web.current(request)
      if (!current)
        return sendPage(reply, {
          title: 'Welcome',
          body: html`<p>Mandate is the identity and access service for this organization's AI agents.</p>
<p><a href="/login">Log in</a> to see and manage what you have delegated to agents.</p>`,
        })
      return sendPage(reply, {
        title: `Hello, ${current.name}`,
        who: { name: current.name, csrfField: deps.web.csrfField(current) },
        body: html`<p>You are logged in as <strong>${current.human.id}</strong>.</p>
<ul><li><a href="/me/mandates">My mandates</a>: what you let agents do for you, and how much of it they used</li></ul>`,
      })
    })

    scope.get(
      '/login',
      {
        schema: {
          hide: true,
          querystring: Type.Object({
            return_to: Type.Optional(Type.String({ maxLength: 2048 })),
            idp: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          }),
        },
      },
      async (request, reply) => {
        const query = request.query as { return_to?: string; idp?: string }
        const returnTo = query.return_to === undefined ? '/' : localPath(query.return_to)
        if (returnTo === undefined)
          return sendPage(reply, {
            status: 400,
            title: 'Cannot log in',
            body: html`<p class="error">The address to return to after login must be a page of this site.</p>`,
          })
        let idp = query.idp
        if (idp === undefined) {
          const idps = await deps.rp.idps()
          if (idps.length !== 1)
            return sendPage(reply, {
              status: idps.length === 0 ? 503 : 200,
              title: 'Log in',
              body:
                idps.length === 0
                  ? html`<p class="error">No identity provider is configured for login.</p>`
                  : html`<p>Log in with:</p><ul>${idps.map(
                      (i) =>
                        html`<li><a href="/login?idp=${encodeURIComponent(i.id)}&amp;return_to=${encodeURIComponent(returnTo)}">${i.name}</a></li>`,
                    )}</ul>`,
            })
          idp = (idps[0] as { id: string }).id
        }
        try {
          const started = await deps.rp.begin(idp, returnTo)
          deps.web.setCookie(reply, LOGIN_COOKIE, started.transaction, 600)
          return reply.header('cache-control', 'no-store').redirect(started.url, 303)
        } catch (error) {
          if (!(error instanceof LoginRefused)) throw error
          return sendPage(reply, {
            status: error.reason === 'unknown_idp' ? 404 : 502,
            title: 'Cannot log in',
            body: html`<p class="error">${error.message}</p>`,
          })
        }
      },
    )

    scope.get('/login/callback', { schema: { hide: true } }, async (request, reply) => {
      const url = new URL(request.url, `${deps.issuer().replace(/\/$/, '')}/`)
      const cookie = readCookie(request, deps.web.cookieName(LOGIN_COOKIE))
      // The transaction is used once, whatever the outcome.
      deps.web.setCookie(reply, LOGIN_COOKIE, '', 0)
      try {
        const done = await deps.rp.finish(url, cookie, trace(request))
        const started = await deps.sessions.start(done.human.id, done.issuer.id, trace(request))
        deps.web.setCookie(reply, SESSION_COOKIE, started.id, deps.maxSeconds)
        return reply.header('cache-control', 'no-store').redirect(done.returnTo, 303)
      } catch (error) {
        if (!(error instanceof LoginRefused)) throw error
        await deps.sessions.refused({ reason: error.reason, humanId: error.humanId }, trace(request))
        return sendPage(reply, {
          status: error.reason === 'bad_transaction' ? 400 : 403,
          title: 'Login refused',
          body: html`<p class="error">${error.message}.</p><p><a href="/login">Try again</a></p>`,
        })
      }
    })

    scope.post(
      '/logout',
      {
        schema: {
          hide: true,
          // A missing token is the CSRF check's refusal (403), not a malformed form.
          body: Type.Object(
            { csrf_token: Type.Optional(Type.String({ maxLength: 200 })) },
            { additionalProperties: true },
          ),
        },
      },
      async (request, reply) => {
        const current = await deps.web.current(request)
        if (!current) {
          deps.web.setCookie(reply, SESSION_COOKIE, '', 0)
          return reply.redirect('/', 303)
        }
        deps.web.checkCsrf(request, current, (request.body as { csrf_token?: string }).csrf_token)
        await deps.sessions.end(String(deps.web.sessionId(request)), trace(request))
        deps.web.setCookie(reply, SESSION_COOKIE, '', 0)
        const home = `${deps.issuer().replace(/\/$/, '')}/`
        const atIdp = await deps.rp.logoutUrl(current.session.issuerId, home)
        // A link, not a redirect: the page's form-action allows only this site, and the IdP's logout is its own step.
        return sendPage(reply, {
          title: 'Logged out',
          body: html`<p>You are logged out of Mandate.</p>${
            atIdp
              ? html`<p><a id="idp-logout" href="${atIdp}">Log out at your identity provider too</a></p>`
              : ''
          }<p><a href="/login">Log in again</a></p>`,
        })
      },
    )
  })
}
