// The starter policies ship twice: as examples/policies/*.cedar for people, and inside the demo data for `npm start`.
// They must be the same text, and their cases must pass (`mandate policy test`).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { AGENTS_POLICIES, CARE_POLICIES } from '../../src/registry/demo-policies.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '../../../..')
const cli = join(root, 'packages/server/bin/mandate.js')

test('the demo data seeds exactly the example policy files', () => {
  assert.equal(AGENTS_POLICIES, readFileSync(join(root, 'examples/policies/agents.cedar'), 'utf8'))
  assert.equal(CARE_POLICIES, readFileSync(join(root, 'examples/policies/care.cedar'), 'utf8'))
})

test('mandate policy test: every case of the starter policies passes', () => {
  const run = spawnSync(
    process.execPath,
    [cli, '--json', 'policy', 'test', 'examples/policies/agents.test.yaml'],
    {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, MANDATE_LOG_LEVEL: 'silent' },
    },
  )
  assert.equal(run.status, 0, run.stdout + run.stderr)
  const result = JSON.parse(run.stdout) as { passed: number; failed: number }
  assert.equal(result.failed, 0)
  assert.ok(result.passed >= 10)
})
