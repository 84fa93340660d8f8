// The consent page over HTTP with a real login at the development IdP: it names the agent, its sponsor, classification
// and model and exactly what is asked; what the human narrows is what the mandate holds; the form is CSRF-protected.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { decodeJwt } from 'jose'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'
import { CookieJar, loginAtDevIdp, send } from '../support/web-login.ts'

const REDIRECT = 'https://scribe.example.com/callback'
const RESOURCE = 'https://tickets.example.com/'

describe('consent page', () => {
  let store: TestStore
  let t: TestNode
  let secret: string

  before(async () => {
    store = sqliteStore()
    t = await startTestNode(store, { demoData: 'on', devIdp: 'on' })
    const put = async (path: string, body: Record<string, unknown>) => {
      const res = await t.call('PUT', path, { body })
      assert.ok(res.status < 300, `${path}: ${res.text}`)
      return res.json
    }
    await put('/api/v1/resource-servers/tickets', {
      audience: RESOURCE,
      scopes: ['tickets:read', 'tickets:write'],
      authorization_details_types: ['ticket_action'],
    })
    await put('/api/v1/policies/allow-tickets', {
      policies: '@id("all")\npermit (principal, action, resource);',
    })
    const scribe = await put('/api/v1/agents/scribe', {
      name: 'Scribe <b>bold</b>',
      sponsor: 'bob@example.com',
      classification: 'delegated',
      ceiling: ['tickets:read', 'tickets:write', 'ticket_action'],
      model: { provider: 'acme', name: 'writer', version: '2' },
      redirect_uris: [REDIRECT],
      credentials: [{ type: 'client_secret' }],
    })
    secret = scribe.issued_secrets[0].client_secret
  })
  after(async () => {
    await t.close()
    await store.drop()
  })

  // An authorization request, a login as Alice, and the consent page it lands on.
  async function consentPage(extra: Record<string, string> = {}) {
    const verifier = randomBytes(32).toString('base64url')
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: 'scribe',
      redirect_uri: REDIRECT,
      scope: 'tickets:read tickets:write',
      resource: RESOURCE,
      authorization_details: JSON.stringify([{ type: 'ticket_action', actions: ['close'], amount: 3 }]),
      state: 'xyz',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      max_calls: '5',
      duration: '7200',
      ...extra,
    })
    const jar = new CookieJar()
    const start = await send(jar, `${t.node.url}/oauth/authorize?${query}`)
    assert.equal(start.status, 303)
    const consentPath = start.headers.get('location') as string
    // Not logged in: the consent page sends the human to log in first, and back.
    const bounce = await send(jar, `${t.node.url}${consentPath}`)
    assert.equal(bounce.status, 303)
    assert.match(bounce.headers.get('location') ?? '', /^\/login\?return_to=/)
    const page = await loginAtDevIdp(jar, t.node.url, 'u-1001', { returnTo: consentPath })
    assert.equal(page.status, 200)
    const text = await page.text()
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(text)?.[1] as string
    const ref = /name="request" value="([^"]+)"/.exec(text)?.[1] as string
    assert.ok(csrf && ref, text.slice(0, 500))
    return { jar, page, text, csrf, ref, verifier }
  }

  const post = (jar: CookieJar, form: Record<string, string>, headers: Record<string, string> = {}) =>
    send(jar, `${t.node.url}/consent`, { form, headers: { origin: new URL(t.node.url).origin, ...headers } })

  it('names the agent, its sponsor, classification and model, and exactly what is asked; no scripts', async () => {
    const { page, text } = await consentPage()
    assert.match(text, /Scribe &lt;b&gt;bold&lt;\/b&gt;/)
    assert.match(text, /Bob Okafor/)
    assert.match(text, /delegated/)
    assert.match(text, /acme writer 2/)
    assert.match(text, /https:\/\/tickets\.example\.com\//)
    assert.match(text, /name="actions" value="tickets:read" checked/)
    assert.match(text, /name="actions" value="tickets:write" checked/)
    assert.match(text, /name="detail_types" value="ticket_action" checked/)
    assert.match(text, /&quot;close&quot;/)
    assert.match(text, /name="duration_minutes" min="1" max="120" value="120"/)
    assert.match(text, /name="max_calls" min="1" max="5" required value="5"/)
    assert.doesNotMatch(text, /<script/i)
    const csp = page.headers.get('content-security-policy') ?? ''
    assert.doesNotMatch(csp, /unsafe-inline|script-src/)
    assert.match(csp, /frame-ancestors 'none'/)
    assert.match(csp, /form-action 'self' https:\/\/scribe\.example\.com/)
  })

  it('what the human narrows (an action unchecked, a lower budget, a shorter duration) is what the mandate holds', async () => {
    const { jar, csrf, ref, verifier } = await consentPage()
    const answer = await post(jar, {
      request: ref,
      csrf_token: csrf,
      decision: 'approve',
      actions: 'tickets:read',
      duration_minutes: '30',
      max_calls: '2',
    })
    assert.equal(answer.status, 303)
    const back = new URL(answer.headers.get('location') as string)
    assert.equal(`${back.origin}${back.pathname}`, REDIRECT)
    assert.equal(back.searchParams.get('state'), 'xyz')
    assert.equal(back.searchParams.get('iss'), t.config.issuer)
    const code = back.searchParams.get('code') as string
    const tokens = await fetch(`${t.node.url}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`scribe:${secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        code_verifier: verifier,
        redirect_uri: REDIRECT,
      }),
    })
    const json = (await tokens.json()) as Record<string, unknown>
    assert.equal(tokens.status, 200, JSON.stringify(json))
    const claims = decodeJwt(String(json.access_token))
    assert.equal(claims.sub, 'alice@example.com')
    assert.deepEqual(claims.act, { sub: 'scribe' })
    assert.equal(claims.scope, 'tickets:read')
    assert.equal(claims.authorization_details, undefined, 'the unchecked detail type is not granted')
    const mandate = (await t.call('GET', `/api/v1/mandates/${claims.mandate_id}`)).json
    assert.deepEqual(mandate.actions, ['tickets:read'])
    assert.equal(mandate.authorization_details_types, undefined)
    assert.equal(mandate.budget.calls, 2)
    const minutes = (Date.parse(mandate.expires_at) - Date.now()) / 60_000
    assert.ok(minutes > 29 && minutes <= 30, `${minutes} minutes`)
    assert.equal(mandate.human, 'alice@example.com')
  })

  it('CSRF: a wrong or missing token, another Origin, or no session is refused with 403 and grants nothing', async () => {
    const { jar, csrf, ref } = await consentPage()
    const form = { request: ref, decision: 'approve', actions: 'tickets:read' }
    const wrong = await post(jar, { ...form, csrf_token: `${csrf}x` })
    assert.equal(wrong.status, 403)
    assert.equal(wrong.headers.get('location'), null)
    const missing = await post(jar, form)
    assert.ok(missing.status === 400 || missing.status === 403, String(missing.status))
    assert.equal(missing.headers.get('location'), null)
    const foreign = await post(jar, { ...form, csrf_token: csrf }, { origin: 'https://evil.example.com' })
    assert.equal(foreign.status, 403)
    const noSession = await post(new CookieJar(), { ...form, csrf_token: csrf })
    assert.equal(noSession.status, 403)
    // The request is still pending: the human's own form still works.
    const ok = await post(jar, { ...form, csrf_token: csrf })
    assert.equal(ok.status, 303)
    assert.ok(new URL(ok.headers.get('location') as string).searchParams.get('code'))
    // And it is answered once.
    const again = await post(jar, { ...form, csrf_token: csrf })
    assert.equal(again.status, 400)
  })

  it('deny answers access_denied with state and iss', async () => {
    const { jar, csrf, ref } = await consentPage()
    const answer = await post(jar, { request: ref, csrf_token: csrf, decision: 'deny' })
    assert.equal(answer.status, 303)
    const back = new URL(answer.headers.get('location') as string)
    assert.equal(back.searchParams.get('error'), 'access_denied')
    assert.equal(back.searchParams.get('state'), 'xyz')
    assert.equal(back.searchParams.get('iss'), t.config.issuer)
  })

  it('unchecking everything grants nothing: access_denied', async () => {
    const { jar, csrf, ref } = await consentPage()
    const answer = await post(jar, { request: ref, csrf_token: csrf, decision: 'approve' })
    assert.equal(new URL(answer.headers.get('location') as string).searchParams.get('error'), 'access_denied')
  })
})
