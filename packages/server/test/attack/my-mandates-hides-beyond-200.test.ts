// My mandates lists the human's mandates with `limit: 200`, newest first, and nothing pages on: once a human has given
// more than 200 (each consent grants a new one), the oldest ones, still active, are neither shown nor offered for
// revocation on the page or in /me/mandates.json. Every active mandate the human gave must be listed (or reachable).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { DEMO_AGENT } from '../../src/registry/demo.ts'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'
import { CookieJar, loginAtDevIdp, send } from '../support/web-login.ts'

for (const kind of storeKinds) {
  describe(`my mandates with more than 200 mandates (${kind.name})`, () => {
    let store: TestStore
    let t: TestNode
    before(async () => {
      store = kind.create()
      t = await startTestNode(store, { demoData: 'on', devIdp: 'on' })
    })
    after(async () => {
      await t?.close()
      await store?.drop()
    })

    const grant = async () => {
      const granted = await t.call('POST', '/api/v1/mandates', {
        body: {
          human: 'alice@example.com',
          agent: DEMO_AGENT.id,
          actions: ['crm:read'],
          resource_servers: ['crm'],
          expires_at: new Date(Date.now() + 3600_000).toISOString(),
        },
      })
      assert.equal(granted.status, 201, granted.text)
      return String(granted.json.id)
    }

    it("lists Alice's first mandate, still active, after she gave 200 more", async () => {
      const first = await grant()
      for (let batch = 0; batch < 10; batch++) await Promise.all(Array.from({ length: 20 }, grant))
      const jar = new CookieJar()
      await loginAtDevIdp(jar, t.node.url, 'u-1001')
      const json = await send(jar, `${t.node.url}/me/mandates.json`)
      assert.equal(json.status, 200)
      const { items } = (await json.json()) as { items: Array<{ id: string; status: string }> }
      assert.ok(
        items.some((m) => m.id === first),
        `the active mandate ${first} is listed among ${items.length}`,
      )
    })
  })
}
