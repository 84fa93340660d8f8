// Human login over real HTTP on loopback: the bundled development IdP (oidc-provider) and Mandate as the OpenID
// Connect relying party (openid-client), browser sessions and their cookie, CSRF and Origin checks on forms, session
// expiry, return_to, group claims, an IdP reporting an account disabled, and an IdP the human is not bound to.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { registerDevIdpRoutes } from '../../src/http/web/dev-idp-routes.ts'
import { DevIdp } from '../../src/login/dev-idp.ts'
import { DEV_IDP_CLIENT_ID, devIdpClientSecret } from '../../src/registry/demo.ts'
import { loginSecretContext } from '../../src/registry/identity-rules.ts'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'
import { CookieJar, follow, loginAtDevIdp, send } from '../support/web-login.ts'

const IDLE = 600
const MAX = 1800

for (const kind of storeKinds) {
  describe(`human login at the development IdP (${kind.name})`, () => {
    let store: TestStore
    let t: TestNode
    let offset = 0
    before(async () => {
      store = kind.create()
      t = await startTestNode(
        store,
        { demoData: 'on', devIdp: 'on', sessionIdleSeconds: IDLE, sessionMaxSeconds: MAX },
        { now: () => Date.now() + offset },
      )
    })
    after(async () => {
      await t?.close()
      await store?.drop()
    })

    const sessionCookie = 'mandate_session'
    const home = async (jar: CookieJar) => (await send(jar, `${t.node.url}/`)).text()
    const events = async (type: string) => t.node.audit.read(t.node.database.db, { type, limit: 1000 })

    it('logs a demo human in (code flow, PKCE S256, state, nonce) and lands back on Mandate with a session whose id is stored only hashed', async () => {
      const jar = new CookieJar()
      const start = await send(jar, `${t.node.url}/login?return_to=${encodeURIComponent('/?tab=1')}`)
      assert.equal(start.status, 303)
      const authorize = new URL(String(start.headers.get('location')))
      assert.equal(authorize.origin + authorize.pathname, `${t.node.url}/dev-idp/auth`)
      assert.equal(authorize.searchParams.get('response_type'), 'code')
      assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256')
      assert.match(String(authorize.searchParams.get('code_challenge')), /^[A-Za-z0-9_-]{43}$/)
      assert.ok(authorize.searchParams.get('state'))
      assert.ok(authorize.searchParams.get('nonce'))
      assert.equal(authorize.searchParams.get('redirect_uri'), `${t.node.url}/login/callback`)
      assert.match(String(jar.lines.get('mandate_login')), /HttpOnly/)

      const landed = await loginAtDevIdp(jar, t.node.url, 'u-1001', { returnTo: '/?tab=1' })
      assert.equal(new URL(landed.url).pathname + new URL(landed.url).search, '/?tab=1')
      const page = await landed.text()
      assert.match(page, /Hello, Alice Ng/)
      assert.match(String(landed.headers.get('content-security-policy')), /frame-ancestors 'none'/)
      assert.doesNotMatch(page, /<script/i)

      const line = String(jar.lines.get(sessionCookie))
      assert.match(line, /; HttpOnly/)
      assert.match(line, /; SameSite=Lax/)
      assert.match(line, /; Path=\//)
      // A loopback http issuer: a Secure cookie would never come back, so it is not Secure and has no __Host- prefix.
      assert.doesNotMatch(line, /Secure/)
      assert.ok(!jar.cookies.has('mandate_login'), 'the login transaction cookie is cleared')

      const id = String(jar.cookies.get(sessionCookie))
      const rows = await t.node.database.db.selectFrom('browser_sessions').selectAll().execute()
      const mine = rows.find((r) => r.id_hash === createHash('sha256').update(id).digest('hex'))
      assert.equal(mine?.human_id, 'alice@example.com')
      assert.ok(!JSON.stringify(rows).includes(id), 'the session id itself is not stored')
      const started = await events('session.start')
      assert.ok(started.some((e) => e.actors[0]?.id === 'alice@example.com'))
      assert.ok(!JSON.stringify(started).includes(id), 'nor recorded')
    })

    it('refuses a logout form without the CSRF token, with a wrong one, or from another origin (403), and ends the session with both', async () => {
      const jar = new CookieJar()
      await loginAtDevIdp(jar, t.node.url, 'u-1001')
      const token = /name="csrf_token" value="([^"]+)"/.exec(await home(jar))?.[1]
      assert.ok(token)
      const origin = { origin: t.node.url }
      const post = (form: Record<string, string>, headers: Record<string, string>) =>
        send(jar, `${t.node.url}/logout`, { form, headers })
      assert.equal((await post({}, origin)).status, 403)
      // The first character: all six of its bits count (the last one's low bits may be base64 padding).
      const wrong = `${token.startsWith('A') ? 'B' : 'A'}${token.slice(1)}`
      assert.equal((await post({ csrf_token: wrong }, origin)).status, 403)
      assert.equal((await post({ csrf_token: 'x' }, origin)).status, 403)
      assert.equal((await post({ csrf_token: token }, { origin: 'https://evil.example' })).status, 403)
      assert.equal((await post({ csrf_token: token }, { origin: 'null' })).status, 403)
      assert.equal((await post({ csrf_token: token }, {})).status, 403, 'no Origin nor Referer')
      assert.match(await home(jar), /Hello, Alice Ng/, 'the refused posts left the session alive')

      const id = String(jar.cookies.get(sessionCookie))
      const out = await post({ csrf_token: token }, origin)
      assert.equal(out.status, 200)
      const page = await out.text()
      assert.match(page, /logged out of Mandate/)
      // The IdP offers RP-initiated logout: the page links it.
      assert.match(page, /href="[^"]*\/dev-idp\/session\/end\?[^"]*client_id=mandate/)
      assert.ok(!jar.cookies.has(sessionCookie), 'the cookie is deleted')
      jar.cookies.set(sessionCookie, id)
      assert.match(await home(jar), /Log in/, 'the old cookie opens nothing')
      assert.ok((await events('session.end')).some((e) => e.actors[0]?.id === 'alice@example.com'))
    })

    it('refuses a session cookie past the idle timeout, and past the absolute end even while in use', async () => {
      const idle = new CookieJar()
      await loginAtDevIdp(idle, t.node.url, 'u-1001')
      offset += (IDLE - 100) * 1000
      assert.match(await home(idle), /Hello, Alice/, 'used within the idle timeout')
      offset += (IDLE + 1) * 1000
      assert.match(await home(idle), /Log in/, 'idle too long')
      assert.doesNotMatch(await home(idle), /Hello/)
      // A session used every 500 s never idles out, but ends MAX after login.
      const fresh = new CookieJar()
      await loginAtDevIdp(fresh, t.node.url, 'u-1001')
      for (let used = 500; used < MAX; used += 500) {
        offset += 500 * 1000
        assert.match(await home(fresh), /Hello, Alice/, `in use at ${used} s`)
      }
      offset += 500 * 1000
      assert.match(await home(fresh), /Log in/, 'past the absolute end')
    })

    it('refuses a return_to that is not a local path (400) and keeps one that is', async () => {
      for (const target of [
        'https://evil.example/',
        '//evil.example/',
        '/\\evil.example',
        '\\\\evil.example',
        'javascript:alert(1)',
        'evil.example',
        '/ok\r\nSet-Cookie: a=b',
        '/ok path',
        ' /x',
      ]) {
        const response = await send(
          new CookieJar(),
          `${t.node.url}/login?return_to=${encodeURIComponent(target)}`,
        )
        assert.equal(response.status, 400, target)
        assert.equal(response.headers.get('location'), null)
      }
      const twice = await send(new CookieJar(), `${t.node.url}/login?return_to=/a&return_to=/b`)
      assert.equal(twice.status, 400)
      const ok = await send(
        new CookieJar(),
        `${t.node.url}/login?return_to=${encodeURIComponent('/me/mandates?x=1')}`,
      )
      assert.equal(ok.status, 303)
    })

    it('refuses a callback without its login transaction (400), or with another state (403), without a session', async () => {
      const none = await send(new CookieJar(), `${t.node.url}/login/callback?code=abc&state=def`)
      assert.equal(none.status, 400)
      const jar = new CookieJar()
      await send(jar, `${t.node.url}/login`)
      const forged = await send(jar, `${t.node.url}/login/callback?code=abc&state=other`)
      assert.equal(forged.status, 403)
      assert.ok(!jar.cookies.has(sessionCookie))
      const tampered = new CookieJar()
      tampered.cookies.set('mandate_login', 'v1.AAAA.BBBB.CCCC')
      assert.equal((await send(tampered, `${t.node.url}/login/callback?code=abc&state=def`)).status, 400)
    })

    it('refuses a login whose IdP subject names no registered human (Carol), and records the refusal', async () => {
      const jar = new CookieJar()
      const refused = await loginAtDevIdp(jar, t.node.url, 'u-1003')
      assert.equal(refused.status, 403)
      assert.match(await refused.text(), /not bound to a registered human/)
      assert.ok(!jar.cookies.has(sessionCookie))
      assert.ok((await events('session.refuse')).some((e) => e.reason === 'not_bound'))
    })

    it("maps the IdP's groups claim to Mandate groups at login: adds and removes members of mapped groups, audited", async () => {
      const members = async () =>
        (
          (await t.call('GET', '/api/v1/groups/support-team')).json.members as Array<{
            kind: string
            id: string
          }>
        )
          .filter((m) => m.kind === 'human')
          .map((m) => m.id)
          .sort()
      // Alice is taken out by hand, Bob put in: the IdP lists Alice in support-staff (mapped), Bob only in risk-analysts.
      const put = await t.call('PATCH', '/api/v1/groups/support-team', {
        headers: { 'content-type': 'application/merge-patch+json' },
        raw: JSON.stringify({
          members: [
            { kind: 'agent', id: 'support-bot' },
            { kind: 'human', id: 'bob@example.com' },
          ],
        }),
      })
      assert.equal(put.status, 200, put.text)
      assert.deepEqual(await members(), ['bob@example.com'])
      await loginAtDevIdp(new CookieJar(), t.node.url, 'u-1001')
      assert.deepEqual(await members(), ['alice@example.com', 'bob@example.com'])
      await loginAtDevIdp(new CookieJar(), t.node.url, 'u-1002')
      assert.deepEqual(await members(), ['alice@example.com'])
      const changes = (await events('admin.group.')).filter((e) => e.actors[0]?.id === 'idp:demo-idp')
      assert.equal(changes.length, 2)
    })

    it('an IdP reporting the account disabled (account_enabled: false) deactivates the human, refuses the login and ends their sessions', async () => {
      const open = new CookieJar()
      await loginAtDevIdp(open, t.node.url, 'u-1002')
      assert.match(await home(open), /Hello, Bob/)
      const mandate = await t.call('POST', '/api/v1/mandates', {
        body: {
          human: 'bob@example.com',
          agent: 'support-bot',
          actions: ['crm:read'],
          resource_servers: ['crm'],
          expires_at: new Date(Date.now() + 3600_000).toISOString(),
        },
      })
      assert.equal(mandate.status, 201, mandate.text)
      const idp = t.node.devIdp()
      assert.ok(idp)
      idp.setDisabled('u-1002', true)
      try {
        const refused = await loginAtDevIdp(new CookieJar(), t.node.url, 'u-1002')
        assert.equal(refused.status, 403)
        assert.match(await refused.text(), /reports this account disabled/)
      } finally {
        idp.setDisabled('u-1002', false)
      }
      const bob = await t.call('GET', '/api/v1/humans/bob@example.com')
      assert.equal(bob.json.status, 'inactive')
      assert.match(await home(open), /Log in/, 'the open session ends with the human')
      // The registry's status change cascades: the mandates Bob gave are revoked, the agents he sponsors suspended.
      const after = await t.call('GET', `/api/v1/mandates/${mandate.json.id}`)
      assert.equal(after.json.status, 'revoked')
      assert.equal((await t.call('GET', '/api/v1/agents/fraud-watch')).json.status, 'suspended')
      const again = await loginAtDevIdp(new CookieJar(), t.node.url, 'u-1002')
      assert.equal(again.status, 403, 'an inactive human cannot log in even once the IdP enables the account')
      const deactivation = (await events('admin.human.')).find(
        (e) => e.actors[0]?.id === 'idp:demo-idp' && e.subjects.includes('human:bob@example.com'),
      )
      assert.ok(deactivation, 'the deactivation is audited, by the IdP')
    })
  })
}

