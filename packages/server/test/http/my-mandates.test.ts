// "My mandates" over real HTTP: a logged-in human sees the mandates they gave, with the use against the budget and
// the agent's last actions under each, and revokes one with a CSRF-protected form; the agent's next exchange is
// refused. Another human's mandates are neither shown nor revocable.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AgentClient } from '@mandate/sdk'
import { DEMO_AGENT, demoIdpKey, devIdpIssuer, signDemoIdpToken } from '../../src/registry/demo.ts'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'
import { CookieJar, loginAtDevIdp, send } from '../support/web-login.ts'

for (const kind of storeKinds) {
  describe(`my mandates (${kind.name})`, () => {
    let store: TestStore
    let t: TestNode
    before(async () => {
      store = kind.create()
      t = await startTestNode(store, { demoData: 'on', devIdp: 'on' })
    })
    after(async () => {
      await t?.close()
      store?.drop()
    })

    const grant = async (human: string, calls: number) => {
      const granted = await t.call('POST', '/api/v1/mandates', {
        body: {
          human,
          agent: DEMO_AGENT.id,
          actions: ['crm:read'],
          resource_servers: ['crm'],
          expires_at: new Date(Date.now() + 3600_000).toISOString(),
          budget: { calls },
        },
      })
      assert.equal(granted.status, 201, granted.text)
      return String(granted.json.id)
    }
    const exchange = async (human: string) => {
      const agent = AgentClient.fromEnv({
        MANDATE_URL: t.node.url,
        MANDATE_CLIENT_ID: DEMO_AGENT.id,
        MANDATE_PRIVATE_KEY_FILE: String(t.node.demoAgentKeyFile),
      })
      const doc = await t.call('GET', `/api/v1/humans/${human}`)
      const subjectToken = await signDemoIdpToken(demoIdpKey(t.node.masterKey).privateKey, doc.json, {
        issuer: devIdpIssuer(t.node.url),
        audience: t.node.url,
        scope: 'crm:read',
        lifetimeSeconds: 300,
        now: Date.now(),
      })
      return agent.exchange({ subjectToken, resource: 'https://crm.example.com/', scope: 'crm:read' })
    }

    it('sends a visitor without a session to login, and answers the JSON form 401', async () => {
      const page = await send(new CookieJar(), `${t.node.url}/me/mandates`)
      assert.equal(page.status, 303)
      assert.equal(page.headers.get('location'), '/login?return_to=%2Fme%2Fmandates')
      assert.equal((await send(new CookieJar(), `${t.node.url}/me/mandates.json`)).status, 401)
    })

    it('lists the mandates the human gave with their use and the last actions, and revokes one with the CSRF token only', async () => {
      const alices = await grant('alice@example.com', 3)
      const bobs = await grant('bob@example.com', 5)
      await exchange('alice@example.com')
      await exchange('alice@example.com')
      const jar = new CookieJar()
      await loginAtDevIdp(jar, t.node.url, 'u-1001')

      const json = await send(jar, `${t.node.url}/me/mandates.json`)
      assert.equal(json.status, 200)
      const { items } = (await json.json()) as {
        items: Array<{ id: string; usage: { calls: number }; last_actions: Array<{ action: string }> }>
      }
      assert.deepEqual(
        items.map((m) => m.id),
        [alices],
        "only Alice's own mandate",
      )
      assert.equal(items[0]?.usage.calls, 2)
      assert.deepEqual(
        items[0]?.last_actions.map((a) => a.action),
        ['crm:read', 'crm:read'],
      )

      const page = await (await send(jar, `${t.node.url}/me/mandates`)).text()
      assert.match(page, /Support chatbot/)
      assert.match(page, /2 of 3 calls/)
      assert.ok(!page.includes(bobs))
      const token = /name="csrf_token" value="([^"]+)"/.exec(page)?.[1]
      assert.ok(token)
      const revoke = (id: string, form: Record<string, string>, headers = { origin: t.node.url }) =>
        send(jar, `${t.node.url}/me/mandates/${id}/revoke`, { form, headers })

      assert.equal((await revoke(alices, {})).status, 403)
      assert.equal((await revoke(alices, { csrf_token: 'nope' })).status, 403)
      assert.equal(
        (await revoke(alices, { csrf_token: token }, { origin: 'https://evil.example' })).status,
        403,
      )
      assert.equal((await t.call('GET', `/api/v1/mandates/${alices}`)).json.status, 'active')
      assert.equal(
        (await revoke(bobs, { csrf_token: token })).status,
        404,
        "Bob's mandate is not Alice's to revoke",
      )
      assert.equal((await t.call('GET', `/api/v1/mandates/${bobs}`)).json.status, 'active')

      const done = await revoke(alices, { csrf_token: token })
      assert.equal(done.status, 303)
      assert.equal(done.headers.get('location'), '/me/mandates')
      const revoked = await t.call('GET', `/api/v1/mandates/${alices}`)
      assert.equal(revoked.json.status, 'revoked')
      assert.equal(revoked.json.revoked_by, 'human:alice@example.com')
      await assert.rejects(exchange('alice@example.com'), (error: Error) => /revoked/.test(String(error)))
      assert.doesNotMatch(await (await send(jar, `${t.node.url}/me/mandates`)).text(), /Revoke this mandate/)
    })
  })
}
