// Entity parents never form a cycle: whichever write would close one (PUT, POST, merge-patch, apply) is refused with a
// 400 naming the parent and the cycle, on both stores; a hierarchy without one (a diamond) is accepted. Two nodes on
// one store, each writing half of a cycle at the same time: exactly one write passes, because registry writes are
// serialized across nodes and each checks the parents as its own transaction sees them.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { openCore } from '../../src/main.ts'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'

type Refusal = { status: number; json: { error?: string; fields?: Array<{ path: string; message: string }> } }

function refusedAt(res: Refusal, path: string, cycle: string): void {
  assert.equal(res.status, 400, JSON.stringify(res.json))
  assert.equal(res.json.error, 'validation_failed')
  assert.deepEqual(
    res.json.fields?.map((f) => f.path),
    [path],
    JSON.stringify(res.json),
  )
  assert.match(res.json.fields?.[0]?.message ?? '', new RegExp(`would close a cycle of parents: ${cycle}`))
}

for (const kind of storeKinds) {
  describe(`entity parents never form a cycle (${kind.name})`, () => {
    let store: TestStore
    let node: TestNode
    before(async () => {
      store = kind.create()
      node = await startTestNode(store)
      const folder = await node.call('PUT', '/api/v1/entity-types/folder', {
        body: { attributes: {}, actions: ['read'], member_of: ['folder'] },
      })
      assert.ok(folder.status < 300, folder.text)
    })
    after(async () => {
      await node.close()
      await store.drop()
    })

    const put = (id: string, parents: string[]) =>
      node.call('PUT', `/api/v1/entities/${id}`, { body: { parents } })
    const parentsOf = async (id: string) => (await node.call('GET', `/api/v1/entities/${id}`)).json.parents

    it('refuses a PUT that closes a cycle of two, naming it; the stored parents stay', async () => {
      assert.equal((await put('folder:g', [])).status, 201)
      assert.equal((await put('folder:f', ['folder:g'])).status, 201)
      refusedAt(await put('folder:g', ['folder:f']), '/parents/0', 'folder:g in folder:f in folder:g')
      assert.deepEqual(await parentsOf('folder:g'), [])
    })

    it('refuses an entity as its own parent', async () => {
      refusedAt(await put('folder:self', ['folder:self']), '/parents/0', 'folder:self in folder:self')
      assert.equal((await node.call('GET', '/api/v1/entities/folder:self')).status, 404)
    })

    it('refuses a longer cycle by merge-patch and by POST, naming the parent that closes it', async () => {
      assert.equal((await put('folder:a', [])).status, 201)
      assert.equal((await put('folder:b', ['folder:a'])).status, 201)
      assert.equal((await put('folder:c', ['folder:b'])).status, 201)
      const patched = await node.call('PATCH', '/api/v1/entities/folder:a', {
        body: { parents: ['folder:x', 'folder:c'] },
        headers: { 'content-type': 'application/merge-patch+json' },
      })
      refusedAt(patched, '/parents/1', 'folder:a in folder:c in folder:b in folder:a')
      assert.deepEqual(await parentsOf('folder:a'), [])
      // A new entity cannot close a cycle unless its id is already somebody's parent.
      assert.equal((await put('folder:d', ['folder:new'])).status, 201)
      const created = await node.call('POST', '/api/v1/entities', {
        body: { id: 'folder:new', parents: ['folder:d'] },
      })
      refusedAt(created, '/parents/0', 'folder:new in folder:d in folder:new')
    })

    it('refuses an apply whose documents close a cycle among themselves: nothing is written', async () => {
      const applied = await node.call('POST', '/api/v1/apply', {
        body: {
          documents: [
            { kind: 'Entity', id: 'folder:p', parents: ['folder:q'] },
            { kind: 'Entity', id: 'folder:q', parents: ['folder:r'] },
            { kind: 'Entity', id: 'folder:r', parents: ['folder:p'] },
          ],
        },
      })
      refusedAt(applied, '/documents/2/parents/0', 'folder:r in folder:p in folder:q in folder:r')
      for (const id of ['folder:p', 'folder:q', 'folder:r'])
        assert.equal((await node.call('GET', `/api/v1/entities/${id}`)).status, 404, id)
    })

    it('accepts a hierarchy without a cycle: a diamond, and a parent met twice', async () => {
      assert.equal((await put('folder:top', [])).status, 201)
      assert.equal((await put('folder:left', ['folder:top'])).status, 201)
      assert.equal((await put('folder:right', ['folder:top'])).status, 201)
      assert.equal((await put('folder:bottom', ['folder:left', 'folder:right', 'folder:top'])).status, 201)
      // Moving a folder up its own chain is no cycle either.
      assert.equal((await put('folder:left', ['folder:right'])).status, 200)
    })

    it('two nodes writing each half of a cycle at once: exactly one passes', async () => {
      const other = await openCore(node.config)
      const ctx = { actor: { kind: 'system' as const, id: 'entity-parents-test' } }
      try {
        for (let round = 0; round < 5; round++) {
          const [x, y] = [`folder:race${round}x`, `folder:race${round}y`]
          const outcomes = await Promise.allSettled([
            node.node.registry.put('Entity', x, { parents: [y] }, ctx),
            other.registry.put('Entity', y, { parents: [x] }, ctx),
          ])
          const passed = outcomes.filter((o) => o.status === 'fulfilled')
          assert.equal(passed.length, 1, `round ${round}: ${JSON.stringify(outcomes)}`)
          const refused = outcomes.find((o) => o.status === 'rejected')
          assert.match(String((refused as PromiseRejectedResult).reason?.fields?.[0]?.message), /cycle/)
        }
      } finally {
        await other.close()
      }
    })
  })
}
