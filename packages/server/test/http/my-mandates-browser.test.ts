// My mandates in headless Chromium: Alice logs in at the development IdP, opens My mandates from the home page, sees
// the mandate she gave support-bot with its use, revokes it with the form, and the page shows it revoked.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { DEMO_AGENT } from '../../src/registry/demo.ts'
import { closeBrowser, newContext } from '../support/browser.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'

describe('my mandates in a browser', () => {
  let store: TestStore
  let t: TestNode
  before(async () => {
    store = sqliteStore()
    t = await startTestNode(store, { demoData: 'on', devIdp: 'on' })
  })
  after(async () => {
    await closeBrowser()
    await t?.close()
    await store?.drop()
  })

  it('a human revokes a mandate they gave from the My mandates page', async () => {
    const granted = await t.call('POST', '/api/v1/mandates', {
      body: {
        human: 'alice@example.com',
        agent: DEMO_AGENT.id,
        actions: ['crm:read'],
        resource_servers: ['crm'],
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
        budget: { calls: 10 },
      },
    })
    assert.equal(granted.status, 201, granted.text)
    const context = await newContext()
    try {
      const page = await context.newPage()
      await page.goto(`${t.node.url}/me/mandates`)
      // Not logged in: sent to login, and back here after it.
      await page.getByLabel(/Alice Ng/).check()
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL(`${t.node.url}/me/mandates`)
      const section = page.getByRole('region', { name: /Support chatbot/ })
      await section.getByText('0 of 10 calls').waitFor()
      await section.getByRole('button', { name: 'Revoke this mandate' }).click()
      await page.waitForURL(`${t.node.url}/me/mandates`)
      await section.getByText(/revoked since/).waitFor()
      assert.equal(await section.getByRole('button', { name: 'Revoke this mandate' }).count(), 0)
      assert.equal((await t.call('GET', `/api/v1/mandates/${granted.json.id}`)).json.status, 'revoked')
    } finally {
      await context.close()
    }
  })
})
