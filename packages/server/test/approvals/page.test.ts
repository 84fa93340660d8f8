// The approvals page over HTTP, with humans logged in at the development IdP: the named approver sees exactly the
// action and decides it with a CSRF-protected form; a form without the token or from another origin is refused, and
// another human can neither see nor decide it. The agent then redeems its approval.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'
import { CookieJar, loginAtDevIdp, send } from '../support/web-login.ts'

const RESOURCE = 'https://tickets.example.com/'
const CIBA = 'urn:openid:params:grant-type:ciba'

for (const kind of storeKinds) {
  describe(`approvals page (${kind.name})`, () => {
    let store: TestStore
    let t: TestNode
    let secret: string

    const form = (params: Record<string, string>) => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'pager', client_secret: secret, ...params }),
    })
    const start = async () => {
      const res = await fetch(
        `${t.node.url}/oauth/bc-authorize`,
        form({ scope: 'tickets:write', resource: RESOURCE, binding_message: 'Escalate ticket 77' }),
      )
      assert.equal(res.status, 200)
      return ((await res.json()) as { auth_req_id: string }).auth_req_id
    }
    const poll = async (id: string) =>
      (await (
        await fetch(`${t.node.url}/oauth/token`, form({ grant_type: CIBA, auth_req_id: id }))
      ).json()) as Record<string, unknown>
    const csrfOf = (page: string) => /name="csrf_token" value="([^"]+)"/.exec(page)?.[1] ?? ''

    before(async () => {
      store = kind.create()
      t = await startTestNode(store, { demoData: 'on', devIdp: 'on', approvalPollIntervalSeconds: 1 })
      const put = async (path: string, body: unknown) => {
        const res = await t.call('PUT', path, { body })
        assert.ok(res.status < 300, `${path}: ${res.text}`)
        return res.json
      }
      await put('/api/v1/resource-servers/tickets', { audience: RESOURCE, scopes: ['tickets:write'] })
      await put('/api/v1/policies/tickets-approval', {
        policies: '@id("ask") @approval("sponsor") permit (principal == agent::"pager", action, resource);',
      })
      const agent = await put('/api/v1/agents/pager', {
        sponsor: 'alice@example.com',
        classification: 'autonomous',
        ceiling: ['tickets:write'],
        credentials: [{ type: 'client_secret' }],
      })
      secret = agent.issued_secrets[0].client_secret
    })
    after(async () => {
      await t?.close()
      await store?.drop()
    })

    it('the sponsor sees the request on /approvals, exactly the action, and approves it; the agent gets its token', async () => {
      const id = await start()
      const alice = new CookieJar()
      await loginAtDevIdp(alice, t.node.url, 'u-1001', { returnTo: '/approvals' })
      const list = await (await send(alice, `${t.node.url}/approvals`)).text()
      assert.match(list, new RegExp(`href="/approvals/${id}"`))
      const detail = await send(alice, `${t.node.url}/approvals/${id}`)
      assert.equal(detail.status, 200)
      assert.match(String(detail.headers.get('content-security-policy')), /frame-ancestors 'none'/)
      const page = await detail.text()
      assert.match(page, /<code>tickets:write<\/code>/)
      assert.match(page, /<code>https:\/\/tickets\.example\.com\/<\/code>/)
      assert.match(page, /<q>Escalate ticket 77<\/q>/)
      assert.match(page, /<code>agent:pager<\/code>/)
      assert.match(page, /sponsored by <code>alice@example\.com<\/code>/)
      assert.match(page, /<strong id="state">pending<\/strong>/)

      assert.equal((await poll(id)).error, 'authorization_pending')
      const approved = await send(alice, `${t.node.url}/approvals/${id}/approve`, {
        form: { csrf_token: csrfOf(page), reason: 'fine' },
        headers: { origin: t.node.url },
      })
      assert.equal(approved.status, 303)
      assert.equal(approved.headers.get('location'), `/approvals/${id}`)
      const after = await (await send(alice, `${t.node.url}/approvals/${id}`)).text()
      assert.match(after, /<strong id="state">approved<\/strong>/)
      assert.match(after, /by <code>human:alice@example\.com<\/code> as approver/)

      const token = await poll(id)
      assert.equal(token.scope, 'tickets:write', JSON.stringify(token))
      const record = (
        await t.call('GET', '/api/v1/audit/events?type=approval.approve&limit=100')
      ).json.items.find((r: { details: { approval_id: string } }) => r.details.approval_id === id)
      assert.deepEqual(record.actors, [{ kind: 'human', id: 'alice@example.com' }])
      assert.equal(record.details.decided_as, 'approver')
      assert.equal(record.reason, 'fine')
    })

    it('refuses the approve form without the CSRF token, with a wrong one, or from another origin (403)', async () => {
      const id = await start()
      const alice = new CookieJar()
      await loginAtDevIdp(alice, t.node.url, 'u-1001')
      const token = csrfOf(await (await send(alice, `${t.node.url}/approvals/${id}`)).text())
      assert.ok(token)
      const post = (fields: Record<string, string>, headers: Record<string, string>) =>
        send(alice, `${t.node.url}/approvals/${id}/approve`, { form: fields, headers })
      assert.equal((await post({}, { origin: t.node.url })).status, 403)
      // Another token: its last character changed (to one it is not).
      // The first character: all six of its bits count (the last one's low bits may be base64 padding).
      const wrong = `${token.startsWith('A') ? 'B' : 'A'}${token.slice(1)}`
      assert.equal((await post({ csrf_token: wrong }, { origin: t.node.url })).status, 403)
      assert.equal((await post({ csrf_token: token }, { origin: 'https://evil.example' })).status, 403)
      // Without any session the form decides nothing either.
      const anonymous = await send(new CookieJar(), `${t.node.url}/approvals/${id}/approve`, {
        form: { csrf_token: token },
        headers: { origin: t.node.url },
      })
      assert.equal(anonymous.status, 403)
      assert.equal((await t.call('GET', `/api/v1/approvals/${id}`)).json.state, 'pending')
    })

    it('another human neither sees nor decides it; a logged-out visitor is sent to log in', async () => {
      const id = await start()
      const bob = new CookieJar()
      await loginAtDevIdp(bob, t.node.url, 'u-1002')
      const list = await (await send(bob, `${t.node.url}/approvals`)).text()
      assert.doesNotMatch(list, new RegExp(id))
      const detail = await send(bob, `${t.node.url}/approvals/${id}`)
      assert.equal(detail.status, 404)
      const token = csrfOf(await (await send(bob, `${t.node.url}/approvals`)).text())
      const tried = await send(bob, `${t.node.url}/approvals/${id}/approve`, {
        form: { csrf_token: token },
        headers: { origin: t.node.url },
      })
      assert.equal(tried.status, 404)
      assert.equal((await t.call('GET', `/api/v1/approvals/${id}`)).json.state, 'pending')
      const visitor = await send(new CookieJar(), `${t.node.url}/approvals/${id}`)
      assert.equal(visitor.status, 303)
      assert.equal(
        visitor.headers.get('location'),
        `/login?return_to=${encodeURIComponent(`/approvals/${id}`)}`,
      )
      assert.equal((await send(bob, `${t.node.url}/approvals/not%20an%20id`)).status, 400)
    })
  })
}
