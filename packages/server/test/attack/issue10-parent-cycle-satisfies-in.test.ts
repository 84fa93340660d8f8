// Attack finding (issue 10): the registry accepts a cycle of entity parents (folder:f in folder:g, folder:g in
// folder:f), and the compiled evaluator then decides over it: the in-memory entity store
// (src/policy/entity-store.ts, `settleAncestors`: "cycles end where they close") gives every member of the cycle every
// other as an ancestor, so a document filed in folder f is "in" folder g and a permit on g lets it through. Cedar
// refuses such a hierarchy (cedar-wasm, `MANDATE_POLICY_ENGINE=cedar-wasm`, answers a deny with "input graph has a
// cycle"), and the compiled evaluator refuses a cycle in a JSON slice (src/policy/compiled/json-values.ts), but not in
// the registry's store. README: "It gives Cedar's answers exactly"; docs/security.md: errors deny. Whoever can write
// one entity's parents (an admin, a `mandate apply -f` file) widens what every policy on the other folder allows.
// Either fix holds here: the write that closes the cycle is refused, or decisions over it deny as Cedar's do.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { pepKey, post } from '../policy/authzen-fixture.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'

const POLICIES = '@id("in-g") permit (principal is user, action == Action::"read", resource in folder::"g");'

for (const engine of ['compiled', 'cedar-wasm'] as const)
  describe(`a cycle of entity parents never satisfies \`in\` (issue 10, ${engine})`, () => {
    let store: TestStore
    let test: TestNode
    let key: string

    before(async () => {
      store = sqliteStore()
      test = await startTestNode(store, { policyEngine: engine })
      for (const [path, body] of [
        [
          '/api/v1/entity-types/folder',
          { principal: false, attributes: {}, actions: [], member_of: ['folder'] },
        ],
        [
          '/api/v1/entity-types/doc',
          { principal: false, attributes: {}, actions: ['read'], member_of: ['folder'] },
        ],
        ['/api/v1/entity-types/user', { principal: true, attributes: {}, actions: [] }],
        ['/api/v1/entities/folder:g', { parents: [] }],
        ['/api/v1/entities/folder:f', { parents: ['folder:g'] }],
        ['/api/v1/entities/doc:d', { parents: ['folder:f'] }],
        ['/api/v1/policies/p', { policies: POLICIES }],
      ] as const) {
        const res = await test.call('PUT', path, { body })
        assert.ok(res.status < 300, `${path}: ${res.status} ${res.text}`)
      }
      key = await pepKey(test)
      const evaluation = await post(
        test,
        '/access/v1/evaluation',
        { subject: { type: 'user', id: 'u' }, action: { name: 'read' }, resource: { type: 'doc', id: 'd' } },
        key,
      )
      assert.equal(
        evaluation.json.decision,
        true,
        'before the cycle, d is in g through f (the policy applies)',
      )
      // Now g in f as well: f in g, g in f.
      const closing = await test.call('PUT', '/api/v1/entities/folder:g', { body: { parents: ['folder:f'] } })
      // Refusing it (a 400 naming /parents) is one fix; accepting it is the finding, then decisions must deny.
      assert.ok(closing.status === 200 || closing.status === 400, `${closing.status} ${closing.text}`)
      // A document filed in g alone, and the only policy on f: only the cycle puts the document "in" f.
      for (const [path, body] of [
        ['/api/v1/entities/doc:only-in-g', { parents: ['folder:g'] }],
        [
          '/api/v1/policies/p',
          {
            policies:
              '@id("in-f") permit (principal is user, action == Action::"read", resource in folder::"f");',
          },
        ],
      ] as const) {
        const res = await test.call('PUT', path, { body })
        assert.ok(res.status < 300, `${path}: ${res.status} ${res.text}`)
      }
    })
    after(async () => {
      await test?.close()
      await store?.drop()
    })

    it('POST /access/v1/evaluation does not allow a document in g through a permit on f (g in f only by the cycle)', async () => {
      const answer = await post(
        test,
        '/access/v1/evaluation',
        {
          subject: { type: 'user', id: 'u' },
          action: { name: 'read' },
          resource: { type: 'doc', id: 'only-in-g' },
        },
        key,
      )
      assert.equal(answer.status, 200)
      assert.equal(answer.json.decision, false, JSON.stringify(answer.json))
    })

    it('POST /api/v1/decisions/explain does not answer allow for it either', async () => {
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

    it('POST /access/v1/search/resource does not list it', async () => {
      const answer = await post(
        test,
        '/access/v1/search/resource',
        { subject: { type: 'user', id: 'u' }, action: { name: 'read' }, resource: { type: 'doc' } },
        key,
      )
      assert.equal(answer.status, 200)
      const ids = (answer.json.results as Array<{ id: string }>).map((r) => r.id)
      assert.ok(!ids.includes('only-in-g'), JSON.stringify(answer.json))
    })
  })
