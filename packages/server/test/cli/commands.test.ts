// The admin commands of `mandate` (get, list, delete, keys, audit export, admin token), kind aliases, help and exit codes.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { createServer } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'
import { adminEnv, type CliResult, cliEnv, hasStackTrace, runCli } from './run-cli.ts'

interface ExportedEvent {
  seq: number
  time: string
  type: string
  subjects: string[]
}

function expectOk(result: CliResult): void {
  assert.equal(
    result.code,
    0,
    `exit code ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
  )
}

function jsonLines(stdout: string): ExportedEvent[] {
  assert.ok(stdout.endsWith('\n'), 'output ends with a newline')
  return stdout
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line))
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())))
  return address.port
}

describe('mandate admin commands', () => {
  let store: TestStore
  let test: TestNode

  const mandate = (...args: string[]) => runCli(args, { env: adminEnv(test) })
  const mandateJson = async (...args: string[]) => {
    const result = await runCli(['--json', ...args], { env: adminEnv(test) })
    expectOk(result)
    return JSON.parse(result.stdout)
  }
  const put = async (path: string, body: Record<string, unknown>) => {
    const response = await test.call('PUT', `/api/v1/${path}`, { body })
    assert.equal(response.status, 201, response.text)
  }
  const allEvents = async (): Promise<ExportedEvent[]> => {
    const response = await test.call('GET', '/api/v1/audit/events?limit=1000')
    assert.equal(response.json.next_after, null)
    return response.json.items
  }

  before(async () => {
    store = sqliteStore()
    test = await startTestNode(store)
    for (const id of ['alice', 'bob']) await put(`humans/${id}`, { email: `${id}@example.com` })
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
    await put('trusted-issuers/gha', {
      issuer: 'https://token.actions.example.com',
      type: 'workload',
      jwks: { keys: [jwk] },
    })
    await put('agents/helper', { sponsor: 'alice', classification: 'delegated', ceiling: ['crm:read'] })
    await put('agents/retire-me', { sponsor: 'alice', classification: 'autonomous', ceiling: [] })
    await put('agents/bobs-bot', { sponsor: 'bob', classification: 'autonomous', ceiling: [] })
    await put('groups/team', { members: [{ kind: 'human', id: 'alice' }] })
    const patched = await test.call('PATCH', '/api/v1/agents/helper', {
      body: { name: 'Helper' },
      headers: { 'content-type': 'application/merge-patch+json' },
    })
    assert.equal(patched.status, 200, patched.text)
  })

  after(async () => {
    await test?.close()
    await store?.drop()
  })

  describe('reading', () => {
    it('get prints one object', async () => {
      const agent = await mandateJson('get', 'agent', 'helper')
      assert.equal(agent.id, 'helper')
      assert.equal(agent.sponsor, 'alice')
      assert.equal(agent.name, 'Helper')
    })

    it('accepts a kind as plural, as its document name or with a dash', async () => {
      const results = await Promise.all([
        mandateJson('get', 'agents', 'helper'),
        mandateJson('get', 'Agent', 'helper'),
        mandateJson('get', 'trusted-issuer', 'gha'),
      ])
      assert.deepEqual(
        results.map((o) => o.id),
        ['helper', 'helper', 'gha'],
      )
      assert.equal(results[2].issuer, 'https://token.actions.example.com')
    })

    it('list --filter returns only the matching objects', async () => {
      const items = await mandateJson('list', 'agents', '--filter', 'sponsor=alice')
      assert.deepEqual(
        items.map((o: { id: string }) => o.id),
        ['helper', 'retire-me'],
      )
    })

    it('list prints one line per object for people', async () => {
      const result = await mandate('list', 'agents', '--filter', 'sponsor=bob', 'status=active')
      expectOk(result)
      assert.equal(result.stdout, 'bobs-bot\tautonomous\tactive\tsponsor=bob\n')
    })
  })

  describe('delete', () => {
    it('retires an agent', async () => {
      const result = await mandate('delete', 'agent', 'retire-me')
      expectOk(result)
      assert.equal(result.stdout, 'agent retire-me retired\n')
      assert.equal((await test.call('GET', '/api/v1/agents/retire-me')).json.status, 'retired')
    })

    it('deactivates a human, which suspends the agents they sponsor', async () => {
      const result = await mandate('delete', 'human', 'bob')
      expectOk(result)
      assert.equal(result.stdout, 'human bob inactive\n')
      assert.equal((await test.call('GET', '/api/v1/humans/bob')).json.status, 'inactive')
      const agent = (await test.call('GET', '/api/v1/agents/bobs-bot')).json
      assert.deepEqual([agent.status, agent.suspended_reason], ['suspended', 'sponsor_inactive'])
    })

    it('deletes a group', async () => {
      const result = await mandate('delete', 'group', 'team')
      expectOk(result)
      assert.equal(result.stdout, 'group team deleted\n')
      assert.equal((await test.call('GET', '/api/v1/groups/team')).status, 404)
    })
  })

  describe('keys', () => {
    it('lists the signing keys, and rotate publishes a new pending key', async () => {
      const before = await mandateJson('keys', 'list')
      assert.deepEqual(
        before.map((k: { state: string }) => k.state),
        ['active'],
      )
      const rotated = await mandateJson('keys', 'rotate', '--reason', 'cli test rotation')
      assert.equal(typeof rotated.kid, 'string')
      assert.ok(
        Date.parse(rotated.activates_at) > Date.now(),
        'the new key signs only after the propagation delay',
      )
      const afterRotation = await mandateJson('keys', 'list')
      assert.deepEqual(
        afterRotation.map((k: { kid: string; state: string }) => `${k.kid} ${k.state}`).sort(),
        [`${before[0].kid} active`, `${rotated.kid} pending`].sort(),
      )
      const events = await allEvents()
      const rotation = events.find((e) => e.type === 'key.rotate')
      assert.equal((rotation as unknown as { reason: string } | undefined)?.reason, 'cli test rotation')
    })
  })

  describe('audit export', () => {
    it('writes every event, one JSON object per line, in order', async () => {
      const result = await mandate('audit', 'export', '--format', 'jsonl')
      expectOk(result)
      const expected = await allEvents()
      assert.ok(expected.length > 10)
      assert.deepEqual(jsonLines(result.stdout), expected)
    })

    it('--principal keeps only events by or about that principal', async () => {
      const result = await mandate('audit', 'export', '--principal', 'agent:retire-me')
      expectOk(result)
      const events = jsonLines(result.stdout)
      assert.deepEqual(
        events.map((e) => e.type),
        ['admin.agent.create', 'admin.agent.update'],
      )
      assert.ok(events.every((e) => e.subjects.includes('agent:retire-me')))
    })

    it('--type with a trailing dot keeps only events of that prefix', async () => {
      const result = await mandate('audit', 'export', '--type', 'admin.agent.')
      expectOk(result)
      const expected = (await allEvents()).filter((e) => e.type.startsWith('admin.agent.'))
      // create helper, retire-me, bobs-bot; update helper; retire retire-me; suspend bobs-bot
      assert.equal(expected.length, 6)
      assert.deepEqual(
        jsonLines(result.stdout).map((e) => e.seq),
        expected.map((e) => e.seq),
      )
    })

    it('--since is inclusive and --until exclusive', async () => {
      const events = await allEvents()
      const times = [...new Set(events.map((e) => e.time))].sort()
      assert.ok(times.length >= 4, 'events at four distinct times at least')
      const since = times[1] as string
      const until = times.at(-2) as string
      const result = await mandate('audit', 'export', '--since', since, '--until', until)
      expectOk(result)
      const expected = events.filter((e) => e.time >= since && e.time < until)
      assert.ok(expected.length > 0 && expected.length < events.length)
      assert.deepEqual(
        jsonLines(result.stdout).map((e) => e.seq),
        expected.map((e) => e.seq),
      )
    })
  })

  describe('exit codes', () => {
    it('2 for an unknown command', async () => {
      const result = await mandate('frobnicate')
      assert.equal(result.code, 2)
      assert.match(result.stderr, /unknown command 'frobnicate'/)
    })

    it('2 for an unknown option of the top-level command', async () => {
      const result = await mandate('--frobnicate', 'list', 'agents')
      assert.equal(result.code, 2)
      assert.match(result.stderr, /unknown option '--frobnicate'/)
    })

    it('2 for an unknown option of a subcommand', async () => {
      const result = await mandate('list', '--frobnicate', 'agents')
      assert.match(result.stderr, /unknown option '--frobnicate'/)
      assert.equal(result.code, 2)
    })

    it('2 for an unknown kind, listing the kinds', async () => {
      const result = await mandate('get', 'robot', 'r2')
      assert.equal(result.code, 2)
      assert.equal(
        result.stderr,
        'mandate: unknown kind "robot"; one of TrustedIssuer, ResourceServer, Human, Workload, Agent, Group, EntityType, Entity, Policy\n',
      )
    })

    it('3 when the node cannot be reached', async () => {
      const port = await closedPort()
      const result = await runCli(['list', 'agents'], {
        env: adminEnv(test, { MANDATE_URL: `http://127.0.0.1:${port}` }),
      })
      assert.equal(result.code, 3)
      assert.match(result.stderr, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}`))
      assert.ok(!hasStackTrace(result.stderr))
    })

    it('1 when the object does not exist, naming it without a stack trace', async () => {
      const result = await mandate('delete', 'trusted-issuer', 'ghost')
      assert.equal(result.code, 1)
      assert.equal(result.stderr, 'mandate: TrustedIssuer "ghost" does not exist (not_found)\n')
    })

    it('2 without MANDATE_TOKEN, saying how to get a token', async () => {
      const result = await runCli(['list', 'agents'], { env: cliEnv({ MANDATE_URL: test.node.url }) })
      assert.equal(result.code, 2)
      assert.match(result.stderr, /MANDATE_TOKEN/)
      assert.match(result.stderr, /mandate admin token/)
      assert.equal(result.stdout, '')
    })
  })

  describe('help', () => {
    it('--help describes the commands and exit codes', async () => {
      const result = await runCli(['--help'], { env: cliEnv() })
      expectOk(result)
      assert.match(result.stdout, /^Usage: mandate /)
      for (const command of ['serve', 'apply', 'get', 'list', 'delete', 'keys', 'audit'])
        assert.match(result.stdout, new RegExp(`^ {2}${command}\\b`, 'm'))
      assert.match(result.stdout, /Exit codes: 0 ok/)
    })

    it('--help of a subcommand describes its options', async () => {
      const result = await runCli(['audit', 'export', '--help'], { env: cliEnv() })
      expectOk(result)
      assert.match(result.stdout, /^Usage: mandate audit export /)
      for (const option of ['--format', '--since', '--until', '--principal', '--type'])
        assert.ok(result.stdout.includes(option), option)
    })
  })

  describe('admin token', () => {
    const storeEnv = (): Record<string, string> =>
      cliEnv({ MANDATE_DATA_DIR: test.config.dataDir, MANDATE_MASTER_KEY: test.config.masterKey })

    it('creates a working admin token from the store directly', async () => {
      const result = await runCli(['--json', 'admin', 'token', '--name', 'ci'], { env: storeEnv() })
      expectOk(result)
      const issued = JSON.parse(result.stdout)
      assert.equal(issued.role, 'admin')
      assert.match(issued.token, /^mnd_adm_/)
      assert.equal((await test.call('GET', '/api/v1/agents/helper', { token: issued.token })).status, 200)
      const created = await test.call('PUT', '/api/v1/humans/made-by-ci', { body: {}, token: issued.token })
      assert.equal(created.status, 201)
    })

    it('--read-only creates a token that may read but not write', async () => {
      const result = await runCli(['--json', 'admin', 'token', '--read-only'], { env: storeEnv() })
      expectOk(result)
      const issued = JSON.parse(result.stdout)
      assert.equal(issued.role, 'reader')
      assert.equal((await test.call('GET', '/api/v1/agents/helper', { token: issued.token })).status, 200)
      const refused = await test.call('PUT', '/api/v1/humans/reader-made', { body: {}, token: issued.token })
      assert.equal(refused.status, 403)
      assert.equal(refused.json.error, 'forbidden')
      assert.equal((await test.call('GET', '/api/v1/humans/reader-made')).status, 404)
    })

    it('revoke-token revokes a token by id from the store directly; the running node refuses it after its poll', async () => {
      const made = await runCli(['--json', 'admin', 'token', '--name', 'short-lived'], { env: storeEnv() })
      expectOk(made)
      const issued = JSON.parse(made.stdout)
      // The node has seen (and keeps) the token.
      assert.equal((await test.call('GET', '/api/v1/agents/helper', { token: issued.token })).status, 200)
      const revoked = await runCli(['--json', 'admin', 'revoke-token', issued.id], { env: storeEnv() })
      expectOk(revoked)
      assert.deepEqual(JSON.parse(revoked.stdout), { id: issued.id, revoked: true })
      // What the node's 500 ms timer does, done now.
      await test.node.adminTokens.refresh()
      assert.equal((await test.call('GET', '/api/v1/agents/helper', { token: issued.token })).status, 401)
      const again = await runCli(['admin', 'revoke-token', issued.id], { env: storeEnv() })
      assert.notEqual(again.code, 0)
      assert.match(again.stderr, /no live admin token has the id/)
    })
  })
})
