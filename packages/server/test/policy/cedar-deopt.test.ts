// Guards the V8 workaround in src/policy/cedar.ts: a lazy deoptimization of the caller while a cedar-wasm call runs
// must not abort the process (Node 20, V8 11.3: "Fatal error ... unreachable code" in DoComputeBuiltinContinuation).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { it } from 'node:test'
import { fileURLToPath } from 'node:url'

const fixture = fileURLToPath(new URL('./fixtures/v8/lazy-deopt-in-wasm.ts', import.meta.url))

it('a lazy deopt while cedar-wasm evaluates does not crash the process', () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', fixture], {
    encoding: 'utf8',
    timeout: 120_000,
  })
  assert.equal(run.signal, null, run.stderr)
  assert.equal(run.status, 0, run.stderr)
  assert.match(run.stdout, /survived 20000 evaluations, 20000 allowed/)
})
