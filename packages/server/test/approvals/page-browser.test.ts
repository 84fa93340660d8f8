// In headless Chromium: a demo human logs in at the development IdP, opens the approvals page and approves an agent's
// action while the agent polls with AgentClient.requestApproval, which then resolves with the token; a forged form
// (no CSRF token) posted from the page's own origin is refused.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AgentClient, MandateOAuthError } from '@mandate/sdk'
import { decodeJwt } from 'jose'
import type { Page } from 'playwright-core'
import { closeBrowser, newContext } from '../support/browser.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'

const RESOURCE = 'https://tickets.example.com/'

describe('approvals page in a browser', () => {
  let store: TestStore
  let t: TestNode
  let agent: AgentClient

  before(async () => {
    store = sqliteStore()
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
    const created = await put('/api/v1/agents/pager', {
      sponsor: 'alice@example.com',
      classification: 'autonomous',
      ceiling: ['tickets:write'],
      credentials: [{ type: 'client_secret' }],
    })
    agent = new AgentClient({
      issuer: t.node.url,
      clientId: 'pager',
      credential: { type: 'client_secret', secret: created.issued_secrets[0].client_secret },
    })
  })
  after(async () => {
    await closeBrowser()
    await t?.close()
    await store?.drop()
  })

  async function signIn(page: Page, account: string, returnTo: string): Promise<void> {
    await page.goto(`${t.node.url}/login?return_to=${encodeURIComponent(returnTo)}`)
    await page.getByText('Development IdP: not for production').waitFor()
    await page.getByLabel(new RegExp(account)).check()
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL((url) => url.pathname === returnTo)
  }

  it('the sponsor approves from the approvals page while the agent polls; the agent gets a token for that action', async () => {
    let pending: (id: string) => void = () => {}
    const started = new Promise<string>((resolve) => {
      pending = resolve
    })
    // The agent's action is held by the policy; it waits for the approval the error names.
    const waiting = agent
      .getToken({ resource: RESOURCE, scope: 'tickets:write' })
      .then(() => assert.fail('the policy must hold the request'))
      .catch(async (error: unknown) => {
        if (!(error instanceof MandateOAuthError && error.code === 'approval_required')) throw error
        pending(String(error.approvalId))
        return agent.requestApproval({ approval: error })
      })
    const id = await started
    const context = await newContext()
    try {
      const page = await context.newPage()
      await signIn(page, 'Alice Ng', '/approvals')
      await page.getByRole('link', { name: 'pager' }).click()
      await page.waitForURL((url) => url.pathname === `/approvals/${id}`)
      assert.equal(await page.locator('#state').textContent(), 'pending')
      assert.match(String(await page.locator('main table').textContent()), /tickets:write/)
      await page.getByLabel('Reason (optional)').fill('looked at it')
      await page.getByRole('button', { name: 'Approve this action' }).click()
      await page.waitForFunction("document.querySelector('#state')?.textContent === 'approved'")
      const token = await waiting
      assert.equal(token.scope, 'tickets:write')
      assert.equal(decodeJwt(token.accessToken).sub, 'pager')
      const shown = (await t.call('GET', `/api/v1/approvals/${id}`)).json
      assert.equal(shown.state, 'used')
      assert.equal(shown.decided_by, 'human:alice@example.com')
      assert.equal(shown.reason, 'looked at it')
    } finally {
      await context.close()
    }
  })

  it('a form without the CSRF token, posted from the page itself, is refused and decides nothing', async () => {
    const held = await agent.getToken({ resource: RESOURCE, scope: 'tickets:write' }).catch((e: unknown) => e)
    assert.ok(held instanceof MandateOAuthError && held.approvalId)
    const id = held.approvalId
    const context = await newContext()
    try {
      const page = await context.newPage()
      await signIn(page, 'Alice Ng', `/approvals/${id}`)
      // Same origin, same session cookie, but the hidden token is gone.
      await page.evaluate(
        'for (const input of document.querySelectorAll(\'input[name="csrf_token"]\')) input.remove()',
      )
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith(`/approvals/${id}/approve`)),
        page.getByRole('button', { name: 'Approve this action' }).click(),
      ])
      assert.equal(response.status(), 403)
      assert.equal((await t.call('GET', `/api/v1/approvals/${id}`)).json.state, 'pending')
    } finally {
      await context.close()
    }
  })
})