describe('human login at an IdP the human is not bound to', () => {
  const kind = storeKinds[0]
  let store: TestStore
  let t: TestNode
  let other: FastifyInstance
  before(async () => {
    store = (kind as (typeof storeKinds)[number]).create()
    t = await startTestNode(store, { demoData: 'on', devIdp: 'on' })
    // A second OpenID provider on a port of its own, with the same accounts (Alice is u-1001 there too).
    let idp: DevIdp | undefined
    other = Fastify()
    registerDevIdpRoutes(other, () => {
      idp ??= new DevIdp({ nodeIssuer: t.node.url, masterKey: t.node.masterKey, origin })
      return idp
    })
    const origin = await other.listen({ host: '127.0.0.1', port: 0 })
    const put = await t.call('PUT', '/api/v1/trusted-issuers/other-idp', {
      body: {
        issuer: `${origin}/dev-idp`,
        type: 'human_idp',
        jwks: (await t.call('GET', '/api/v1/trusted-issuers/demo-idp')).json.jwks,
        login: {
          client_id: DEV_IDP_CLIENT_ID,
          client_secret_sealed: t.node.masterKey.seal(
            devIdpClientSecret(t.node.masterKey),
            loginSecretContext('other-idp'),
          ),
        },
      },
    })
    assert.equal(put.status, 201, put.text)
  })
  after(async () => {
    await other?.close()
    await t?.close()
    await store?.drop()
  })

  it("refuses Alice's login from another IdP, though its subject equals her binding at the demo IdP and the email matches", async () => {
    const jar = new CookieJar()
    const refused = await loginAtDevIdp(jar, t.node.url, 'u-1001', { idp: 'other-idp' })
    assert.equal(refused.status, 403)
    assert.match(await refused.text(), /not bound/)
    assert.ok(!jar.cookies.has('mandate_session'))
    // The same account at the IdP she is bound to logs her in.
    const ok = await loginAtDevIdp(new CookieJar(), t.node.url, 'u-1001', { idp: 'demo-idp' })
    assert.match(await ok.text(), /Hello, Alice Ng/)
  })

  it('lists both IdPs on the login page when no IdP is named', async () => {
    const page = await send(new CookieJar(), `${t.node.url}/login`)
    assert.equal(page.status, 200)
    const text = await page.text()
    assert.match(text, /href="\/login\?idp=demo-idp&amp;return_to=%2F"/)
    assert.match(text, /href="\/login\?idp=other-idp&amp;return_to=%2F"/)
  })

  it('answers 404 for an IdP that is not registered for login', async () => {
    assert.equal((await send(new CookieJar(), `${t.node.url}/login?idp=nope`)).status, 404)
    assert.equal((await send(new CookieJar(), `${t.node.url}/login?idp=github-actions`)).status, 404)
  })
})

