// `mandate policy validate | test | explain` as people and CI run them: located diagnostics, a failing case fails the
// command, and explain shows the policies that decided a request on a running node.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { sqliteStore, startTestNode, type TestNode, type TestStore, tempDir } from '../support/harness.ts'
import { adminEnv, cliEnv, hasStackTrace, runCli } from './run-cli.ts'

const examples = fileURLToPath(new URL('../../../../examples/policies/', import.meta.url))

describe('mandate policy', () => {
  const dir = tempDir()
  after(() => dir.drop())
  const file = (name: string, text: string) => {
    const path = join(dir.path, name)
    writeFileSync(path, text)
    return path
  }

  it('validate: an unknown attribute is reported at its line and column with Cedar help; exit 1', async () => {
    const bad = file(
      'bad.cedar',
      '// support\n@id("dept")\npermit (principal is agent, action, resource)\nwhen { principal.department == "x" };\n',
    )
    const result = await runCli(['policy', 'validate', bad, '-d', join(examples, 'registry.yaml')], {
      env: cliEnv(),
    })
    assert.equal(result.code, 1, result.stderr)
    assert.match(
      result.stdout,
      /bad\.cedar:4:8: bad\/dept: .*attribute `department` on entity type `agent` not found/,
    )
    assert.match(result.stdout, /help: did you mean/)
    assert.ok(!hasStackTrace(result.stdout + result.stderr))
  })

  it('validate: the starter policies are valid against the demo registry; --json says so', async () => {
    const result = await runCli(
      [
        '--json',
        'policy',
        'validate',
        join(examples, 'agents.cedar'),
        join(examples, 'care.cedar'),
        '-d',
        join(examples, 'registry.yaml'),
      ],
      { env: cliEnv() },
    )
    assert.equal(result.code, 0, result.stdout + result.stderr)
    assert.deepEqual(JSON.parse(result.stdout), { valid: true, policy_sets: 2, problems: [] })
  })

  it('test: a case whose decision differs fails the command and shows what decided it', async () => {
    const cases = file(
      'cases.yaml',
      [
        `documents: [${join(examples, 'registry.yaml')}]`,
        `policies: [${join(examples, 'agents.cedar')}]`,
        'cases:',
        '  - name: wrong on purpose',
        '    principal: agent:fraud-watch',
        '    action: payments:read',
        '    resource: resource_server:risk',
        '    mode: autonomous',
        '    expect: deny',
        '  - principal: agent:support-bot',
        '    action: crm:read',
        '    resource: resource_server:crm',
        '    mode: delegated',
        '    delegator: alice@example.com',
        '    expect: allow',
      ].join('\n'),
    )
    const result = await runCli(['policy', 'test', cases], { env: cliEnv() })
    assert.equal(result.code, 1)
    assert.match(
      result.stdout,
      /FAIL wrong on purpose: allow by agents\/autonomous\.own-authority \(expected deny\)/,
    )
    assert.match(result.stdout, /ok {3}agent:support-bot crm:read resource_server:crm: allow/)
    assert.match(result.stdout, /1 passed, 1 failed/)
  })

  it('test: a malformed cases file is a clear error, not a stack trace', async () => {
    const cases = file(
      'broken.yaml',
      'cases:\n  - principal: nobody\n    action: x\n    resource: a:b\n    expect: allow\n',
    )
    const result = await runCli(['policy', 'test', cases], { env: cliEnv() })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /cases\[0\]\.principal: must be "type:id"/)
    assert.ok(!hasStackTrace(result.stderr))
  })

  describe('explain (against a node)', () => {
    let store: TestStore
    let node: TestNode
    before(async () => {
      store = sqliteStore()
      node = await startTestNode(store, { demoData: 'on' })
    })
    after(async () => {
      await node.close()
      await store.drop()
    })

    it('shows the decision and the text of the determining policies, and records the explanation', async () => {
      const result = await runCli(
        [
          'policy',
          'explain',
          '--principal',
          'agent:care-assistant',
          '--action',
          'records:read',
          '--resource',
          'resource_server:ehr',
          '--mode',
          'autonomous',
        ],
        { env: adminEnv(node) },
      )
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stdout, /^decision: deny/)
      assert.match(
        result.stdout,
        /care\/records\.only-for-the-patient \(forbid\):\n@id\("records\.only-for-the-patient"\)/,
      )
      const json = await runCli(
        [
          '--json',
          'policy',
          'explain',
          '--principal',
          'agent:care-assistant',
          '--action',
          'records:read',
          '--resource',
          'resource_server:ehr',
          '--mode',
          'delegated',
          '--delegator',
          'alice@example.com',
        ],
        { env: adminEnv(node) },
      )
      const explanation = JSON.parse(json.stdout)
      assert.equal(explanation.decision, 'allow')
      assert.equal(explanation.obligations.maxTtlSeconds, 60)
      const records = (await node.call('GET', '/api/v1/audit/events?type=policy.explain')).json.items
      assert.equal(records.length, 2)
    })

    it('issue 8: explain says when a gate stopped the request before any policy (beyond the ceiling)', async () => {
      const result = await runCli(
        [
          'policy',
          'explain',
          '--principal',
          'agent:care-scheduler',
          '--action',
          'payments:read',
          '--resource',
          'resource_server:risk',
          '--mode',
          'autonomous',
        ],
        { env: adminEnv(node) },
      )
      assert.equal(result.code, 0, result.stderr)
      assert.equal(
        result.stdout,
        'decision: deny\nstopped before any policy: beyond_ceiling (payments:read is beyond the ceiling of agent care-scheduler)\n',
      )
    })

    it('issue 8: explain with a --delegator the registry does not know fails and names the field', async () => {
      const result = await runCli(
        [
          'policy',
          'explain',
          '--principal',
          'agent:support-bot',
          '--action',
          'crm:read',
          '--resource',
          'resource_server:crm',
          '--mode',
          'delegated',
          '--delegator',
          'nobody@example.com',
        ],
        { env: adminEnv(node) },
      )
      assert.equal(result.code, 1)
      assert.match(result.stderr, /\/delegator: delegator names no registered human \(nobody@example\.com\)/)
      assert.ok(!hasStackTrace(result.stderr))
    })

    it('bad arguments are usage errors (exit 2)', async () => {
      const result = await runCli(
        ['policy', 'explain', '--principal', 'nobody', '--action', 'x', '--resource', 'a:b'],
        { env: adminEnv(node) },
      )
      assert.equal(result.code, 2)
      assert.match(result.stderr, /--principal must be type:id/)
    })
  })
})
