// The README tour's delegated section, as written, end to end (issue 9): on a node seeded with the demo data, the demo
// agent asks for a mandate (`mandate demo consent`), Alice logs in at the development IdP in a real browser, lowers the
// budget and approves; the agent acts under the mandate (`mandate demo act`) with tokens whose sub is Alice, act the
// agent and mandate_id the grant, is refused beyond it and once the budget is used up; Alice sees the use on "My
// mandates" and revokes it; the next action is refused and the tokens issued under it no longer introspect as active.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { AgentClient } from '@mandate/sdk'
import { decodeJwt } from 'jose'
import { closeBrowser, newContext } from '../support/browser.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'
import { cliEnv, MANDATE_BIN, runCli } from './run-cli.ts'

describe('the README delegated tour: consent, use, refusal, revocation', () => {
  let store: TestStore
  let t: TestNode
  let env: Record<string, string>

  before(async () => {
    store = sqliteStore()
    t = await startTestNode(store, { demoData: 'on', devIdp: 'on' })
    env = cliEnv({ MANDATE_URL: t.node.url, MANDATE_DATA_DIR: String(t.config.dataDir) })
  })
  after(async () => {
    await closeBrowser()
    await t.close()
    await store.drop()
  })

  const act = (scope = 'crm:read') => runCli(['demo', 'act', '--scope', scope], { env })

  it('runs as written', async () => {
    // 1. The agent asks; the command prints the URL to open and waits for the answer.
    const consent = spawn(process.execPath, [MANDATE_BIN, 'demo', 'consent', '--calls', '5'], { env })
    let stdout = ''
    let stderr = ''
    consent.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    const url = await new Promise<string>((resolve, reject) => {
      consent.stderr.on('data', (chunk) => {
        stderr += chunk
        const found = /(http:\/\/\S+\/oauth\/authorize\?\S+)/.exec(stderr)
        if (found) resolve(found[1] as string)
      })
      consent.on('exit', (code) => reject(new Error(`demo consent ended (${code}): ${stderr}`)))
    })
    const exited = new Promise<number | null>((resolve) => consent.on('exit', resolve))

    // 2. Alice logs in at the development IdP, reads what support-bot asks, lowers the budget to 3 and approves.
    const context = await newContext()
    try {
      const page = await context.newPage()
      await page.goto(url)
      await page.getByText('Development IdP: not for production').waitFor()
      await page.getByLabel(/Alice Ng/).check()
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL((u) => u.pathname === '/consent')
      const asked = (await page.locator('main').textContent()) ?? ''
      assert.match(asked, /Support chatbot/)
      assert.match(asked, /crm:read/)
      assert.match(asked, /example support-llm 2026-11/)
      await page.getByLabel(/Most calls/).fill('3')
      await page.getByRole('button', { name: 'Approve' }).click()
      await page.getByText('You can close this tab').waitFor()
    } finally {
      await context.close()
    }
    assert.equal(await exited, 0, stderr)
    const mandateId = /consented: mandate (mdt_\S+)/.exec(stdout)?.[1]
    assert.ok(mandateId, stdout)
    const mandate = (await t.call('GET', `/api/v1/mandates/${mandateId}`)).json
    assert.equal(mandate.human, 'alice@example.com')
    assert.equal(mandate.agent, 'support-bot')
    assert.equal(mandate.budget.calls, 3, 'the budget Alice lowered')
    assert.equal(mandate.source, 'consent')

    // 3. The agent acts: the code redemption spent one call, so two actions succeed.
    const first = await act()
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stdout, /sub alice@example\.com, act \{"sub":"support-bot"\}, mandate mdt_/)
    assert.ok(first.stdout.includes(mandateId))
    // Beyond the mandate: crm:write is in the agent's ceiling but Alice granted only crm:read.
    const beyond = await act('crm:write')
    assert.equal(beyond.code, 1)
    assert.match(beyond.stderr, /refused: invalid_scope/)
    assert.equal((await act()).code, 0)
    const exhausted = await act()
    assert.equal(exhausted.code, 1)
    assert.match(exhausted.stderr, /refused: mandate_exhausted/)

    // 4. Alice sees the use on My mandates and revokes the mandate.
    const revoking = await newContext()
    try {
      const page = await revoking.newPage()
      await page.goto(`${t.node.url}/me/mandates`)
      await page.getByLabel(/Alice Ng/).check()
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL((u) => u.pathname === '/me/mandates')
      const listed = (await page.locator('main').textContent()) ?? ''
      assert.match(listed, /3 of 3 calls/)
      await page.getByRole('button', { name: 'Revoke this mandate' }).click()
      await page.waitForURL((u) => u.pathname === '/me/mandates')
    } finally {
      await revoking.close()
    }
    assert.equal((await t.call('GET', `/api/v1/mandates/${mandateId}`)).json.status, 'revoked')

    // 5. The next action is refused, and what was issued under the mandate is no longer active.
    const revoked = await act()
    assert.equal(revoked.code, 1)
    assert.match(revoked.stderr, /refused: mandate_revoked/)
    const issued = await t.call('GET', `/api/v1/audit/events?type=token.issue&limit=50`)
    const underMandate = (issued.json.items as Array<{ details: Record<string, unknown> }>).filter(
      (e) => e.details.mandate_id === mandateId,
    )
    assert.ok(underMandate.length >= 3, 'the redemption and both actions are recorded under the mandate')
    // The delegated token `demo consent` kept, introspected by its own client (RFC 7662 §4): inactive once revoked.
    const kept = JSON.parse(readFileSync(join(String(t.config.dataDir), 'demo-consent.json'), 'utf8'))
    // It holds a refresh token: readable by its owner only.
    assert.equal(statSync(join(String(t.config.dataDir), 'demo-consent.json')).mode & 0o777, 0o600)
    assert.equal(decodeJwt(kept.access_token).mandate_id, mandateId)
    const agent = AgentClient.fromEnv({
      MANDATE_URL: t.node.url,
      MANDATE_CLIENT_ID: 'support-bot',
      MANDATE_PRIVATE_KEY_FILE: join(String(t.config.dataDir), 'demo-agent.jwk'),
    })
    assert.equal((await agent.introspect(kept.access_token)).active, false)
  })
})
