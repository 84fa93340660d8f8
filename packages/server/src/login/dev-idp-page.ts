// The development IdP's own pages: plain, marked as not for production, no script (kept apart from dev-idp.ts so
// that serving them loads no OpenID provider).

/** Escapes text for HTML. */
export function escapeText(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** The IdP's own pages: plain, marked, no script. */
export function plainPage(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeText(title)} · development IdP</title><link rel="stylesheet" href="/web/style.css"></head><body><p class="banner" role="note">Development IdP: not for production. Anyone can sign in as any demo account, without a password.</p><main><h1>${escapeText(title)}</h1>${body}</main></body></html>`
}
