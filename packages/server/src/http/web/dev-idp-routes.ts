// Mounts the development IdP at /dev-idp on the node's port: its login page (the interaction step) is served here,
// every other path goes to oidc-provider with the mount path removed. The IdP is built on first use, once the
// node's issuer (and so its own) is known.
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { DevIdp } from '../../login/dev-idp.ts'
import { plainPage } from '../../login/dev-idp-page.ts'
import { DEMO_IDP } from '../../registry/demo.ts'
import { escapeHtml, pageCsp } from './html.ts'

const PREFIX = DEMO_IDP.path
const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]{1,100})(\/login)?$/

/** Registers the development IdP's routes; `idp` builds (once) and answers the IdP. */
export function registerDevIdpRoutes(app: FastifyInstance, idp: () => DevIdp): void {
  void app.register(async (scope) => {
    // oidc-provider reads its bodies itself: leave every body unread.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined))
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const raw = request.raw as IncomingMessage & { originalUrl?: string }
      const url = raw.url ?? '/'
      const rest = url.slice(PREFIX.length) || '/'
      const path = rest.split('?')[0] ?? '/'
      const match = INTERACTION.exec(path)
      reply.hijack()
      raw.originalUrl = url
      raw.url = rest
      const provider = idp()
      if (!match) return provider.handle(raw, reply.raw)
      const res = reply.raw
      const send = (status: number, body: string) => {
        res.writeHead(status, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': pageCsp(),
          'cache-control': 'no-store',
          'x-frame-options': 'DENY',
        })
        res.end(body)
      }
      const details = await provider.interaction(raw, res)
      if (!details || details.uid !== match[1])
        return send(
          400,
          loginPage('<p>This login has expired; go back to the application and start again.</p>'),
        )
      if (request.method === 'POST' && match[2]) {
        const form = new URLSearchParams(await readBody(raw))
        if (await provider.signIn(raw, res, form.get('account') ?? '')) return
        return send(400, loginPage('<p>No such account.</p>'))
      }
      const options = provider
        .accounts()
        .map(
          (a, i) =>
            `<label><input type="radio" name="account" value="${escapeHtml(a.sub)}"${i === 0 ? ' checked' : ''}> ${escapeHtml(a.name)} (${escapeHtml(a.email)})</label>`,
        )
        .join('')
      return send(
        200,
        loginPage(
          `<form method="post" action="${PREFIX}/interaction/${escapeHtml(details.uid)}/login"><fieldset><legend>Sign in as</legend>${options}</fieldset><button type="submit">Sign in</button></form>`,
        ),
      )
    }
    scope.all(PREFIX, { schema: { hide: true } }, handler)
    scope.all(`${PREFIX}/*`, { schema: { hide: true } }, handler)
  })
}

function loginPage(body: string): string {
  return plainPage('Sign in', body)
}

async function readBody(raw: IncomingMessage): Promise<string> {
  let body = ''
  for await (const chunk of raw) {
    body += String(chunk)
    if (body.length > 8192) break
  }
  return body
}
