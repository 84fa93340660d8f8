// Readiness over real HTTP: `/readyz` answers 200 only while the database answers and the node's audit writer thread is
// ready, since a node that cannot record refuses everything that must be recorded.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'

for (const kind of storeKinds)
  describe(`/readyz and the audit writer (${kind.name})`, () => {
    let store: TestStore
    let t: TestNode

    before(async () => {
      store = kind.create()
      t = await startTestNode(store)
    })

    after(async () => {
      await t?.close().catch(() => {})
      await store?.drop()
    })

    it('a started node is ready: database and audit writer ok, and a decision it records is answered', async () => {
      const res = await t.call('GET', '/readyz', { token: null })
      assert.equal(res.status, 200, res.text)
      assert.deepEqual(res.json, { status: 'ready', checks: { database: 'ok', audit_writer: 'ok' } })
      // The writer it reports ready records: an admin token's audit search sees a record the writer thread wrote.
      await t.node.recorder.record({
        type: 'test.readyz',
        outcome: 'success',
        actors: [{ kind: 'system', id: 't' }],
      })
      const events = await t.call('GET', '/api/v1/audit/events?type=test.readyz&limit=10')
      assert.equal(events.status, 200, events.text)
      assert.equal(events.json.items.length, 1)
    })

    it('once its audit writer is closed, the node answers 503 (audit writer unavailable); /healthz stays 200', async () => {
      await t.node.recorder.close()
      const res = await t.call('GET', '/readyz', { token: null })
      assert.equal(res.status, 503, res.text)
      assert.deepEqual(res.json, {
        status: 'unavailable',
        checks: { database: 'ok', audit_writer: 'unavailable' },
      })
      assert.equal((await t.call('GET', '/healthz', { token: null })).status, 200)
    })
  })