describe('human login on an https issuer', () => {
  let store: TestStore
  let t: TestNode
  let idpServer: FastifyInstance
  before(async () => {
    store = (storeKinds[0] as (typeof storeKinds)[number]).create()
    // The node is reached through a TLS-terminating address; the cookies follow the issuer's scheme.
    t = await startTestNode(store, { issuer: 'https://mandate.example.com', devIdp: 'off', demoData: 'on' })
    let idp: DevIdp | undefined
    idpServer = Fastify()
    registerDevIdpRoutes(idpServer, () => {
      idp ??= new DevIdp({ nodeIssuer: 'https://mandate.example.com', masterKey: t.node.masterKey, origin })
      return idp
    })
    const origin = await idpServer.listen({ host: '127.0.0.1', port: 0 })
    const put = await t.call('PUT', '/api/v1/trusted-issuers/corp', {
      body: {
        issuer: `${origin}/dev-idp`,
        type: 'human_idp',
        // Bob is bound to no subject here: his first login binds him by his verified email.
        match_email: true,
        jwks: {
          keys: [
            {
              kty: 'EC',
              crv: 'P-256',
              x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
              y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
            },
          ],
        },
        login: {
          client_id: DEV_IDP_CLIENT_ID,
          client_secret_sealed: t.node.masterKey.seal(
            devIdpClientSecret(t.node.masterKey),
            loginSecretContext('corp'),
          ),
        },
      },
    })
    assert.equal(put.status, 201, put.text)
  })
  after(async () => {
    await idpServer?.close()
    await t?.close()
    await store?.drop()
  })

  it('sets its cookies Secure with the __Host- prefix, and checks forms against the https origin', async () => {
    const jar = new CookieJar()
    const start = await send(jar, `${t.node.url}/login?idp=corp`)
    assert.equal(start.status, 303, await start.clone().text())
    const line = String(jar.lines.get('__Host-mandate_login'))
    assert.match(line, /; Secure/)
    assert.match(line, /; HttpOnly/)
    assert.match(line, /; SameSite=Lax/)
    assert.match(line, /; Path=\//)
    assert.doesNotMatch(line, /Domain=/i)
    assert.equal(
      new URL(String(start.headers.get('location'))).searchParams.get('redirect_uri'),
      'https://mandate.example.com/login/callback',
    )
    // Sign in at the IdP, then bring its redirect to the https address back to this node's loopback address.
    const signIn = await follow(jar, t.node.url, start)
    const action = /<form method="post" action="([^"]+)"/.exec(await signIn.text())?.[1]
    assert.ok(action)
    let answer = await send(jar, new URL(action, signIn.url).href, { form: { account: 'u-1002' } })
    let base = signIn.url
    while (!String(answer.headers.get('location')).startsWith('https://mandate.example.com/')) {
      const next = new URL(String(answer.headers.get('location')), base).href
      answer = await send(jar, next)
      base = next
    }
    const callback = String(answer.headers.get('location')).replace('https://mandate.example.com', t.node.url)
    const landed = await send(jar, callback)
    assert.equal(landed.status, 303, await landed.text())
    const session = String(jar.lines.get('__Host-mandate_session'))
    assert.match(session, /; Secure/)
    assert.match(session, /; HttpOnly/)
    const page = await (await send(jar, `${t.node.url}/`)).text()
    assert.match(page, /Hello, Bob Okafor/)
    const token = String(/name="csrf_token" value="([^"]+)"/.exec(page)?.[1])
    const logout = (origin: string) =>
      send(jar, `${t.node.url}/logout`, { form: { csrf_token: token }, headers: { origin } })
    assert.equal((await logout(t.node.url)).status, 403, 'the plain-http address is another origin')
    assert.equal((await logout('https://mandate.example.com')).status, 200)
  })
})
