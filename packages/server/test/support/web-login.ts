// Logging in over plain HTTP, as a browser would but without one: a cookie jar per origin and path-insensitive, and a
// walk through /login, the development IdP's sign-in form and /login/callback, following each redirect by hand.
import assert from 'node:assert/strict'

/** Cookies by name, for one loopback origin (the node and its development IdP share it). */
export class CookieJar {
  readonly cookies = new Map<string, string>()
  /** The last Set-Cookie line for each name, attributes included. */
  readonly lines = new Map<string, string>()

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }

  /** Takes the response's Set-Cookie headers (a Max-Age of 0 deletes). */
  take(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      this.lines.set(name, line)
      const gone =
        attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || /expires=Thu, 01 Jan 1970/i.test(line)
      if (gone || value === '') this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }
}

/** One request with the jar's cookies, no redirect following. */
export async function send(
  jar: CookieJar,
  url: string,
  init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { cookie: jar.header(), ...(init.headers ?? {}) }
  let body: string | undefined
  if (init.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded'
    body = new URLSearchParams(init.form).toString()
  }
  const response = await fetch(url, {
    method: init.method ?? (init.form ? 'POST' : 'GET'),
    headers,
    redirect: 'manual',
    ...(body !== undefined ? { body } : {}),
  })
  jar.take(response)
  return response
}

/** Follows redirects from `response` (GET), until a non-redirect answer or one leaving `origin`'s paths. */
export async function follow(jar: CookieJar, base: string, response: Response): Promise<Response> {
  let current = response
  for (let hops = 0; hops < 20 && current.status >= 300 && current.status < 400; hops++) {
    const location = current.headers.get('location')
    assert.ok(location, 'a redirect has a Location')
    current = await send(jar, new URL(location, base).href)
    base = current.url || base
  }
  return current
}

/**
 * Logs `account` (a development IdP subject, e.g. u-1001) in at `nodeUrl` and answers the last response (the page
 * after login, or the refusal). `returnTo` is sent as /login's return_to.
 */
export async function loginAtDevIdp(
  jar: CookieJar,
  nodeUrl: string,
  account: string,
  options: { returnTo?: string; idp?: string } = {},
): Promise<Response> {
  const query = new URLSearchParams({ return_to: options.returnTo ?? '/' })
  if (options.idp) query.set('idp', options.idp)
  const start = await send(jar, `${nodeUrl}/login?${query}`)
  assert.equal(start.status, 303, await start.clone().text())
  const signIn = await follow(jar, nodeUrl, start)
  assert.equal(signIn.status, 200)
  const page = await signIn.text()
  const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1]
  assert.ok(action, `the development IdP shows its sign-in form: ${page.slice(0, 300)}`)
  const posted = await send(jar, new URL(action, nodeUrl).href, { form: { account } })
  return follow(jar, nodeUrl, posted)
}
