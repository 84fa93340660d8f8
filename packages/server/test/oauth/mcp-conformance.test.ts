// The public MCP conformance suite's authorization server metadata scenario against a running node (MCP
// authorization: RFC 8414 metadata with the authorization and token endpoints, the code flow, PKCE S256).
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'
import { conformanceSuite } from '../support/mcp-conformance.ts'

describe('MCP conformance: authorization server metadata', () => {
  let store: TestStore
  let t: TestNode

  before(async () => {
    store = sqliteStore()
    t = await startTestNode(store)
  })
  after(async () => {
    await t.close()
    await store.drop()
  })

  it('@modelcontextprotocol/conformance authorization --scenario authorization-server-metadata-endpoint passes', async () => {
    const suite = conformanceSuite()
    const run = await runSuite(suite.node, [
      suite.cli,
      'authorization',
      '--url',
      t.config.issuer,
      '--scenario',
      'authorization-server-metadata-endpoint',
    ])
    const output = `${run.stdout}\n${run.stderr}`
    assert.equal(run.status, 0, `the scenario failed:\n${output}`)
    assert.match(output, /passed/i)
    assert.doesNotMatch(output, /[1-9]\d* failed/)
  })
})

// Run asynchronously: the node under test answers from this very process.
function runSuite(
  command: string,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    const timer = setTimeout(() => child.kill(), 120_000)
    child.on('error', reject)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}
