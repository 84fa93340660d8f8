// Consent in headless Chromium, end to end with the SDK: the agent pushes its request, the human logs in at the
// development IdP, reads the consent page, narrows it (unchecks an action, lowers the budget, shortens the duration)
// and approves; the agent redeems the code at its loopback callback and gets exactly what was left, and no more.
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { AgentClient, MandateOAuthError } from '@mandate/sdk'
import { decodeJwt } from 'jose'
import { closeBrowser, newContext } from '../support/browser.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'

const RESOURCE = 'https://tickets.example.com/'

describe('consent in a browser', () => {
  let store: TestStore
  let t: TestNode
  let agent: AgentClient
  let callback: Server
  let callbackUrl: string
  const received: string[] = []

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
    })
    await put('/api/v1/policies/allow-tickets', {
      policies: '@id("all")\npermit (principal, action, resource);',
    })
    const scribe = await put('/api/v1/agents/scribe', {
      name: 'Scribe',
      sponsor: 'bob@example.com',
      classification: 'delegated',
      ceiling: ['tickets:read', 'tickets:write'],
      model: { provider: 'acme', name: 'writer', version: '2' },
      // A native agent's loopback redirect URI: any port matches (OAuth 2.1 §8.4.2).
      redirect_uris: ['http://127.0.0.1/cb'],
      credentials: [{ type: 'client_secret' }],
    })
    agent = new AgentClient({
      issuer: t.config.issuer,
      clientId: 'scribe',
      credential: { type: 'client_secret', secret: scribe.issued_secrets[0].client_secret },
    })
    // The agent's callback: records where the browser was sent back.
    callback = createServer((request, response) => {
      received.push(`${callbackUrl.replace(/\/cb$/, '')}${request.url}`)
      response.writeHead(200, { 'content-type': 'text/plain' }).end('You can close this window.')
    })
    await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', resolve))
    callbackUrl = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/cb`
  })
  after(async () => {
    await closeBrowser()
    await new Promise((resolve) => callback.close(resolve))
    await t.close()
    await store.drop()
  })

  it('a human logs in, narrows and approves; the agent gets exactly what is left, and the budget holds', async () => {
    const pending = await agent.authorizationUrl({
      redirectUri: callbackUrl,
      resource: RESOURCE,
      scope: 'tickets:read tickets:write',
      maxCalls: 5,
      durationSeconds: 7200,
    })
    const context = await newContext()
    try {
      const page = await context.newPage()
      await page.goto(pending.url)
      // Not logged in: the development IdP first, then back to the consent page.
      await page.getByText('Development IdP: not for production').waitFor()
      await page.getByLabel(/Alice Ng/).check()
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL((url) => url.pathname === '/consent')
      assert.equal(await page.locator('h1').textContent(), 'Scribe asks to act for you')
      const body = (await page.locator('main').textContent()) ?? ''
      assert.match(body, /Bob Okafor/)
      assert.match(body, /delegated/)
      assert.match(body, /acme writer 2/)
      assert.match(body, /tickets\.example\.com/)
      // Narrow: no write, 2 calls, 30 minutes.
      await page.getByRole('checkbox', { name: 'tickets:write' }).uncheck()
      await page.getByLabel(/Most calls/).fill('2')
      await page.getByLabel(/Valid for/).fill('30')
      await page.getByRole('button', { name: 'Approve' }).click()
      await page.waitForURL((url) => url.origin === new URL(callbackUrl).origin)
      assert.equal(await page.locator('body').textContent(), 'You can close this window.')
    } finally {
      await context.close()
    }
    const back = received.at(-1) as string
    assert.equal(new URL(back).searchParams.get('iss'), t.config.issuer)
    const token = await agent.redeemAuthorization(back, pending)
    const claims = decodeJwt(token.accessToken)
    assert.equal(claims.sub, 'alice@example.com')
    assert.deepEqual(claims.act, { sub: 'scribe' })
    assert.equal(claims.scope, 'tickets:read')
    const mandate = (await t.call('GET', `/api/v1/mandates/${token.mandateId}`)).json
    assert.deepEqual(mandate.actions, ['tickets:read'])
    assert.equal(mandate.budget.calls, 2)
    const minutes = (Date.parse(mandate.expires_at) - Date.now()) / 60_000
    assert.ok(minutes > 29 && minutes <= 30)
    // Two calls: the redemption and one refresh; the next refresh is refused.
    const next = await agent.refresh(token.refreshToken as string)
    await assert.rejects(
      agent.refresh(next.refreshToken as string),
      (e: unknown) => e instanceof MandateOAuthError && e.code === 'mandate_exhausted',
    )
  })

  it('deny sends the human back with access_denied, which the SDK reports', async () => {
    const pending = await agent.authorizationUrl({
      redirectUri: callbackUrl,
      resource: RESOURCE,
      scope: 'tickets:read',
    })
    const context = await newContext()
    try {
      const page = await context.newPage()
      await page.goto(pending.url)
      await page.getByLabel(/Alice Ng/).check()
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL((url) => url.pathname === '/consent')
      await page.getByRole('button', { name: 'Deny' }).click()
      await page.waitForURL((url) => url.origin === new URL(callbackUrl).origin)
    } finally {
      await context.close()
    }
    await assert.rejects(
      agent.redeemAuthorization(received.at(-1) as string, pending),
      (e: unknown) => e instanceof MandateOAuthError && e.code === 'access_denied',
    )
  })
})
