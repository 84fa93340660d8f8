// Admin tokens and PEP keys are kept in memory by each node, and a revocation reaches every node: two nodes share one
// store; a key created on one works on the other at its first use (no answer "unknown" is kept), and a key revoked on
// one is refused by the other once it has polled (what its 500 ms timer does).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'

const EVALUATION = {
  subject: { type: 'agent', id: 'nobody' },
  action: { name: 'read' },
  resource: { type: 'resource_server', id: 'nothing' },
}

for (const kind of storeKinds)
  describe(`admin token and PEP key cache (${kind.name})`, () => {
    let store: TestStore
    let a: TestNode
    let b: TestNode
    before(async () => {
      store = kind.create()
      a = await startTestNode(store)
      // The same store and master key: a second node of one deployment.
      b = await startTestNode(store, { masterKey: a.config.masterKey, bootstrapToken: a.token })
    })
    after(async () => {
      await b?.close()
      await a?.close()
      await store?.drop()
    })

    const issue = async (node: TestNode, role: 'admin' | 'pep') => {
      const issued = await node.node.adminTokens.issue({
        name: role,
        role,
        actor: { kind: 'system', id: 'test' },
      })
      assert.ok(issued)
      return issued
    }

    it('a token refused as unknown on one node is accepted there as soon as another node creates it', async () => {
      const token = `mnd_adm_${'x'.repeat(43)}`
      assert.equal((await b.call('GET', '/api/v1/agents', { token })).status, 401)
      await a.node.adminTokens.issue({
        name: 'late',
        role: 'admin',
        actor: { kind: 'system', id: 'test' },
        token,
      })
      assert.equal((await b.call('GET', '/api/v1/agents', { token })).status, 200)
    })

    it('an admin token revoked on one node is refused there at once, and by the other after its next poll', async () => {
      const { id, token } = await issue(a, 'admin')
      // Both nodes have seen (and cached) it.
      assert.equal((await a.call('GET', '/api/v1/agents', { token })).status, 200)
      assert.equal((await b.call('GET', '/api/v1/agents', { token })).status, 200)
      assert.equal(await a.node.adminTokens.revoke(id, { kind: 'system', id: 'test' }), true)
      assert.equal((await a.call('GET', '/api/v1/agents', { token })).status, 401)
      await b.node.adminTokens.refresh()
      assert.equal((await b.call('GET', '/api/v1/agents', { token })).status, 401)
      assert.equal(await a.node.adminTokens.revoke(id, { kind: 'system', id: 'test' }), false, 'once only')
      const records = await a.node.audit.read(a.node.database.db, { limit: 10, type: 'admin.token.revoke' })
      assert.deepEqual(
        records.map((r) => r.resource),
        [`admin_token:${id}`],
      )
    })

    it('a PEP key revoked on one node stops authenticating AuthZEN calls on the other', async () => {
      const { id, token } = await issue(a, 'pep')
      const evaluate = (node: TestNode) =>
        node.call('POST', '/access/v1/evaluation', { token, body: EVALUATION })
      assert.equal((await evaluate(b)).status, 200)
      await a.node.adminTokens.revoke(id, { kind: 'system', id: 'test' })
      await b.node.adminTokens.refresh()
      assert.equal((await evaluate(b)).status, 401)
      assert.equal((await evaluate(a)).status, 401)
    })

    it('another token stays accepted when one is revoked', async () => {
      const kept = await issue(a, 'admin')
      const gone = await issue(a, 'admin')
      assert.equal((await b.call('GET', '/api/v1/agents', { token: kept.token })).status, 200)
      await a.node.adminTokens.revoke(gone.id, { kind: 'system', id: 'test' })
      await b.node.adminTokens.refresh()
      assert.equal((await b.call('GET', '/api/v1/agents', { token: kept.token })).status, 200)
      assert.equal((await b.call('GET', '/api/v1/agents', { token: gone.token })).status, 401)
    })
  })
