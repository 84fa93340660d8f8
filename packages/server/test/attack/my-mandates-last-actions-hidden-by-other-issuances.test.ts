// My mandates shows the agent's last actions under each mandate by reading the agent's first 1000 `token.issue`
// records since the mandate was granted (oldest first), then keeping those of this mandate. An agent that serves many
// humans (or simply acts often) pushes the newest actions under Alice's mandate past that window: Alice's page says
// "No action yet" while the agent acts for her. The page must show the newest actions under the mandate, whatever
// else the agent did.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AgentClient } from '@mandate/sdk'
import { DEMO_AGENT, demoIdpKey, devIdpIssuer, signDemoIdpToken } from '../../src/registry/demo.ts'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'
import { CookieJar, loginAtDevIdp, send } from '../support/web-login.ts'

for (const kind of storeKinds) {
  describe(`my mandates last actions beyond 1000 other issuances (${kind.name})`, () => {
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

    const grant = async (human: string) => {
      const granted = await t.call('POST', '/api/v1/mandates', {
        body: {
          human,
          agent: DEMO_AGENT.id,
          actions: ['crm:read'],
          resource_servers: ['crm'],
          expires_at: new Date(Date.now() + 3600_000).toISOString(),
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

    it("shows the agent's newest action under Alice's mandate after the agent issued 1000 tokens for Bob", async () => {
      const alices = await grant('alice@example.com')
      await grant('bob@example.com')
      for (let batch = 0; batch < 50; batch++)
        await Promise.all(Array.from({ length: 20 }, () => exchange('bob@example.com')))
      await exchange('alice@example.com')

      const jar = new CookieJar()
      await loginAtDevIdp(jar, t.node.url, 'u-1001')
      const json = await send(jar, `${t.node.url}/me/mandates.json`)
      assert.equal(json.status, 200)
      const { items } = (await json.json()) as {
        items: Array<{ id: string; usage: { calls: number }; last_actions: Array<{ action: string }> }>
      }
      const mine = items.find((m) => m.id === alices)
      assert.equal(mine?.usage.calls, 1, 'the mandate was used once')
      assert.equal(mine?.last_actions.length, 1, 'and that use is shown among its last actions')
    })
  })
}
