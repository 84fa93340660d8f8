// Attacks that held (issue 10): entity ids the compiled evaluator must keep apart, registered through the admin API and
// named in policies with Cedar's escapes, are matched exactly by AuthZEN (evaluation and resource search) on both
// engines: quotes, backslashes, `::`, `Type::"id"` inside an id, spaces, RTL marks, combining marks against their
// precomposed form, a newline in a policy literal. A look-alike never gets the permit of the id it imitates, and an
// integer overflow in a forbid denies on every path (errors deny).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { pepKey, post } from '../policy/authzen-fixture.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'

/** Registered ids, each permitted by a policy naming it with Cedar's escapes. */
const PERMITTED = ['a"b', 'a\\b', 'a::b', 'doc::"a"', 'e\u0301', 'a\u202eb', 'a b']
/** Registered too, but no policy names them: each imitates a permitted id. */
const LOOKALIKES = ['a\\"b', 'a\\\\b', 'a:b', 'doc::a', '\u00e9', 'ab', 'a  b', 'a"b ']

for (const engine of ['compiled', 'cedar-wasm'] as const)
  describe(`hostile entity ids are matched exactly (issue 10, ${engine})`, () => {
    let store: TestStore
    let test: TestNode
    let key: string

    before(async () => {
      store = sqliteStore()
      test = await startTestNode(store, { policyEngine: engine })
      const documents: Array<[string, unknown]> = [
        [
          '/api/v1/entity-types/doc',
          { principal: false, attributes: { n: { type: 'Long', required: false } }, actions: ['read'] },
        ],
        ['/api/v1/entity-types/user', { principal: true, attributes: {}, actions: [] }],
        ...[...PERMITTED, ...LOOKALIKES].map((id): [string, unknown] => [
          `/api/v1/entities/${encodeURIComponent(`doc:${id}`)}`,
          { attributes: {} },
        ]),
        ['/api/v1/entities/doc:big', { attributes: { n: 1000 } }],
        [
          '/api/v1/policies/p',
          {
            policies: [
              ...PERMITTED.map(
                (id, i) =>
                  `@id("p${i}") permit (principal is user, action == Action::"read", resource == doc::${JSON.stringify(id)});`,
              ),
              '@id("newline") permit (principal is user, action == Action::"read", resource == doc::"x\\ny");',
              '@id("big") permit (principal is user, action == Action::"read", resource == doc::"big");',
              '@id("overflow") forbid (principal is user, action == Action::"read", resource is doc) when { resource has n && resource.n * 4611686018427387904 > 0 };',
            ].join('\n'),
          },
        ],
      ]
      for (const [path, body] of documents) {
        const res = await test.call('PUT', path, { body })
        assert.equal(res.status, 201, `${path}: ${res.text}`)
      }
      key = await pepKey(test)
    })
    after(async () => {
      await test?.close()
      await store?.drop()
    })

    const evaluate = (id: string) =>
      post(
        test,
        '/access/v1/evaluation',
        { subject: { type: 'user', id: 'u' }, action: { name: 'read' }, resource: { type: 'doc', id } },
        key,
      )

    it('each permitted id is allowed and each look-alike denied', async () => {
      for (const id of PERMITTED) assert.equal((await evaluate(id)).json.decision, true, JSON.stringify(id))
      for (const id of LOOKALIKES) assert.equal((await evaluate(id)).json.decision, false, JSON.stringify(id))
      assert.equal((await evaluate('x\ny')).json.decision, true, 'the newline of the policy literal')
      for (const id of ['x\\ny', 'x\r\ny', 'xy', 'x y'])
        assert.equal((await evaluate(id)).json.decision, false, JSON.stringify(id))
    })

    it('POST /access/v1/search/resource lists exactly the permitted registered ids', async () => {
      const answer = await post(
        test,
        '/access/v1/search/resource',
        { subject: { type: 'user', id: 'u' }, action: { name: 'read' }, resource: { type: 'doc' } },
        key,
      )
      assert.equal(answer.status, 200)
      const ids = (answer.json.results as Array<{ id: string }>).map((r) => r.id).sort()
      assert.deepEqual(ids, [...PERMITTED].sort())
    })

    it('a forbid that overflows denies doc:big on evaluation, evaluations and explain, and search leaves it out', async () => {
      const single = await evaluate('big')
      assert.equal(single.json.decision, false)
      assert.equal(single.json.context.reason, 'evaluation_error')
      const batch = await post(
        test,
        '/access/v1/evaluations',
        {
          subject: { type: 'user', id: 'u' },
          action: { name: 'read' },
          evaluations: [{ resource: { type: 'doc', id: 'big' } }, { resource: { type: 'doc', id: 'a b' } }],
          options: { evaluations_semantic: 'permit_on_first_permit' },
        },
        key,
      )
      assert.equal(batch.status, 200)
      assert.equal(batch.json.evaluations[0].decision, false)
      const explained = await test.call('POST', '/api/v1/decisions/explain', {
        body: { principal: { type: 'user', id: 'u' }, action: 'read', resource: { type: 'doc', id: 'big' } },
      })
      assert.equal(explained.status, 200, explained.text)
      assert.equal(explained.json.decision, 'deny')
      assert.deepEqual(
        explained.json.errors.map((e: { policy: string }) => e.policy),
        ['p/overflow'],
      )
    })
  })
