// Every vector of the OpenID AuthZEN interop suite (../shared/conformance/authzen) against the HTTP API, with each
// scenario's rules written as Cedar policies and its users and records loaded as entities, on SQLite and PostgreSQL.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'
import { applyFile, missingVectors, pepKey, post, scenario, vectors } from './authzen-fixture.ts'

type Entity = { type: string; id?: string; name?: string }
const key = (e: Entity) => (e.name !== undefined ? `action:${e.name}` : `${e.type}:${e.id}`)

// Follows page.next_token to the end; every page is checked to be a well-formed AuthZEN search answer.
async function searchAll(
  node: TestNode,
  path: string,
  request: Record<string, unknown>,
  pep: string,
  limit?: number,
) {
  const results: Entity[] = []
  let token = ''
  for (let pages = 0; pages < 100; pages++) {
    // AuthZEN §8: the previous answer's page.next_token goes back as page.token.
    const page = { ...(limit ? { limit } : {}), ...(token ? { token } : {}) }
    const res = await post(node, path, { ...request, ...(Object.keys(page).length ? { page } : {}) }, pep)
    assert.equal(res.status, 200, JSON.stringify(res.json))
    assert.ok(Array.isArray(res.json.results))
    results.push(...res.json.results)
    token = res.json.page?.next_token ?? ''
    if (!token) return results
  }
  throw new Error('search did not end')
}

// Every single evaluation of a vector file, over HTTP; the requests whose decision differs from the expected one.
async function mismatchedDecisions(
  node: TestNode,
  cases: Array<{ request: unknown; expected: boolean }>,
  pep: string,
): Promise<string[]> {
  const mismatches: string[] = []
  for (const { request, expected } of cases) {
    const res = await post(node, '/access/v1/evaluation', request, pep)
    assert.equal(res.status, 200, JSON.stringify(res.json))
    if (res.json.decision !== expected) mismatches.push(`${JSON.stringify(request)} → ${res.json.decision}`)
  }
  return mismatches
}

// Issue 8: without the vectors the suites below cannot be built; one failing test says so, instead of a run that
// reports no test at all.
const missing = missingVectors()
it('issue 8: the AuthZEN interop vectors are where the suite reads them', () => {
  if (missing) assert.fail(missing)
})
const vectorStores = missing ? [] : storeKinds

for (const kind of vectorStores) {
  describe(`AuthZEN interop vectors on ${kind.name}`, () => {
    let store: TestStore
    let node: TestNode
    let pep: string

    before(async () => {
      store = kind.create()
      node = await startTestNode(store)
      pep = await pepKey(node)
    })
    after(async () => {
      await node.close()
      await store.drop()
    })

    describe('Todo scenario (decisions-authorization-api-1_0-02)', () => {
      const file = vectors('interop/authzen-todo-backend/test/decisions-authorization-api-1_0-02.json')
      before(() => applyFile(node, scenario('todo')))

      it(`POST /access/v1/evaluation: all ${file.evaluation.length} decisions match`, async () => {
        assert.deepEqual(await mismatchedDecisions(node, file.evaluation, pep), [])
      })

      it(`POST /access/v1/evaluations: all ${file.evaluations.length} batches match, in order`, async () => {
        for (const { request, expected } of file.evaluations) {
          const res = await post(node, '/access/v1/evaluations', request, pep)
          assert.equal(res.status, 200, JSON.stringify(res.json))
          assert.deepEqual(
            res.json.evaluations.map((e: { decision: boolean }) => ({ decision: e.decision })),
            expected,
            JSON.stringify(request),
          )
        }
      })
    })

    describe('API gateway scenario', () => {
      const file = vectors('interop/authzen-api-gateways/test-harness/test/decisions.json')
      before(async () => {
        // The scenarios share nothing: remove the Todo policy so that only this scenario's rules decide.
        await node.call('DELETE', '/api/v1/policies/todo')
        await applyFile(node, scenario('api-gateway'))
      })

      it(`POST /access/v1/evaluation: all ${file.evaluation.length} decisions match`, async () => {
        assert.deepEqual(await mismatchedDecisions(node, file.evaluation, pep), [])
      })
    })
  })
}

// The Search and IdP scenarios reuse the type names `user` and `record` with different attributes: one node each.
for (const [name, files] of [
  [
    'search',
    {
      subject: 'interop/authzen-search-demo/test-harness/src/subject/results.json',
      resource: 'interop/authzen-search-demo/test-harness/src/resource/results.json',
      action: 'interop/authzen-search-demo/test-harness/src/action/results.json',
    },
  ],
  ['idp', { resource: 'interop/authzen-idp/test-harness/src/results.json' }],
] as const) {
  for (const kind of vectorStores) {
    describe(`AuthZEN interop ${name} scenario on ${kind.name}`, () => {
      let store: TestStore
      let node: TestNode
      let pep: string

      before(async () => {
        store = kind.create()
        node = await startTestNode(store)
        pep = await pepKey(node)
        await applyFile(node, scenario(name))
      })
      after(async () => {
        await node.close()
        await store.drop()
      })

      for (const [what, path] of Object.entries(files)) {
        const file = vectors(path)
        const cases: Array<{ request: Record<string, unknown>; expected: { results: Entity[] } }> =
          file.evaluation ?? file.search
        it(`POST /access/v1/search/${what}: all ${cases.length} result sets match`, async () => {
          const mismatches: string[] = []
          for (const { request, expected } of cases) {
            const got = (await searchAll(node, `/access/v1/search/${what}`, request, pep)).map(key).sort()
            const want = expected.results.map(key).sort()
            if (JSON.stringify(got) !== JSON.stringify(want))
              mismatches.push(`${JSON.stringify(request)}: got ${got.join(',')} want ${want.join(',')}`)
          }
          assert.deepEqual(mismatches, [])
        })
      }

      it('AuthZEN search pagination: pages of 2 give the same results as one page, without repeats', async () => {
        const [what, path] = Object.entries(files)[0] ?? ['', '']
        const file = vectors(path)
        const cases: Array<{ request: Record<string, unknown> }> = file.evaluation ?? file.search
        let multiPage = 0
        for (const { request } of cases.slice(0, 5)) {
          const whole = (await searchAll(node, `/access/v1/search/${what}`, request, pep)).map(key)
          const paged = (await searchAll(node, `/access/v1/search/${what}`, request, pep, 2)).map(key)
          assert.deepEqual(paged, whole)
          assert.equal(new Set(paged).size, paged.length)
          if (whole.length > 2) multiPage++
        }
        assert.ok(multiPage > 0, 'some search spans several pages')
      })
    })
  }
}
