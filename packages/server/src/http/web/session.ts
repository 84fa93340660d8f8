// Browser sessions for Mandate's pages, the interface other pages use:
//
//   const web: WebSessions            (built in app.ts, passed to each page's register function)
//   await web.current(request)        -> WebSession | undefined: the logged-in human of this request, if any
//   await web.requireHuman(request, reply)
//                                     -> WebSession | undefined: undefined when there is none, and then the reply is
//                                        already a 303 to /login?return_to=<this path>: return it as it is
//   web.csrfField(session)            -> Html: the hidden `csrf_token` input every form that posts must contain
//   web.checkCsrf(request, session, value)
//                                     -> throws Forbidden (403) unless `value` is the session's token (compared in
//                                        constant time) and the request's Origin (or, without one, Referer) is this
//                                        node's origin. Call it first in every POST handler, with body.csrf_token.
//   acceptForms(scope)                (form.ts) parses application/x-www-form-urlencoded bodies in a plugin scope.
//
// The cookie is HttpOnly, SameSite=Lax and, when the issuer is https, Secure with the `__Host-` prefix (so no
// subdomain can set or shadow it). On plain http (a loopback development node) a Secure cookie would not be sent back,
// so it is a plain `mandate_session` cookie there: never run an http issuer beyond loopback.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Forbidden } from '../../errors/mandate-error.ts'
import type { Session, Sessions } from '../../login/sessions.ts'
import type { Directory } from '../../registry/directory.ts'
import type { Human, Stored } from '../../registry/model.ts'
import { type Html, html } from './html.ts'

/** The logged-in human of a request. */
export interface WebSession {
  session: Session
  human: Stored<Human>
  /** The human's name for display (their id when they have none). */
  name: string
}

/** The name of the form field that carries the CSRF token. */
export const CSRF_FIELD = 'csrf_token'

/** Reads a cookie from the Cookie header (RFC 6265 §5.4); the first of several with the name wins. */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie
  if (typeof header !== 'string') return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** A local path to return to after login: one that starts with a single `/` and has no control characters. */
export function localPath(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 2048) return undefined
  // `//host` and `/\host` are other origins to a browser; control characters could split the Location header.
  if (!value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return undefined
  if ([...value].some((c) => c <= ' ' || c === '\x7f' || c === '\\')) return undefined
  return value
}

/** Cookies and CSRF for the pages; one per node. */
export class WebSessions {
  constructor(
    private readonly deps: {
      sessions: Sessions
      directory: Directory
      /** The node's issuer URL: its scheme decides the cookies' Secure flag, its origin the Origin check. */
      issuer: () => string
    },
  ) {}

  /** Whether cookies are Secure (https issuer). */
  secure(): boolean {
    return this.deps.issuer().startsWith('https:')
  }

  /** A cookie name, `__Host-` prefixed over https. */
  cookieName(base: string): string {
    return this.secure() ? `__Host-${base}` : base
  }

  /** Sets a cookie with the session attributes; `maxAgeSeconds` 0 deletes it. */
  setCookie(reply: FastifyReply, base: string, value: string, maxAgeSeconds?: number): void {
    const attributes = [
      `${this.cookieName(base)}=${value}`,
      'Path=/',
      'HttpOnly',
      'SameSite=Lax',
      ...(this.secure() ? ['Secure'] : []),
      ...(maxAgeSeconds !== undefined ? [`Max-Age=${maxAgeSeconds}`] : []),
    ]
    void reply.header('set-cookie', [...cookieList(reply.getHeader('set-cookie')), attributes.join('; ')])
  }

  /** The session cookie's value on this request. */
  sessionId(request: FastifyRequest): string | undefined {
    return readCookie(request, this.cookieName('mandate_session'))
  }

  async current(request: FastifyRequest): Promise<WebSession | undefined> {
    const id = this.sessionId(request)
    if (id === undefined) return undefined
    const session = await this.deps.sessions.find(id)
    if (!session) return undefined
    const human = this.deps.directory.human(session.humanId)
    // A human deactivated since login has no session.
    if (!human || human.status !== 'active') return undefined
    return { session, human, name: human.name ?? human.id }
  }

  async requireHuman(request: FastifyRequest, reply: FastifyReply): Promise<WebSession | undefined> {
    const current = await this.current(request)
    if (current) return current
    const path = localPath(request.url) ?? '/'
    void reply.redirect(`/login?return_to=${encodeURIComponent(path)}`, 303)
    return undefined
  }

  csrfField(session: WebSession): Html {
    return html`<input type="hidden" name="${CSRF_FIELD}" value="${this.deps.sessions.csrfToken(session.session)}">`
  }

  checkCsrf(request: FastifyRequest, session: WebSession, value: unknown): void {
    const expected = new URL(this.deps.issuer()).origin
    const origin = request.headers.origin
    let from: string | undefined
    if (typeof origin === 'string') from = origin
    else if (typeof request.headers.referer === 'string') from = originOf(request.headers.referer)
    if (from !== expected) throw new Forbidden('the form was not sent from this site (Origin check)')
    if (!this.deps.sessions.checkCsrf(session.session, value))
      throw new Forbidden('the form has no valid CSRF token; reload the page and try again')
  }
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin
  } catch {
    return undefined
  }
}

function cookieList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String)
  if (typeof value === 'string') return [value]
  return []
}
