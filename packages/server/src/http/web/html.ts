// HTML for Mandate's own pages: a tagged template that escapes every interpolated value, and one plain, accessible
// page layout served with a strict Content-Security-Policy (no scripts, no inline styles, no framing).
import type { FastifyReply } from 'fastify'

/** Markup that is already safe: produced by `html` (or `raw`, for constants only). */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

/** Escapes text for an HTML text node or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string)
}

function render(value: unknown): string {
  if (value instanceof Html) return value.value
  if (Array.isArray(value)) return value.map(render).join('')
  if (value === undefined || value === null || value === false) return ''
  return escapeHtml(String(value))
}

/**
 * The escaping template: `html\`<p>${name}</p>\``. Interpolated strings and numbers are escaped, `Html` values (from
 * `html` itself) are kept, arrays are joined, and `undefined`, `null` and `false` are left out. Never interpolate into
 * an unquoted attribute, a URL attribute from user input without checking its scheme, or a `<script>`/`<style>`.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? ''
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '')
  })
  return new Html(out)
}

/** Trusted constant markup. Never pass it anything derived from input. */
export function raw(markup: string): Html {
  return new Html(markup)
}

/** The stylesheet every page links (served at STYLE_PATH): pages carry no inline styles. */
export const STYLE_PATH = '/web/style.css'
export const STYLESHEET = `body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b;background:#fff}
header{display:flex;justify-content:space-between;align-items:center;border-bottom:1px solid #ccc;margin-bottom:1.5rem}
header form{display:inline}
a{color:#0b57d0}
button{font:inherit;padding:.4rem .9rem;cursor:pointer}
.banner{background:#fde68a;border:2px solid #b45309;padding:.5rem 1rem;font-weight:bold}
.error{border-left:4px solid #b91c1c;padding-left:1rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd}
label{display:block;margin:.5rem 0}
:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}`

/** The page's Content-Security-Policy; `formActions` adds origins a form on it may submit (or redirect) to. */
export function pageCsp(formActions: readonly string[] = []): string {
  const forms = ["'self'", ...formActions].join(' ')
  return `default-src 'none'; style-src 'self'; img-src 'self'; form-action ${forms}; frame-ancestors 'none'; base-uri 'none'`
}

/** What a page shows in its header. */
export interface PageOptions {
  title: string
  body: Html
  /** The logged-in human, shown with a logout form (which needs the CSRF field). */
  who?: { name: string; csrfField: Html } | undefined
  /** A banner above everything (e.g. the development IdP's warning). */
  banner?: string | undefined
  status?: number
  formActions?: readonly string[]
}

/** Sends a page with the security headers every page carries. */
export function sendPage(reply: FastifyReply, options: PageOptions): FastifyReply {
  const who = options.who
    ? html`<form method="post" action="/logout">${options.who.csrfField}<span>${options.who.name}</span> <button type="submit">Log out</button></form>`
    : html`<a href="/login">Log in</a>`
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Mandate</title>
<link rel="stylesheet" href="${STYLE_PATH}">
</head>
<body>
${options.banner ? html`<p class="banner" role="note">${options.banner}</p>` : ''}
<header><p><a href="/">Mandate</a></p><nav aria-label="account">${who}</nav></header>
<main>
<h1>${options.title}</h1>
${options.body}
</main>
</body>
</html>
`
  return reply
    .status(options.status ?? 200)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', pageCsp(options.formActions))
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'same-origin')
    .header('cache-control', 'no-store')
    .send(page.value)
}
