// A cycle of entity parents already in the store (written before the registry refused them, or by hand) never
// satisfies `in`: every decision that reads the hierarchy above an entity with a cycle at or above it fails, and
// denies, as Cedar refuses such a hierarchy; the rest of the registry is decided as before. The cycle is written here
// straight into the store, as the registry no longer writes one, and the node reads it through its change feed.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'
import { pepKey, post } from './authzen-fixture.ts'

const POLICIES = `
@id("in-f") permit (principal is user, action == Action::"read", resource in folder::"f");
@id("in-h") permit (principal is user, action == Action::"read", resource in folder::"h");
@id("any-write") permit (principal is user, action == Action::"write", resource);
@id("not-in-g") forbid (principal, action == Action::"write", resource in folder::"g");`

for (const engine of ['compiled', 'cedar-wasm'] as const)
  describe(`entities above which the store holds a cycle are decided deny (${engine})`, () => {
    let store: TestStore
    let test: TestNode
    let key: string

    before(async () => {
      store = sqliteStore()
      test = await startTestNode(store, { policyEngine: engine })
      for (const [path, body] of [
        ['/api/v1/entity-types/folder', { attributes: {}, actions: [], member_of: ['folder'] }],
        ['/api/v1/entity-types/doc', { attributes: {}, actions: ['read', 'write'], member_of: ['folder'] }],
        ['/api/v1/entity-types/user', { principal: true, attributes: {}, actions: [] }],
        ['/api/v1/entities/folder:g', { parents: [] }],
        ['/api/v1/entities/folder:f', { parents: ['folder:g'] }],
        ['/api/v1/entities/folder:h', { parents: [] }],
        ['/api/v1/entities/doc:only-in-g', { parents: ['folder:g'] }],
        ['/api/v1/entities/doc:in-h', { parents: ['folder:h'] }],
        ['/api/v1/entities/user:u', { parents: [] }],
        ['/api/v1/policies/p', { policies: POLICIES }],
      ] as const) {
        const res = await test.call('PUT', path, { body })
        assert.ok(res.status < 300, `${path}: ${res.status} ${res.text}`)
      }
      key = await pepKey(test)
      // g in f, behind the registry's back: f in g, g in f.
      const db = test.node.database.db
      const row = await db
        .selectFrom('entities')
        .select('doc')
        .where('id', '=', 'folder:g')
        .executeTakeFirstOrThrow()
      const doc = { ...JSON.parse(row.doc), parents: ['folder:f'] }
      await db
        .updateTable('entities')
        .set({ doc: JSON.stringify(doc) })
        .where('id', '=', 'folder:g')
        .execute()
      await db
        .insertInto('registry_changes')
        .values({ kind: 'Entity', object_id: 'folder:g', op: 'update' })
        .execute()
      await test.node.directory.refresh()
      assert.deepEqual(
        test.node.directory.entity('folder:g')?.parents,
        ['folder:f'],
        'the node holds the cycle',
      )
    })
    after(async () => {
      await test?.close()
      await store?.drop()
    })

    const evaluate = (id: string, action = 'read') =>
      post(
        test,
        '/access/v1/evaluation',
        { subject: { type: 'user', id: 'u' }, action: { name: action }, resource: { type: 'doc', id } },
        key,
      )

    it('denies a document in g through a permit on f (g is in f only by the cycle)', async () => {
      const answer = await evaluate('only-in-g')
      assert.equal(answer.status, 200)
      assert.equal(answer.json.decision, false, JSON.stringify(answer.json))
    })

    it('denies where a forbid reads the hierarchy of an entity with a cycle above it (it never lets it through)', async () => {
      const answer = await evaluate('only-in-g', 'write')
      assert.equal(answer.status, 200)
      assert.equal(answer.json.decision, false, JSON.stringify(answer.json))
    })

    it('explain does not answer allow', async () => {
      const answer = await test.call('POST', '/api/v1/decisions/explain', {
        body: {
          principal: { type: 'user', id: 'u' },
          action: 'read',
          resource: { type: 'doc', id: 'only-in-g' },
        },
      })
      assert.equal(answer.status, 200, answer.text)
      assert.notEqual(answer.json.decision, 'allow', answer.text)
    })

    it('resource search does not list it, and still lists what no cycle is above', async () => {
      const answer = await post(
        test,
        '/access/v1/search/resource',
        { subject: { type: 'user', id: 'u' }, action: { name: 'read' }, resource: { type: 'doc' } },
        key,
      )
      assert.equal(answer.status, 200, JSON.stringify(answer.json))
      assert.deepEqual(
        (answer.json.results as Array<{ id: string }>).map((r) => r.id),
        ['in-h'],
      )
    })

    it('subject search with it as the resource answers (no user allowed), not an error; with another, it lists the user', async () => {
      const answer = await post(
        test,
        '/access/v1/search/subject',
        { subject: { type: 'user' }, action: { name: 'read' }, resource: { type: 'doc', id: 'only-in-g' } },
        key,
      )
      assert.equal(answer.status, 200, JSON.stringify(answer.json))
      assert.deepEqual(answer.json.results, [])
      const other = await post(
        test,
        '/access/v1/search/subject',
        { subject: { type: 'user' }, action: { name: 'read' }, resource: { type: 'doc', id: 'in-h' } },
        key,
      )
      assert.equal(other.status, 200, JSON.stringify(other.json))
      assert.deepEqual(
        (other.json.results as Array<{ id: string }>).map((r) => r.id),
        ['u'],
      )
    })

    it('still allows what no cycle is above', async () => {
      const answer = await evaluate('in-h')
      assert.equal(answer.status, 200)
      assert.equal(answer.json.decision, true, JSON.stringify(answer.json))
    })
  })
