// Attack finding (issue 10): every entity a request names is kept by the node for as long as it runs. The compiled
// evaluator interns entity references (`entityUid` in src/policy/compiled/values.ts) in a module-level map that is never
// emptied, and the decision point interns the principal and resource of every request (src/policy/pdp.ts), registered
// or not. A PEP that names fresh ids (random request ids, up to 512 characters each, 1,000 per batch) grows the node's
// heap by about 1 kB per id until the process runs out of memory: a denial of service by an authenticated caller, and
// the "caches are objects the wiring creates" rule broken (state hidden at module level, bounded by nothing).
// The decision cache is turned off here so that what grows is only what the node keeps outside it.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { applyFile, pepKey, scenario } from '../policy/authzen-fixture.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'

setFlagsFromString('--expose-gc')
const collect = runInNewContext('gc') as () => void

/** Heap in use after a full collection, in bytes. */
function heapInUse(): number {
  collect()
  collect()
  return process.memoryUsage().heapUsed
}

const BATCHES = 80
const PER_BATCH = 200
const PAD = 'x'.repeat(450)

describe('entities named by AuthZEN requests are not kept by the node (issue 10)', () => {
  let store: TestStore
  let test: TestNode
  let key: string

  before(async () => {
    store = sqliteStore()
    test = await startTestNode(store, { decisionCacheSize: 0 })
    await applyFile(test, scenario('search'))
    key = await pepKey(test)
  })
  after(async () => {
    await test?.close()
    await store?.drop()
  })

  const batch = async (round: string) => {
    const evaluations = Array.from({ length: PER_BATCH }, (_, i) => ({
      subject: { type: 'user', id: `${PAD}-${round}-${i}` },
      resource: { type: 'record', id: `${PAD}-r-${round}-${i}` },
    }))
    const res = await fetch(`${test.node.url}/access/v1/evaluations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ action: { name: 'view' }, evaluations }),
    })
    const body = (await res.json()) as { evaluations?: Array<{ decision: boolean }> }
    assert.equal(res.status, 200)
    assert.equal(body.evaluations?.length, PER_BATCH)
    assert.ok(
      body.evaluations.every((e) => e.decision === false),
      'unknown users own nothing',
    )
  }

  it(`${BATCHES * PER_BATCH} evaluations naming fresh subjects and resources leave the heap where it was`, async () => {
    // Warm up: compiled code, connection pools, audit batches.
    for (let round = 0; round < 5; round++) await batch(`warm-${round}`)
    const before = heapInUse()
    for (let round = 0; round < BATCHES; round++) await batch(`${round}`)
    const grown = heapInUse() - before
    // 32,000 entity ids of about 460 characters: kept, they are some 35 MB; forgotten, the heap moves by noise only.
    assert.ok(
      grown < 8 * 1024 * 1024,
      `the heap grew by ${(grown / 1024 / 1024).toFixed(1)} MB after ${BATCHES * PER_BATCH} evaluations of fresh ids`,
    )
  })
})
