// Human login in headless Chromium: a demo human signs in at the bundled development IdP, lands back on Mandate with
// a session and sees their name; logout ends the session; the session cookie is HttpOnly (no script can read it),
// refused once expired; a form posted without or with a wrong CSRF token is refused 403; return_to to another origin
// is refused.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Page } from 'playwright-core'
import { closeBrowser, newContext } from '../support/browser.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'

describe('human login in a browser', () => {
  let store: TestStore
  let t: TestNode
  let offset = 0
  before(async () => {
    store = sqliteStore()
    t = await startTestNode(
      store,
      { demoData: 'on', devIdp: 'on', sessionIdleSeconds: 600, sessionMaxSeconds: 3600 },
      { now: () => Date.now() + offset },
    )
  })
  after(async () => {
    await closeBrowser()
    await t?.close()
    store?.drop()
  })

  async function signIn(page: Page, account: string, returnTo = '/'): Promise<void> {
    await page.goto(`${t.node.url}/login?return_to=${encodeURIComponent(returnTo)}`)
    await page.getByText('Development IdP: not for production').waitFor()
    await page.getByLabel(new RegExp(account)).check()
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL((url) => url.pathname === new URL(returnTo, t.node.url).pathname)
  }

  it('a demo human logs in at the development IdP, sees their name, and logout ends the session', async () => {
    const context = await newContext()
    try {
      const page = await context.newPage()
      await signIn(page, 'Alice Ng')
      assert.equal(await page.locator('h1').textContent(), 'Hello, Alice Ng')
      const cookie = (await context.cookies()).find((c) => c.name === 'mandate_session')
      assert.ok(cookie)
      assert.equal(cookie.httpOnly, true)
      assert.equal(cookie.sameSite, 'Lax')
      assert.equal(await page.evaluate('document.cookie.includes("mandate_session")'), false)
      await page.getByRole('button', { name: 'Log out' }).click()
      await page.getByText('You are logged out of Mandate.').waitFor()
      await page.goto(`${t.node.url}/`)
      assert.equal(await page.locator('h1').textContent(), 'Welcome')
      // The old cookie, put back, opens nothing.
      await context.addCookies([cookie])
      await page.goto(`${t.node.url}/`)
      assert.equal(await page.locator('h1').textContent(), 'Welcome')
    } finally {
      await context.close()
    }
  })

  it('refuses the session cookie once the session has expired', async () => {
    const context = await newContext()
    try {
      const page = await context.newPage()
      await signIn(page, 'Alice Ng')
      assert.equal(await page.locator('h1').textContent(), 'Hello, Alice Ng')
      offset += 601_000
      await page.goto(`${t.node.url}/`)
      assert.equal(await page.locator('h1').textContent(), 'Welcome')
    } finally {
      await context.close()
    }
  })

  it('refuses a form posted without the CSRF token or with a wrong one (403), and keeps the session', async () => {
    const context = await newContext()
    try {
      const page = await context.newPage()
      await signIn(page, 'Bob Okafor')
      for (const value of [undefined, 'wrong-token']) {
        await page.goto(`${t.node.url}/`)
        const field = page.locator('input[name="csrf_token"]')
        // What a forged page would send: the form without the session's token.
        if (value === undefined) await field.evaluate((input) => input.remove())
        else await field.evaluate((input, v) => input.setAttribute('value', v), value)
        const [response] = await Promise.all([
          page.waitForResponse((r) => r.url().endsWith('/logout')),
          page.getByRole('button', { name: 'Log out' }).click(),
        ])
        assert.equal(response.status(), 403, `csrf_token ${value ?? 'missing'}`)
      }
      await page.goto(`${t.node.url}/`)
      assert.equal(await page.locator('h1').textContent(), 'Hello, Bob Okafor')
    } finally {
      await context.close()
    }
  })

  it('refuses a return_to on another origin', async () => {
    const context = await newContext()
    try {
      const page = await context.newPage()
      const response = await page.goto(
        `${t.node.url}/login?return_to=${encodeURIComponent('//evil.example/')}`,
      )
      assert.equal(response?.status(), 400)
      assert.equal(new URL(page.url()).origin, new URL(t.node.url).origin)
      assert.match(String(await page.locator('main').textContent()), /must be a page of this site/)
    } finally {
      await context.close()
    }
  })
})
