// `mandate approvals list|show|approve|deny` against a running node, while the agent polls over CIBA.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type OAuthFixture, RESOURCE, startOAuthFixture } from '../oauth/oauth-fixture.ts'
import { sqliteStore, type TestStore } from '../support/harness.ts'
import { adminEnv, type CliResult, hasStackTrace, runCli } from './run-cli.ts'

const CIBA = 'urn:openid:params:grant-type:ciba'

function expectOk(result: CliResult): void {
  assert.equal(
    result.code,
    0,
    `exit code ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
  )
}

describe('mandate approvals', () => {
  let store: TestStore
  let f: OAuthFixture

  const form = (params: Record<string, string>) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: 'secret-bot',
      client_secret: f.secrets['secret-bot'] ?? '',
      ...params,
    }),
  })
  const start = async (message: string) => {
    const res = await fetch(
      `${f.issuer}/oauth/bc-authorize`,
      form({ scope: 'tickets:read', resource: RESOURCE, binding_message: message }),
    )
    const body = (await res.json()) as { auth_req_id: string }
    return body.auth_req_id
  }
  const poll = async (id: string) =>
    (await (
      await fetch(`${f.issuer}/oauth/token`, form({ grant_type: CIBA, auth_req_id: id }))
    ).json()) as Record<string, unknown>
  const cli = (...args: string[]) => runCli(args, { env: adminEnv(f.node) })

  before(async () => {
    store = sqliteStore()
    f = await startOAuthFixture(store)
  })
  after(async () => {
    await f.close()
    await store.drop()
  })

  it('lists pending requests, shows exactly the action, and approves one: the polling agent gets its token', async () => {
    const id = await start('Read ticket 9')
    const other = await start('Read ticket 10')
    const listed = await cli('--json', 'approvals', 'list')
    expectOk(listed)
    const items = JSON.parse(listed.stdout) as Array<{ id: string; state: string }>
    assert.deepEqual(
      items.map((a) => a.id),
      [other, id],
      'newest first',
    )
    const people = await cli('approvals', 'list')
    expectOk(people)
    assert.match(people.stdout, new RegExp(`${id}\\tpending\\tsecret-bot\\ttickets:read\\ton ${RESOURCE}`))

    const shown = await cli('approvals', 'show', id)
    expectOk(shown)
    assert.match(shown.stdout, /message: {3}"Read ticket 9"/)
    assert.match(shown.stdout, /approver: {2}human:alice@example\.com \(sponsor\)/)
    assert.match(shown.stdout, /hash: {6}sha256:[0-9a-f]{64}/)

    assert.equal((await poll(id)).error, 'authorization_pending')
    const approved = await cli('--json', 'approvals', 'approve', id, '--reason', 'reviewed')
    expectOk(approved)
    assert.equal(JSON.parse(approved.stdout).decided_as, 'admin')
    const token = await poll(id)
    assert.equal(token.scope, 'tickets:read', JSON.stringify(token))

    const denied = await cli('approvals', 'deny', other)
    expectOk(denied)
    assert.equal(denied.stdout.trim(), `approval ${other} denied`)
    assert.equal((await poll(other)).error, 'access_denied')
  })

  it('refuses to decide twice, and names unknown ids, without a stack trace', async () => {
    const id = await start('twice')
    expectOk(await cli('approvals', 'deny', id))
    const again = await cli('approvals', 'approve', id)
    assert.equal(again.code, 1)
    assert.match(again.stderr, /already denied/)
    const unknown = await cli('approvals', 'show', 'apr_nothing')
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /does not exist/)
    const usage = await cli('approvals', 'list', '--state', 'maybe')
    assert.equal(usage.code, 2)
    for (const result of [again, unknown, usage]) assert.ok(!hasStackTrace(result.stderr))
  })
})
