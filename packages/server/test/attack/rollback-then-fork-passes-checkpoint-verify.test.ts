// Attack finding: someone with the database alone cuts the newest records and puts an old, validly MACed head back.
// The running node notices (it saw a later head) and refuses, as promised. But once another node (one that never read
// this node's checkpoint file) has written past the head the first node saw, the first node accepts the forked chain
// and resumes writing, and its next checkpoint signs the fork. `mandate audit verify --checkpoints FILE` checks only
// the newest checkpoint of each epoch, so the file's earlier checkpoint, which names a record that is no longer in the
// log, is never compared, and the cut is reported "intact". docs/security.md: "`mandate audit verify --checkpoints
// FILE` proves that nothing before the newest checkpoint was removed or rewritten, before or after later writes";
// docs/deployment.md: a node refuses when "the head went back from one the node had seen".
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { readCheckpointLines } from '../../src/audit/checkpoint.ts'
import type { AuditHeadRow } from '../../src/store/tables.ts'
import { adminEnv, runCli } from '../cli/run-cli.ts'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'

for (const kind of storeKinds) {
  describe(`a cut log, forked by another node, against the first node's checkpoints (${kind.name})`, () => {
    let store: TestStore
    let first: TestNode | undefined
    let other: TestNode | undefined
    let checkpoints: string
    let signedSeq: number

    before(async () => {
      store = kind.create()
      const dataDir = (store.settings as { dataDir: string }).dataDir
      checkpoints = join(dataDir, 'first-node-checkpoints.jsonl')
      let node = await startTestNode(store, { auditCheckpointFile: checkpoints })
      const keep = {
        masterKey: node.config.masterKey,
        bootstrapToken: node.config.bootstrapToken,
        auditCheckpointFile: checkpoints,
      }
      assert.equal((await node.call('PUT', '/api/v1/humans/erin', { body: {} })).status, 201)
      const saved: AuditHeadRow = await node.node.database.db
        .selectFrom('audit_head')
        .selectAll()
        .executeTakeFirstOrThrow()
      for (const id of ['frank', 'grace', 'heidi'])
        assert.equal((await node.call('PUT', `/api/v1/humans/${id}`, { body: {} })).status, 201)
      await node.close() // publishes a checkpoint of the head it leaves
      const signed = (await readCheckpointLines(checkpoints)).at(-1)
      assert.ok(signed && signed.seq > saved.seq)
      signedSeq = signed.seq

      // The first node runs again, having read its checkpoint.
      first = await startTestNode(store, keep)
      node = first
      // Someone with the database alone: delete the newest records and put the old head back.
      const db = first.node.database.db
      await db.deleteFrom('audit_events').where('seq', '>', saved.seq).execute()
      await db.updateTable('audit_head').set(saved).where('id', '=', 1).execute()
      const refused = await first.call('PUT', '/api/v1/humans/ivan', { body: {} })
      assert.equal(refused.status, 503, 'the first node notices the cut')

      // Another node of the deployment, with its own checkpoint file, extends the cut log past the old head.
      other = await startTestNode(store, { ...keep, auditCheckpointFile: join(dataDir, 'other-node.jsonl') })
      for (let i = 0; ; i++) {
        const head = await db.selectFrom('audit_head').select('seq').executeTakeFirstOrThrow()
        if (Number(head.seq) > signedSeq) break
        assert.equal((await other.call('PUT', `/api/v1/humans/filler-${i}`, { body: {} })).status, 201)
      }
    })
    after(async () => {
      await first?.close()
      await other?.close()
      await store?.drop()
    })

    it('the first node still refuses writes: the record it signed is no longer in the log', async () => {
      assert.ok(first)
      const write = await first.call('PUT', '/api/v1/humans/judy', { body: {} })
      assert.equal(write.status, 503, `the first node resumed on the forked chain: ${write.text}`)
    })

    it("`mandate audit verify --checkpoints` with the first node's file reports the checkpoint mismatch (exit 4), also after that node stopped", async () => {
      assert.ok(first)
      await first.close() // publishes a checkpoint if it trusts the head
      const env = adminEnv(other as TestNode)
      first = undefined
      const result = await runCli(['audit', 'verify', '--checkpoints', checkpoints], { env })
      assert.equal(result.code, 4, `record ${signedSeq} was cut and rewritten, yet: ${result.stdout}`)
      assert.match(result.stdout, /checkpoint_mismatch/)
    })
  })
}
