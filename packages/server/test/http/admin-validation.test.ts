// The admin API over real HTTP on both stores: authentication and roles on every endpoint, the error model for bad input
// (which must write nothing), 404/409 semantics, the registry's rules as seen through the API, list filters and
// cursors, and idempotent PUT. No response here may be a 500, and no error body may show internals.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'
import { assertNoLeak, type CallResult, expectError, expectFieldError, rawRequest } from './http-checks.ts'

/** A small body limit, still large enough for 10,000 nested arrays to reach the parser's depth check. */
const BODY_LIMIT = 32 * 1024

const PUBLIC_EC_JWK = {
  kty: 'EC',
  crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
}
const PRIVATE_EC_JWK = { ...PUBLIC_EC_JWK, d: 'jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI' }
const SPONSOR = 'fx-sponsor'
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'

type Doc = Record<string, unknown>

/** What the suite needs to know about each registry kind. */
interface KindSpec {
  plural: string
  slug: string
  valid: (id: string) => Doc
  /** A change that every kind accepts. */
  change: Doc
  wrongEnum: { body: Doc; path: string }
  /** Required fields besides `id`. */
  required: string[]
}

const kinds: KindSpec[] = [
  {
    plural: 'humans',
    slug: 'human',
    valid: (id) => ({ id, name: 'A human', email: `${id}@example.com` }),
    change: { name: 'Changed' },
    wrongEnum: { body: { status: 'deleted' }, path: '/status' },
    required: [],
  },
  {
    plural: 'workloads',
    slug: 'workload',
    valid: (id) => ({ id, name: 'A workload' }),
    change: { name: 'Changed' },
    wrongEnum: { body: { status: 'paused' }, path: '/status' },
    required: [],
  },
  {
    plural: 'agents',
    slug: 'agent',
    valid: (id) => ({ id, sponsor: SPONSOR, classification: 'autonomous', ceiling: ['tickets:read'] }),
    change: { name: 'Changed' },
    wrongEnum: { body: { classification: 'sentient' }, path: '/classification' },
    required: ['sponsor', 'classification', 'ceiling'],
  },
  {
    plural: 'groups',
    slug: 'group',
    valid: (id) => ({ id, name: 'A group', members: [] }),
    change: { name: 'Changed' },
    wrongEnum: { body: { members: [{ kind: 'robot', id: 'r2' }] }, path: '/members/0/kind' },
    required: [],
  },
  {
    plural: 'trusted-issuers',
    slug: 'trusted_issuer',
    valid: (id) => ({
      id,
      issuer: `https://${id}.issuer.example`,
      type: 'workload',
      jwks: { keys: [PUBLIC_EC_JWK] },
    }),
    change: { description: 'Changed' },
    wrongEnum: { body: { kind: 'saml' }, path: '/kind' },
    required: ['issuer', 'type'],
  },
]

const fixtureId = (spec: KindSpec) => `fx-${spec.slug.replace('_', '-')}`

function kindOf(plural: string): KindSpec {
  const spec = kinds.find((k) => k.plural === plural)
  assert.ok(spec, plural)
  return spec
}

/** One admin endpoint as the auth and role checks exercise it. */
interface Endpoint {
  method: string
  path: string
  body?: unknown
  /** Whether a reader token is refused. */
  write: boolean
  /** A path that must still be unknown after a refused call. */
  createdPath?: string
}

function endpoints(): Endpoint[] {
  const list: Endpoint[] = []
  for (const spec of kinds) {
    const base = `/api/v1/${spec.plural}`
    const item = `${base}/${fixtureId(spec)}`
    const created = `unauth-${spec.slug.replace('_', '-')}`
    list.push(
      {
        method: 'POST',
        path: base,
        body: spec.valid(created),
        write: true,
        createdPath: `${base}/${created}`,
      },
      { method: 'GET', path: base, write: false },
      { method: 'GET', path: item, write: false },
      { method: 'PUT', path: item, body: { ...spec.valid(fixtureId(spec)), ...spec.change }, write: true },
      { method: 'PATCH', path: item, body: spec.change, write: true },
      { method: 'DELETE', path: item, write: true },
    )
  }
  list.push(
    { method: 'GET', path: '/api/v1/keys', write: false },
    { method: 'POST', path: '/api/v1/keys/rotate', body: { reason: 'refused' }, write: true },
    { method: 'GET', path: '/api/v1/audit/events', write: false },
    // Verifying the chain changes nothing, so readers may.
    { method: 'POST', path: '/api/v1/audit/verify', write: false },
  )
  return list
}

function nested(depth: number, open: string, close: string, inner = '1'): string {
  let text = inner
  for (let i = 0; i < depth; i++) text = `${open}${text}${close}`
  return text
}

/** A request body that must be refused, and how. */
interface BadBody {
  name: string
  raw: string
  contentType?: string
  check: (res: CallResult) => void
}

function badBodies(spec: KindSpec, id: string, method: 'POST' | 'PUT' | 'PATCH'): BadBody[] {
  const doc = method === 'PATCH' ? spec.change : spec.valid(id)
  const notJson = (res: CallResult) => {
    expectFieldError(res, '/')
    assert.match(res.json.fields[0].message, /^is (not valid JSON|nested deeper than 32 levels)$/)
  }
  const notObject = (res: CallResult) => expectFieldError(res, '/')
  const bodies: BadBody[] = [
    { name: 'a body that is not JSON at all ({{{)', raw: '{{{', check: notJson },
    { name: 'truncated JSON', raw: JSON.stringify(doc).slice(0, -1), check: notJson },
    { name: 'a JSON array', raw: JSON.stringify([doc]), check: notObject },
    { name: 'a JSON string', raw: JSON.stringify('a document'), check: notObject },
    { name: 'a JSON number', raw: '42', check: notObject },
    { name: 'JSON null', raw: 'null', check: notObject },
    {
      name: 'an unknown field',
      raw: JSON.stringify({ ...doc, colour: 'blue' }),
      check: (res) => expectFieldError(res, '/colour'),
    },
    {
      name: 'a value outside its enum',
      raw: JSON.stringify({ ...doc, ...spec.wrongEnum.body }),
      check: (res) => expectFieldError(res, spec.wrongEnum.path),
    },
    {
      name: `a body larger than bodyLimitBytes (${BODY_LIMIT})`,
      raw: JSON.stringify({ ...doc, description: 'x'.repeat(BODY_LIMIT + 1) }),
      check: (res) => expectError(res, 413, 'payload_too_large'),
    },
    { name: '10,000 nested arrays', raw: nested(10_000, '[', ']'), check: notJson },
    { name: '40 nested objects', raw: nested(40, '{"a":', '}'), check: notJson },
    {
      name: 'a text/plain body (RFC 9110 §15.5.16)',
      raw: JSON.stringify(doc),
      contentType: 'text/plain',
      check: (res) => expectError(res, 415, 'unsupported_media_type'),
    },
  ]
  if (method === 'POST') {
    const { id: _id, ...withoutId } = spec.valid(id)
    bodies.push({
      name: 'missing required fields',
      raw: JSON.stringify(
        Object.fromEntries(Object.entries(withoutId).filter(([k]) => !spec.required.includes(k))),
      ),
      check: (res) => {
        for (const field of ['id', ...spec.required]) expectFieldError(res, `/${field}`)
      },
    })
  } else if (method === 'PUT' && spec.required.length > 0) {
    bodies.push({
      name: 'missing required fields',
      raw: JSON.stringify(
        Object.fromEntries(Object.entries(spec.valid(id)).filter(([k]) => !spec.required.includes(k))),
      ),
      check: (res) => {
        for (const field of spec.required) expectFieldError(res, `/${field}`)
      },
    })
  } else if (method === 'PATCH') {
    bodies.push({
      name: 'a change of id',
      raw: JSON.stringify({ id: `${id}-renamed` }),
      check: (res) => expectFieldError(res, '/id'),
    })
  }
  return bodies
}

for (const kind of storeKinds) {
  describe(`admin API validation (${kind.name})`, () => {
    let store: TestStore
    let t: TestNode
    let readerToken: string

    /** Calls the node and checks what every response of this file must satisfy: no 500, no internals in errors. */
    async function api(
      method: string,
      path: string,
      options: Parameters<TestNode['call']>[2] = {},
    ): Promise<CallResult> {
      const res = await t.call(method, path, options)
      assertNoLeak(res)
      return res
    }

    /** The audit chain's head sequence number, read through the API (the chain must verify). */
    async function auditHead(): Promise<number> {
      const res = await api('POST', '/api/v1/audit/verify')
      assert.equal(res.status, 200)
      assert.equal(res.json.ok, true, JSON.stringify(res.json))
      assert.equal(res.json.records, res.json.headSeq)
      return res.json.headSeq
    }

    /** Runs `send`, checks its answer, and proves that it wrote nothing: no new audit event, and `absent` still 404. */
    async function rejectsWithoutWriting(
      send: () => Promise<CallResult>,
      check: (res: CallResult) => void,
      absent?: string,
    ): Promise<void> {
      const head = await auditHead()
      const res = await send()
      check(res)
      assert.equal(await auditHead(), head, 'a refused request appended to the audit log')
      const events = await api('GET', `/api/v1/audit/events?after=${head}`)
      assert.deepEqual(events.json.items, [])
      if (absent) expectError(await api('GET', absent), 404, 'not_found')
    }

    async function create(plural: string, doc: Doc): Promise<CallResult> {
      const res = await api('POST', `/api/v1/${plural}`, { body: doc })
      assert.equal(res.status, 201, res.text)
      return res
    }

    async function eventsOf(query: string): Promise<Array<Record<string, unknown> & { subjects: string[] }>> {
      const res = await api('GET', `/api/v1/audit/events?${query}&limit=1000`)
      assert.equal(res.status, 200, res.text)
      return res.json.items
    }

    before(async () => {
      store = kind.create()
      t = await startTestNode(store, { bodyLimitBytes: BODY_LIMIT })
      const issued = await t.node.adminTokens.issue({
        name: 'r',
        role: 'reader',
        actor: { kind: 'system', id: 'test' },
      })
      assert.ok(issued)
      readerToken = issued.token
      await create('humans', { id: SPONSOR, name: 'Sponsor' })
      for (const spec of kinds) await create(spec.plural, spec.valid(fixtureId(spec)))
    })

    after(async () => {
      await t?.close()
      await store?.drop()
    })

    describe('authentication and roles (RFC 6750 §3)', () => {
      const lookalike = `mnd_adm_${randomBytes(32).toString('base64url')}`
      const refusals: Array<{ name: string; token: string | null; headers?: Record<string, string> }> = [
        { name: 'no Authorization header', token: null },
        { name: 'a wrong token that looks real', token: lookalike },
        { name: 'a token too short to be one', token: 'mnd_adm_short' },
        { name: 'the Basic scheme', token: null, headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } },
        { name: 'a Bearer scheme without a token', token: null, headers: { authorization: 'Bearer ' } },
      ]

      for (const endpoint of endpoints()) {
        const { method, path, body } = endpoint
        it(`${method} ${path} without a valid admin token is 401 unauthorized with a WWW-Authenticate challenge`, async () => {
          await rejectsWithoutWriting(
            async () => {
              let last: CallResult | undefined
              for (const refusal of refusals) {
                last = await api(method, path, {
                  token: refusal.token,
                  ...(refusal.headers ? { headers: refusal.headers } : {}),
                  ...(body !== undefined ? { body } : {}),
                })
                expectError(last, 401, 'unauthorized')
                assert.match(
                  last.headers.get('www-authenticate') ?? '',
                  /^Bearer realm="[^"]+"/,
                  `${refusal.name}: no Bearer challenge`,
                )
              }
              assert.ok(last)
              return last
            },
            () => {},
            endpoint.createdPath,
          )
        })

        it(`${method} ${path} with a reader token ${endpoint.write ? 'is 403 forbidden and writes nothing' : 'is allowed'}`, async () => {
          if (endpoint.write) {
            await rejectsWithoutWriting(
              () => api(method, path, { token: readerToken, ...(body !== undefined ? { body } : {}) }),
              (res) => expectError(res, 403, 'forbidden'),
              endpoint.createdPath,
            )
            return
          }
          const res = await api(method, path, { token: readerToken })
          assert.equal(res.status, 200, res.text)
          if (path === '/api/v1/audit/verify') assert.equal(res.json.ok, true)
          else if (/\/fx-[a-z-]+$/.test(path)) assert.equal(res.json.id, path.split('/').at(-1))
          else assert.ok(Array.isArray(res.json.items) && res.json.items.length > 0, res.text)
        })
      }

      it('accepts the Bearer scheme case-insensitively (RFC 7235 §2.1)', async () => {
        const res = await api('GET', '/api/v1/humans', {
          token: null,
          headers: { authorization: `bearer ${t.token}` },
        })
        assert.equal(res.status, 200)
      })

      it('the error body of a refused token does not echo the token', async () => {
        const res = await api('GET', '/api/v1/humans', { token: lookalike })
        expectError(res, 401, 'unauthorized')
        assert.ok(!res.text.includes(lookalike))
      })

      it('a wrong token gets a challenge with error="invalid_token" (RFC 6750 §3.1)', async () => {
        const res = await api('GET', '/api/v1/humans', { token: lookalike })
        expectError(res, 401, 'unauthorized')
        assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/)
      })
    })

    describe('request bodies that are refused with 400/413/415 and write nothing', () => {
      for (const spec of kinds) {
        const base = `/api/v1/${spec.plural}`
        for (const method of ['POST', 'PUT'] as const) {
          for (const [i, bad] of badBodies(spec, 'x', method).entries()) {
            it(`${method} ${base}${method === 'PUT' ? '/:id' : ''} with ${bad.name} is refused`, async () => {
              const id = `bad-${method.toLowerCase()}-${i}`
              const raw = bad.raw
                .replaceAll('"x"', JSON.stringify(id))
                .replaceAll('x.issuer.example', `${id}.issuer.example`)
              await rejectsWithoutWriting(
                () =>
                  api(method, method === 'POST' ? base : `${base}/${id}`, {
                    raw,
                    ...(bad.contentType ? { headers: { 'content-type': bad.contentType } } : {}),
                  }),
                bad.check,
                `${base}/${id}`,
              )
            })
          }
        }

        for (const bad of badBodies(spec, fixtureId(spec), 'PATCH')) {
          it(`PATCH ${base}/:id with ${bad.name} is refused and leaves the object at its version`, async () => {
            const path = `${base}/${fixtureId(spec)}`
            const before = await api('GET', path)
            await rejectsWithoutWriting(
              () =>
                api('PATCH', path, {
                  raw: bad.raw,
                  ...(bad.contentType ? { headers: { 'content-type': bad.contentType } } : {}),
                }),
              bad.check,
            )
            const afterwards = await api('GET', path)
            assert.deepEqual(afterwards.json, before.json)
          })
        }
      }

      it('a body streamed in chunks past bodyLimitBytes (no Content-Length) is 413 payload_too_large', async () => {
        await rejectsWithoutWriting(
          async () => {
            const chunks = [
              '{"id":"chunked","name":"',
              ...Array.from({ length: 4 }, () => 'x'.repeat(BODY_LIMIT / 2)),
              '"}',
            ]
            const res = await rawRequest(t.node.url, {
              method: 'POST',
              path: '/api/v1/humans',
              headers: {
                authorization: `Bearer ${t.token}`,
                'content-type': 'application/json',
                'transfer-encoding': 'chunked',
              },
              chunks,
            })
            assertNoLeak(res)
            return res
          },
          (res) => expectError(res, 413, 'payload_too_large'),
          '/api/v1/humans/chunked',
        )
      })

      it('a body nested 31 deep is parsed, and its schema errors are reported by field', async () => {
        await rejectsWithoutWriting(
          () => api('POST', '/api/v1/humans', { raw: nested(31, '{"a":', '}') }),
          (res) => {
            expectFieldError(res, '/a')
            expectFieldError(res, '/id')
          },
        )
      })

      it('brackets inside JSON strings do not count towards the nesting limit', async () => {
        const name = `${'['.repeat(100)}"\\`
        const res = await api('POST', '/api/v1/humans', { body: { id: 'bracket-name', name } })
        assert.equal(res.status, 201, res.text)
        assert.equal(res.json.object.name, name)
      })

      it('application/json with a charset parameter is accepted', async () => {
        const res = await api('POST', '/api/v1/humans', {
          raw: JSON.stringify({ id: 'charset-json' }),
          headers: { 'content-type': 'application/json; charset=utf-8' },
        })
        assert.equal(res.status, 201, res.text)
      })

      it('a body without a Content-Type is 415 unsupported_media_type', async () => {
        await rejectsWithoutWriting(
          () =>
            api('POST', '/api/v1/humans', {
              raw: JSON.stringify({ id: 'no-content-type' }),
              headers: { 'content-type': '' },
            }),
          (res) => expectError(res, 415, 'unsupported_media_type'),
          '/api/v1/humans/no-content-type',
        )
      })

      it('a __proto__ member in a POST body is an unknown field', async () => {
        await rejectsWithoutWriting(
          () => api('POST', '/api/v1/humans', { raw: '{"id":"proto-post","__proto__":{"name":"x"}}' }),
          (res) => expectFieldError(res, '/__proto__'),
          '/api/v1/humans/proto-post',
        )
      })

      it('a __proto__ member in a merge patch is refused like any unknown field', async () => {
        await rejectsWithoutWriting(
          () => api('PATCH', `/api/v1/humans/${SPONSOR}`, { raw: '{"__proto__":{"nickname":"x"}}' }),
          (res) => expectFieldError(res, '/__proto__'),
        )
      })

      for (const bad of [
        {
          name: 'a body that is not JSON',
          raw: '{{{',
          check: (res: CallResult) => expectFieldError(res, '/'),
        },
        { name: 'a JSON array', raw: '[]', check: (res: CallResult) => expectFieldError(res, '/') },
        {
          name: 'a reason that is not a string',
          raw: '{"reason":5}',
          check: (res: CallResult) => expectFieldError(res, '/reason'),
        },
        {
          name: 'a reason over 500 characters',
          raw: JSON.stringify({ reason: 'r'.repeat(501) }),
          check: (res: CallResult) => expectFieldError(res, '/reason'),
        },
        {
          name: 'a text/plain body',
          raw: '{}',
          contentType: 'text/plain',
          check: (res: CallResult) => expectError(res, 415, 'unsupported_media_type'),
        },
        {
          name: '10,000 nested arrays',
          raw: nested(10_000, '[', ']'),
          check: (res: CallResult) => expectFieldError(res, '/'),
        },
      ]) {
        it(`POST /api/v1/keys/rotate with ${bad.name} is refused and rotates nothing`, async () => {
          const keys = (await api('GET', '/api/v1/keys')).json.items
          await rejectsWithoutWriting(
            () =>
              api('POST', '/api/v1/keys/rotate', {
                raw: bad.raw,
                ...(bad.contentType ? { headers: { 'content-type': bad.contentType } } : {}),
              }),
            bad.check,
          )
          assert.deepEqual((await api('GET', '/api/v1/keys')).json.items, keys)
        })
      }

      it('POST /api/v1/keys/rotate with an unknown field is refused', async () => {
        await rejectsWithoutWriting(
          () => api('POST', '/api/v1/keys/rotate', { body: { reasn: 'typo' } }),
          (res) => expectFieldError(res, '/reasn'),
        )
      })

      it('POST /api/v1/keys/rotate without a body rotates with the default reason', async () => {
        const res = await api('POST', '/api/v1/keys/rotate')
        assert.equal(res.status, 201, res.text)
      })
    })

    describe('query parameters and path ids', () => {
      const listQueries: Array<{ query: string; path: string }> = [
        { query: 'limit=0', path: '/querystring/limit' },
        { query: 'limit=-1', path: '/querystring/limit' },
        { query: 'limit=abc', path: '/querystring/limit' },
        { query: 'limit=1.5', path: '/querystring/limit' },
        { query: 'limit=501', path: '/querystring/limit' },
        { query: 'limit=1&limit=2', path: '/querystring/limit' },
        { query: 'cursor=garbage', path: '/querystring/cursor' },
        { query: 'cursor=%25%25%25', path: '/querystring/cursor' },
        { query: `cursor=${'Q'.repeat(201)}`, path: '/querystring/cursor' },
      ]
      for (const spec of kinds) {
        for (const { query, path } of listQueries) {
          it(`GET /api/v1/${spec.plural}?${query.slice(0, 40)} is 400 with field ${path}`, async () => {
            expectFieldError(await api('GET', `/api/v1/${spec.plural}?${query}`), path)
          })
        }
      }
      for (const query of ['status=', 'sponsor=', 'classification=']) {
        it(`GET /api/v1/agents?${query} (an empty filter) is 400`, async () => {
          expectFieldError(await api('GET', `/api/v1/agents?${query}`), `/querystring/${query.slice(0, -1)}`)
        })
      }

      for (const { query, path } of [
        { query: 'limit=0', path: '/querystring/limit' },
        { query: 'limit=abc', path: '/querystring/limit' },
        { query: 'limit=1001', path: '/querystring/limit' },
        { query: 'after=-1', path: '/querystring/after' },
        { query: 'after=first', path: '/querystring/after' },
        { query: 'since=yesterday', path: '/querystring/since' },
        { query: 'since=2024-01-01', path: '/querystring/since' },
        { query: 'since=1700000000', path: '/querystring/since' },
        { query: 'until=2020-13-45T00:00:00Z', path: '/querystring/until' },
        { query: 'principal=BAD', path: '/querystring/principal' },
        { query: 'type=', path: '/querystring/type' },
      ]) {
        it(`GET /api/v1/audit/events?${query} is 400 with field ${path} (RFC 3339 times)`, async () => {
          expectFieldError(await api('GET', `/api/v1/audit/events?${query}`), path)
        })
      }

      for (const spec of kinds) {
        const base = `/api/v1/${spec.plural}`
        const long = `a${'b'.repeat(128)}`
        for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
          it(`${method} ${base}/<129 characters> is 400 with field /params/id`, async () => {
            await rejectsWithoutWriting(
              () =>
                api(
                  method,
                  `${base}/${long}`,
                  method === 'PUT' || method === 'PATCH' ? { body: spec.change } : {},
                ),
              (res) => expectFieldError(res, '/params/id'),
            )
          })
        }
        it(`PUT ${base}/<an id the schema refuses> is 400 with field /id`, async () => {
          for (const id of ['has space', '-leading-dash', 'semi;colon', 'été']) {
            const { id: _id, ...doc } = spec.valid('odd')
            await rejectsWithoutWriting(
              () => api('PUT', `${base}/${encodeURIComponent(id)}`, { body: doc }),
              (res) => expectFieldError(res, '/id'),
            )
          }
        })
        it(`GET ${base}/<a valid but unknown id with odd characters> is 404 not_found`, async () => {
          for (const id of ['été', 'a b', '..', 'x:y@z+w'])
            expectError(await api('GET', `${base}/${encodeURIComponent(id)}`), 404, 'not_found')
        })
      }

      it('GET /api/v1/humans/<300 characters> answers in the error model (400 validation_failed)', async () => {
        expectError(await api('GET', `/api/v1/humans/${'a'.repeat(300)}`), 400, 'validation_failed')
      })

      it('GET /api/v1/humans/<malformed percent-encoding> answers in the error model (400 validation_failed)', async () => {
        for (const path of ['/api/v1/humans/%E0%A4%A', '/api/v1/humans/%ff', '/api/v1/humans/%00%ff']) {
          const res = await rawRequest(t.node.url, {
            method: 'GET',
            path,
            headers: { authorization: `Bearer ${t.token}` },
          })
          assertNoLeak(res)
          expectError(res, 400, 'validation_failed')
          assert.ok(res.headers.get('x-request-id'))
        }
      })

      it('a malformed percent-encoding in the path is a 400, never a 500', async () => {
        for (const path of ['/api/v1/humans/%E0%A4%A', '/api/v1/humans/%ff', '/api/v1/agents/%C0%AF']) {
          const res = await rawRequest(t.node.url, {
            method: 'GET',
            path,
            headers: { authorization: `Bearer ${t.token}` },
          })
          assertNoLeak(res)
          assert.ok(res.status === 400 || res.status === 404, `${path}: ${res.status}`)
        }
      })

      it('an RFC 3339 leap second (23:59:60) in since/until is accepted or refused, never a 500', async () => {
        for (const query of ['since=2016-12-31T23:59:60Z', 'until=2016-12-31T23:59:60Z']) {
          const res = await api('GET', `/api/v1/audit/events?${query}`)
          assert.ok(res.status === 200 || res.status === 400, `${query}: ${res.status}`)
        }
      })

      it('an audit cursor (after) beyond the sequence range is 400 or an empty page, never a 500', async () => {
        for (const after of ['99999999999999999999', '1e300']) {
          const res = await api('GET', `/api/v1/audit/events?after=${after}`)
          if (res.status === 200) assert.deepEqual(res.json.items, [])
          else expectFieldError(res, '/querystring/after')
        }
      })

      it('issue 8: a NUL character (U+0000) in an id, filter or reference is a 400 naming the field, never a 500', async () => {
        const nul = encodeURIComponent('a\u0000b')
        expectFieldError(await api('GET', '/api/v1/agents/%00'), '/params/id')
        expectFieldError(await api('GET', `/api/v1/humans/${nul}`), '/params/id')
        expectFieldError(await api('PATCH', `/api/v1/groups/${nul}`, { body: {} }), '/params/id')
        expectFieldError(await api('DELETE', `/api/v1/trusted-issuers/${nul}`), '/params/id')
        expectFieldError(await api('GET', `/api/v1/agents?sponsor=${nul}`), '/querystring/sponsor')
        // A cursor is opaque (base64url): what it decodes to is only compared, never stored.
        const afterCursor = await api(
          'GET',
          `/api/v1/agents?cursor=${Buffer.from('a\u0000b').toString('base64url')}`,
        )
        assert.equal(afterCursor.status, 200, afterCursor.text)
        assert.ok(Array.isArray(afterCursor.json.items))
        expectFieldError(
          await api('GET', `/api/v1/audit/events?principal=agent:${nul}`),
          '/querystring/principal',
        )
        expectFieldError(await api('GET', `/api/v1/audit/events?type=${nul}`), '/querystring/type')
        await rejectsWithoutWriting(
          () =>
            api('POST', '/api/v1/agents', {
              body: { id: 'nul-sponsor', sponsor: 'a\u0000b', classification: 'autonomous', ceiling: [] },
            }),
          (res) => expectFieldError(res, '/sponsor'),
          '/api/v1/agents/nul-sponsor',
        )
        await rejectsWithoutWriting(
          () =>
            api('POST', '/api/v1/groups', {
              body: { id: 'nul-group', members: [{ kind: 'human', id: 'a\u0000b' }] },
            }),
          (res) => expectFieldError(res, '/members/0/id'),
          '/api/v1/groups/nul-group',
        )
      })

      it('a malformed If-Match is 400 with field /headers/if-match', async () => {
        await create('humans', { id: 'if-match-target' })
        for (const value of ['abc', '-1', '"1.5"', 'W/"one"', '1234567890123456']) {
          await rejectsWithoutWriting(
            () =>
              api('PATCH', '/api/v1/humans/if-match-target', {
                body: { name: 'Other' },
                headers: { 'if-match': value },
              }),
            (res) => expectFieldError(res, '/headers/if-match'),
          )
        }
      })
    })

    describe('404 not_found', () => {
      for (const spec of kinds) {
        const path = `/api/v1/${spec.plural}/no-such-${spec.slug.replace('_', '-')}`
        for (const method of ['GET', 'PATCH', 'DELETE']) {
          it(`${method} ${path} is 404 not_found and writes nothing`, async () => {
            await rejectsWithoutWriting(
              () => api(method, path, method === 'PATCH' ? { body: spec.change } : {}),
              (res) => expectError(res, 404, 'not_found'),
              path,
            )
          })
        }
      }

      for (const [method, path] of [
        ['GET', '/api/v1/nothing-here'],
        ['GET', '/api/v2/humans'],
        ['GET', '/api/v1/humans/x/extra'],
      ] as const) {
        it(`${method} ${path} (no such route) is 404 not_found`, async () => {
          await rejectsWithoutWriting(
            () => api(method, path),
            (res) => expectError(res, 404, 'not_found'),
          )
        })
      }
      for (const [method, path, allow] of [
        ['POST', '/api/v1/humans/x', 'GET, HEAD, PUT, PATCH, DELETE'],
        ['DELETE', '/api/v1/keys', 'GET, HEAD'],
        ['PUT', '/api/v1/audit/events', 'GET, HEAD'],
      ] as const) {
        it(`${method} ${path} (a path served under other methods) is 405 with Allow: ${allow} (RFC 9110 §15.5.6, issue 8)`, async () => {
          await rejectsWithoutWriting(
            () => api(method, path, method === 'DELETE' ? {} : { body: {} }),
            (res) => {
              expectError(res, 405, 'method_not_allowed')
              assert.equal(res.headers.get('allow'), allow)
            },
          )
        })
      }
    })

    describe('409 conflict', () => {
      for (const spec of kinds) {
        const base = `/api/v1/${spec.plural}`
        const id = fixtureId(spec)
        it(`POST ${base} with an existing id is 409 conflict`, async () => {
          const before = await api('GET', `${base}/${id}`)
          await rejectsWithoutWriting(
            () => api('POST', base, { body: spec.valid(id) }),
            (res) => expectError(res, 409, 'conflict'),
          )
          assert.deepEqual((await api('GET', `${base}/${id}`)).json, before.json)
        })

        it(`PUT and PATCH ${base}/:id with a stale If-Match version are 409 conflict (RFC 9110 §13.1.1)`, async () => {
          const ownId = `ifm-${spec.slug.replace('_', '-')}`
          const created = await api('PUT', `${base}/${ownId}`, { body: spec.valid(ownId) })
          assert.equal(created.status, 201, created.text)
          const read = await api('GET', `${base}/${ownId}`)
          assert.equal(read.headers.get('etag'), '"1"')
          const updated = await api('PATCH', `${base}/${ownId}`, {
            body: spec.change,
            headers: { 'if-match': read.headers.get('etag') ?? '' },
          })
          assert.equal(updated.status, 200, updated.text)
          assert.equal(updated.json.object.version, 2)
          for (const method of ['PUT', 'PATCH']) {
            const body =
              method === 'PUT'
                ? spec.valid(ownId)
                : {
                    ...spec.change,
                    ...('name' in spec.change ? { name: 'Stale' } : { description: 'Stale' }),
                  }
            await rejectsWithoutWriting(
              () => api(method, `${base}/${ownId}`, { body, headers: { 'if-match': '"1"' } }),
              (res) => expectError(res, 409, 'conflict'),
            )
          }
          assert.equal((await api('GET', `${base}/${ownId}`)).json.version, 2)
        })

        it(`PUT ${base}/:id with If-Match on an object that does not exist is 409 conflict`, async () => {
          const missing = `ifm-missing-${spec.slug.replace('_', '-')}`
          await rejectsWithoutWriting(
            () =>
              api('PUT', `${base}/${missing}`, { body: spec.valid(missing), headers: { 'if-match': '1' } }),
            (res) => expectError(res, 409, 'conflict'),
            `${base}/${missing}`,
          )
        })
      }

      for (const plural of ['agents', 'workloads']) {
        it(`un-retiring a retired ${plural.slice(0, -1)} is 409 conflict: retirement is final`, async () => {
          const id = `retired-${plural}`
          const doc =
            plural === 'agents' ? { id, sponsor: SPONSOR, classification: 'delegated', ceiling: [] } : { id }
          await create(plural, doc)
          const retired = await api('DELETE', `/api/v1/${plural}/${id}`)
          assert.equal(retired.status, 200, retired.text)
          assert.equal(retired.json.object.status, 'retired')
          for (const send of [
            () => api('PATCH', `/api/v1/${plural}/${id}`, { body: { status: 'active' } }),
            () => api('PATCH', `/api/v1/${plural}/${id}`, { body: { status: 'suspended' } }),
            () => api('PUT', `/api/v1/${plural}/${id}`, { body: { ...doc, status: 'active' } }),
          ]) {
            await rejectsWithoutWriting(send, (res) => expectError(res, 409, 'conflict'))
          }
          assert.equal((await api('GET', `/api/v1/${plural}/${id}`)).json.status, 'retired')
        })
      }

      it('a second trusted issuer with the same issuer URL is 409 conflict', async () => {
        const issuers = kindOf('trusted-issuers')
        const existing = issuers.valid(fixtureId(issuers))
        await rejectsWithoutWriting(
          () => api('POST', '/api/v1/trusted-issuers', { body: { ...existing, id: 'same-issuer' } }),
          (res) => expectError(res, 409, 'conflict'),
          '/api/v1/trusted-issuers/same-issuer',
        )
      })
    })

    describe('registry rules through the API', () => {
      const agent = (id: string, extra: Doc = {}): Doc => ({
        id,
        sponsor: SPONSOR,
        classification: 'autonomous',
        ceiling: ['tickets:read', 'tickets:write'],
        ...extra,
      })

      it('an agent whose sponsor does not exist is 400 with field /sponsor', async () => {
        await rejectsWithoutWriting(
          () => api('POST', '/api/v1/agents', { body: agent('orphan', { sponsor: 'nobody-at-all' }) }),
          (res) => expectFieldError(res, '/sponsor'),
          '/api/v1/agents/orphan',
        )
      })

      it('an active agent whose sponsor is inactive is 400 with field /sponsor', async () => {
        await create('humans', { id: 'gone-sponsor', status: 'inactive' })
        await rejectsWithoutWriting(
          () => api('POST', '/api/v1/agents', { body: agent('unsponsored', { sponsor: 'gone-sponsor' }) }),
          (res) => expectFieldError(res, '/sponsor'),
          '/api/v1/agents/unsponsored',
        )
      })

      for (const how of ['DELETE', 'PATCH status inactive'] as const) {
        it(`deactivating a human (${how}) suspends every active agent they sponsor, each with an audit event`, async () => {
          const human = `sponsor-${how === 'DELETE' ? 'del' : 'patch'}`
          await create('humans', { id: human })
          const sponsored = [`${human}-a`, `${human}-b`, `${human}-c`]
          for (const id of sponsored) await create('agents', agent(id, { sponsor: human }))
          await create('agents', agent(`${human}-retired`, { sponsor: human }))
          assert.equal((await api('DELETE', `/api/v1/agents/${human}-retired`)).status, 200)
          await create(
            'agents',
            agent(`${human}-manual`, {
              sponsor: human,
              status: 'suspended',
              suspended_reason: 'under review',
            }),
          )
          await create('agents', agent(`${human}-other`))
          const head = await auditHead()

          const res =
            how === 'DELETE'
              ? await api('DELETE', `/api/v1/humans/${human}`, { headers: { traceparent: TRACEPARENT } })
              : await api('PATCH', `/api/v1/humans/${human}`, {
                  body: { status: 'inactive' },
                  headers: { traceparent: TRACEPARENT },
                })
          assert.equal(res.status, 200, res.text)
          assert.equal(res.json.object.status, 'inactive')
          const requestId = res.headers.get('x-request-id')

          for (const id of sponsored) {
            const got = await api('GET', `/api/v1/agents/${id}`)
            assert.equal(got.json.status, 'suspended', id)
            assert.equal(got.json.suspended_reason, 'sponsor_inactive', id)
          }
          assert.equal((await api('GET', `/api/v1/agents/${human}-retired`)).json.status, 'retired')
          assert.equal(
            (await api('GET', `/api/v1/agents/${human}-manual`)).json.suspended_reason,
            'under review',
          )
          assert.equal((await api('GET', `/api/v1/agents/${human}-other`)).json.status, 'active')

          const suspensions = await eventsOf(`type=admin.agent.suspend&after=${head}`)
          assert.deepEqual(
            suspensions.map((e) => e.resource).sort(),
            sponsored.map((id) => `agent:${id}`).sort(),
          )
          for (const event of suspensions) {
            assert.equal(event.request_id, requestId)
            assert.equal(event.traceparent, TRACEPARENT)
            assert.match(String(event.reason), new RegExp(human))
            assert.equal((event.details as { after: { status: string } }).after.status, 'suspended')
          }
          const deactivation = await eventsOf(`type=admin.human.update&after=${head}`)
          assert.equal(deactivation.length, 1)
          assert.equal((await eventsOf(`after=${head}`)).length, 1 + sponsored.length)
        })
      }

      it('deactivating an already inactive human changes nothing and records nothing', async () => {
        await rejectsWithoutWriting(
          async () => api('PATCH', '/api/v1/humans/sponsor-del', { body: { status: 'inactive' } }),
          (res) => {
            assert.equal(res.status, 200)
            assert.equal(res.json.change, 'unchanged')
          },
        )
      })

      it('assigning an active new sponsor via PATCH reactivates an agent suspended for sponsor_inactive', async () => {
        await create('humans', { id: 'new-sponsor' })
        const res = await api('PATCH', '/api/v1/agents/sponsor-del-a', { body: { sponsor: 'new-sponsor' } })
        assert.equal(res.status, 200, res.text)
        assert.equal(res.json.object.status, 'active')
        assert.equal(res.json.object.sponsor, 'new-sponsor')
        assert.equal(res.json.object.suspended_reason, undefined)
        assert.equal((await api('GET', '/api/v1/agents/sponsor-del-a')).json.status, 'active')
      })

      it('assigning an inactive or unknown sponsor does not reactivate the agent', async () => {
        const inactive = await api('PATCH', '/api/v1/agents/sponsor-del-b', {
          body: { sponsor: 'gone-sponsor' },
        })
        assert.equal(inactive.status, 200, inactive.text)
        assert.equal(inactive.json.object.status, 'suspended')
        assert.equal(inactive.json.object.suspended_reason, 'sponsor_inactive')
        await rejectsWithoutWriting(
          () => api('PATCH', '/api/v1/agents/sponsor-del-c', { body: { sponsor: 'nobody-at-all' } }),
          (res) => expectFieldError(res, '/sponsor'),
        )
        assert.equal((await api('GET', '/api/v1/agents/sponsor-del-c')).json.status, 'suspended')
      })

      it('a new sponsor does not lift a suspension that has another reason', async () => {
        const res = await api('PATCH', '/api/v1/agents/sponsor-del-manual', {
          body: { sponsor: 'new-sponsor' },
        })
        assert.equal(res.status, 200, res.text)
        assert.equal(res.json.object.status, 'suspended')
        assert.equal(res.json.object.suspended_reason, 'under review')
      })

      it('a sub-agent deeper than maxAgentDepth (3) is 400 with field /parent', async () => {
        await create('agents', agent('depth-1'))
        await create('agents', agent('depth-2', { parent: 'depth-1' }))
        await create('agents', agent('depth-3', { parent: 'depth-2' }))
        await rejectsWithoutWriting(
          () => api('POST', '/api/v1/agents', { body: agent('depth-4', { parent: 'depth-3' }) }),
          (res) => expectFieldError(res, '/parent'),
          '/api/v1/agents/depth-4',
        )
      })

      it('a parent that does not exist, or a cycle, is 400 with field /parent', async () => {
        await rejectsWithoutWriting(
          () => api('POST', '/api/v1/agents', { body: agent('lost-child', { parent: 'no-such-parent' }) }),
          (res) => expectFieldError(res, '/parent'),
          '/api/v1/agents/lost-child',
        )
        await rejectsWithoutWriting(
          () => api('PATCH', '/api/v1/agents/depth-1', { body: { parent: 'depth-2' } }),
          (res) => expectFieldError(res, '/parent'),
        )
        await rejectsWithoutWriting(
          () => api('PATCH', '/api/v1/agents/depth-1', { body: { parent: 'depth-1' } }),
          (res) => expectFieldError(res, '/parent'),
        )
      })

      it("a sub-agent ceiling action outside its parent's ceiling is 400 with field /ceiling/N", async () => {
        await rejectsWithoutWriting(
          () =>
            api('POST', '/api/v1/agents', {
              body: agent('greedy-child', {
                parent: 'depth-1',
                ceiling: [
                  'tickets:read',
                  { action: 'tickets:write', resources: ['queue/*'] },
                  'billing:refund',
                  { action: 'admin', resources: ['*'] },
                ],
              }),
            }),
          (res) => {
            expectFieldError(res, '/ceiling/2')
            expectFieldError(res, '/ceiling/3')
            assert.equal(res.json.fields.length, 2, res.text)
          },
          '/api/v1/agents/greedy-child',
        )
      })

      it('moving an agent under a new parent may not push its sub-agents past maxAgentDepth', async () => {
        await create('agents', agent('new-root'))
        await rejectsWithoutWriting(
          () => api('PATCH', '/api/v1/agents/depth-1', { body: { parent: 'new-root' } }),
          (res) => expectFieldError(res, '/parent'),
        )
      })

      it("narrowing a parent's ceiling may not leave a sub-agent with actions outside it", async () => {
        await rejectsWithoutWriting(
          () => api('PATCH', '/api/v1/agents/depth-2', { body: { ceiling: ['tickets:write'] } }),
          (res) => expectError(res, 400, 'validation_failed'),
        )
      })

      it('a sub-agent of a retired agent can still be suspended and retired', async () => {
        await create('agents', agent('doomed-parent'))
        await create('agents', agent('stranded-child', { parent: 'doomed-parent' }))
        assert.equal((await api('DELETE', '/api/v1/agents/doomed-parent')).status, 200)
        const res = await api('DELETE', '/api/v1/agents/stranded-child')
        assert.equal(res.status, 200, res.text)
        assert.equal(res.json.object.status, 'retired')
      })

      it('a sub-agent of a retired agent cannot be created', async () => {
        await create('agents', agent('retired-parent'))
        assert.equal((await api('DELETE', '/api/v1/agents/retired-parent')).status, 200)
        await rejectsWithoutWriting(
          () =>
            api('POST', '/api/v1/agents', {
              body: agent('late-child', { parent: 'retired-parent', ceiling: [] }),
            }),
          (res) => expectFieldError(res, '/parent'),
          '/api/v1/agents/late-child',
        )
      })

      it('a jwks credential holding a private key member (d) is 400 (RFC 7517 §4)', async () => {
        for (const plural of ['agents', 'workloads']) {
          const id = `private-jwk-${plural}`
          const doc = plural === 'agents' ? agent(id) : { id }
          await rejectsWithoutWriting(
            () =>
              api('POST', `/api/v1/${plural}`, {
                body: {
                  ...doc,
                  credentials: [{ type: 'jwks', jwks: { keys: [PUBLIC_EC_JWK, PRIVATE_EC_JWK] } }],
                },
              }),
            (res) => {
              expectFieldError(res, '/credentials/0/jwks/keys/1')
              assert.ok(!res.text.includes(PRIVATE_EC_JWK.d), 'the private key is echoed')
            },
            `/api/v1/${plural}/${id}`,
          )
        }
      })

      it('a jwks credential with only public keys is accepted', async () => {
        const res = await api('POST', '/api/v1/agents', {
          body: agent('public-jwk', { credentials: [{ type: 'jwks', jwks: { keys: [PUBLIC_EC_JWK] } }] }),
        })
        assert.equal(res.status, 201, res.text)
      })

      it('a federated credential is accepted only for an issuer registered as a workload TrustedIssuer', async () => {
        const issuer = 'https://ci.federated.example'
        const body = agent('federated-agent', {
          credentials: [{ type: 'federated', issuer, subject: 'repo:acme/app:ref:refs/heads/main' }],
        })
        await rejectsWithoutWriting(
          () => api('POST', '/api/v1/agents', { body }),
          (res) => expectFieldError(res, '/credentials/0/issuer'),
          '/api/v1/agents/federated-agent',
        )
        await create('trusted-issuers', {
          id: 'federated-idp',
          issuer,
          type: 'human_idp',
          jwks: { keys: [PUBLIC_EC_JWK] },
        })
        await rejectsWithoutWriting(
          () => api('POST', '/api/v1/agents', { body }),
          (res) => expectFieldError(res, '/credentials/0/issuer'),
          '/api/v1/agents/federated-agent',
        )
        const patched = await api('PATCH', '/api/v1/trusted-issuers/federated-idp', {
          body: { type: 'workload' },
        })
        assert.equal(patched.status, 200, patched.text)
        const res = await api('POST', '/api/v1/agents', { body })
        assert.equal(res.status, 201, res.text)
      })

      it('a workload whose federated issuer was deleted can still be retired', async () => {
        const issuer = 'https://short-lived.federated.example'
        await create('trusted-issuers', {
          id: 'short-lived-issuer',
          issuer,
          type: 'workload',
          jwks: { keys: [PUBLIC_EC_JWK] },
        })
        await create('workloads', {
          id: 'federated-workload',
          credentials: [{ type: 'federated', issuer, subject: 'system:serviceaccount:ns:sa' }],
        })
        const removed = await api('DELETE', '/api/v1/trusted-issuers/short-lived-issuer')
        if (removed.status === 409) {
          expectError(removed, 409, 'conflict')
          return
        }
        const res = await api('DELETE', '/api/v1/workloads/federated-workload')
        assert.equal(res.status, 200, res.text)
      })

      it('a jwks_uri pointing to the link-local metadata address (https://169.254.169.254/) is 400', async () => {
        await rejectsWithoutWriting(
          () =>
            api('POST', '/api/v1/agents', {
              body: agent('ssrf-agent', {
                credentials: [{ type: 'jwks_uri', jwks_uri: 'https://169.254.169.254/' }],
              }),
            }),
          (res) => expectFieldError(res, '/credentials/0/jwks_uri'),
          '/api/v1/agents/ssrf-agent',
        )
        await rejectsWithoutWriting(
          () =>
            api('POST', '/api/v1/trusted-issuers', {
              body: {
                id: 'ssrf-issuer',
                issuer: 'https://ssrf.example',
                type: 'workload',
                jwks_uri: 'https://169.254.169.254/latest/meta-data/',
              },
            }),
          (res) => expectFieldError(res, '/jwks_uri'),
          '/api/v1/trusted-issuers/ssrf-issuer',
        )
        for (const uri of [
          'http://jwks.example/keys',
          'https://user:pass@jwks.example/keys',
          'https://10.0.0.1/keys',
          'https://[::1]/keys',
        ]) {
          await rejectsWithoutWriting(
            () =>
              api('POST', '/api/v1/workloads', {
                body: { id: 'ssrf-workload', credentials: [{ type: 'jwks_uri', jwks_uri: uri }] },
              }),
            (res) => expectFieldError(res, '/credentials/0/jwks_uri'),
            '/api/v1/workloads/ssrf-workload',
          )
        }
      })

      it('a trusted issuer needs exactly one of jwks and jwks_uri', async () => {
        for (const body of [
          { id: 'keyless-issuer', issuer: 'https://keyless.example', type: 'workload' },
          {
            id: 'keyless-issuer',
            issuer: 'https://keyless.example',
            type: 'workload',
            jwks: { keys: [PUBLIC_EC_JWK] },
            jwks_uri: 'https://keyless.example/jwks',
          },
        ]) {
          await rejectsWithoutWriting(
            () => api('POST', '/api/v1/trusted-issuers', { body }),
            (res) => expectFieldError(res, '/'),
            '/api/v1/trusted-issuers/keyless-issuer',
          )
        }
      })

      it("a group member that does not exist is 400 with the member's pointer", async () => {
        await rejectsWithoutWriting(
          () =>
            api('POST', '/api/v1/groups', {
              body: {
                id: 'ghost-group',
                members: [
                  { kind: 'human', id: SPONSOR },
                  { kind: 'agent', id: 'ghost' },
                ],
              },
            }),
          (res) => expectFieldError(res, '/members/1'),
          '/api/v1/groups/ghost-group',
        )
      })

      it('a group member error points at the member in the input, even after a duplicate', async () => {
        await rejectsWithoutWriting(
          () =>
            api('POST', '/api/v1/groups', {
              body: {
                id: 'dup-group',
                members: [
                  { kind: 'human', id: SPONSOR },
                  { kind: 'human', id: SPONSOR },
                  { kind: 'agent', id: 'ghost' },
                ],
              },
            }),
          (res) => expectFieldError(res, '/members/2'),
          '/api/v1/groups/dup-group',
        )
      })

      it('a merge patch with null removes the member (RFC 7396 §2), also as application/merge-patch+json', async () => {
        await create('humans', { id: 'patched-human', name: 'Named', email: 'n@example.com' })
        const res = await api('PATCH', '/api/v1/humans/patched-human', {
          body: { name: null },
          headers: { 'content-type': 'application/merge-patch+json' },
        })
        assert.equal(res.status, 200, res.text)
        assert.equal(res.json.object.name, undefined)
        assert.equal(res.json.object.email, 'n@example.com')
        assert.equal(res.json.object.version, 2)
      })

      it('POST answers 201 with a Location header naming the new object (RFC 9110 §15.3.2)', async () => {
        const res = await api('POST', '/api/v1/humans', { body: { id: 'located@example' } })
        assert.equal(res.status, 201)
        assert.equal(res.headers.get('location'), `/api/v1/humans/${encodeURIComponent('located@example')}`)
        assert.equal((await api('GET', res.headers.get('location') ?? '')).json.id, 'located@example')
      })
    })

    describe('lists: filters and cursor pagination', () => {
      const pageIds = ['pg-B', 'pg-a', 'pg.c', 'pg_D', 'pg:e']

      before(async () => {
        await create('humans', { id: 'pager' })
        await create('humans', { id: 'pager-2' })
        for (const [i, id] of pageIds.entries()) {
          await create('agents', {
            id,
            sponsor: 'pager',
            classification: i < 3 ? 'autonomous' : 'delegated',
            ceiling: ['read'],
            ...(i === 4 ? { status: 'suspended' } : {}),
          })
        }
        await create('agents', {
          id: 'pg-child',
          sponsor: 'pager-2',
          classification: 'blended',
          ceiling: ['read'],
          parent: 'pg-a',
        })
      })

      async function pageThrough(query: string, limit: number): Promise<{ ids: string[]; sizes: number[] }> {
        const ids: string[] = []
        const sizes: number[] = []
        let cursor: string | null = null
        for (let pages = 0; pages < 1000; pages++) {
          const res: CallResult = await api(
            'GET',
            `/api/v1/agents?${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          )
          assert.equal(res.status, 200, res.text)
          assert.ok(res.json.items.length <= limit)
          ids.push(...res.json.items.map((a: { id: string }) => a.id))
          sizes.push(res.json.items.length)
          cursor = res.json.next_cursor
          if (cursor === null) return { ids, sizes }
        }
        assert.fail('pagination did not end')
      }

      it('paging with limit=2 and next_cursor returns each of 5 agents exactly once', async () => {
        const { ids, sizes } = await pageThrough('sponsor=pager', 2)
        assert.deepEqual(sizes, [2, 2, 1])
        assert.equal(new Set(ids).size, ids.length, `duplicates in ${ids}`)
        assert.deepEqual([...ids].sort(), [...pageIds].sort())
      })

      it('paging through every agent with limit=1 returns each exactly once, like one large page', async () => {
        const all = await api('GET', '/api/v1/agents?limit=500')
        assert.equal(all.json.next_cursor, null)
        const { ids } = await pageThrough('', 1)
        assert.equal(new Set(ids).size, ids.length)
        assert.deepEqual(
          ids,
          all.json.items.map((a: { id: string }) => a.id),
        )
      })

      it('filters by sponsor, classification, status and parent, alone and together', async () => {
        const idsOf = async (query: string) =>
          (await api('GET', `/api/v1/agents?${query}&limit=500`)).json.items
            .map((a: { id: string }) => a.id)
            .sort()
        assert.deepEqual(await idsOf('sponsor=pager&classification=delegated'), ['pg:e', 'pg_D'].sort())
        assert.deepEqual(await idsOf('sponsor=pager&status=suspended'), ['pg:e'])
        assert.deepEqual(
          await idsOf('sponsor=pager&status=active&classification=autonomous'),
          ['pg-B', 'pg-a', 'pg.c'].sort(),
        )
        assert.deepEqual(await idsOf('classification=blended'), ['pg-child'])
        assert.deepEqual(await idsOf('parent=pg-a'), ['pg-child'])
        assert.deepEqual(await idsOf('sponsor=nobody-sponsors-this'), [])
      })

      it('filters humans by status and trusted issuers by type', async () => {
        const inactive = (await api('GET', '/api/v1/humans?status=inactive&limit=500')).json.items
        assert.ok(inactive.length > 0)
        assert.ok(inactive.every((h: { status: string }) => h.status === 'inactive'))
        assert.ok(inactive.some((h: { id: string }) => h.id === 'gone-sponsor'))
        const issuers = (await api('GET', '/api/v1/trusted-issuers?type=workload&limit=500')).json.items
        assert.ok(issuers.some((i: { id: string }) => i.id === fixtureId(kindOf('trusted-issuers'))))
        assert.ok(issuers.every((i: { type: string }) => i.type === 'workload'))
      })

      it('the audit export pages with after/next_after and filters by type and principal', async () => {
        const seqs: number[] = []
        let after = 0
        for (;;) {
          const res = await api('GET', `/api/v1/audit/events?after=${after}&limit=7`)
          seqs.push(...res.json.items.map((e: { seq: number }) => e.seq))
          if (res.json.next_after === null) break
          after = res.json.next_after
        }
        assert.deepEqual(
          seqs,
          Array.from({ length: seqs.length }, (_, i) => i + 1),
        )
        assert.equal(seqs.length, await auditHead())
        const created = await eventsOf('type=admin.agent.create&principal=agent:pg-a')
        assert.equal(created.length, 1)
        assert.ok(created[0]?.subjects.includes('agent:pg-a'))
        const prefixed = await eventsOf('type=admin.agent.')
        assert.ok(prefixed.length > 0 && prefixed.every((e) => String(e.type).startsWith('admin.agent.')))
      })
    })

    describe('PUT is idempotent', () => {
      for (const spec of kinds) {
        it(`PUT ${`/api/v1/${spec.plural}`}/:id twice: 201 created, then 200 unchanged with no audit event`, async () => {
          const id = `idem-${spec.slug.replace('_', '-')}`
          const path = `/api/v1/${spec.plural}/${id}`
          const doc = spec.valid(id)
          const first = await api('PUT', path, { body: doc })
          assert.equal(first.status, 201, first.text)
          assert.equal(first.json.change, 'created')
          assert.equal(first.json.object.version, 1)
          await rejectsWithoutWriting(
            () => api('PUT', path, { body: doc }),
            (res) => {
              assert.equal(res.status, 200, res.text)
              assert.equal(res.json.change, 'unchanged')
              assert.deepEqual(res.json.object, first.json.object)
            },
          )
          const head = await auditHead()
          const changed = await api('PUT', path, { body: { ...doc, ...spec.change } })
          assert.equal(changed.status, 200)
          assert.equal(changed.json.change, 'updated')
          assert.equal(changed.json.object.version, 2)
          const events = await eventsOf(`after=${head}`)
          assert.deepEqual(
            events.map((e) => e.type),
            [`admin.${spec.slug}.update`],
          )
        })
      }

      it('PUT of an agent with a client_secret twice issues the secret once and then changes nothing', async () => {
        const doc = {
          sponsor: SPONSOR,
          classification: 'autonomous',
          ceiling: [],
          credentials: [{ type: 'client_secret' }],
        }
        const first = await api('PUT', '/api/v1/agents/idem-secret', { body: doc })
        assert.equal(first.status, 201, first.text)
        assert.equal(first.json.issued_secrets.length, 1)
        await rejectsWithoutWriting(
          () => api('PUT', '/api/v1/agents/idem-secret', { body: doc }),
          (res) => {
            assert.equal(res.json.change, 'unchanged')
            assert.equal(res.json.issued_secrets, undefined)
            assert.equal(
              res.json.object.credentials[0].secret_hash,
              first.json.object.credentials[0].secret_hash,
            )
          },
        )
      })

      it('an equal PATCH is unchanged and records nothing', async () => {
        await rejectsWithoutWriting(
          () => api('PATCH', `/api/v1/humans/${SPONSOR}`, { body: { name: 'Sponsor' } }),
          (res) => {
            assert.equal(res.status, 200)
            assert.equal(res.json.change, 'unchanged')
          },
        )
      })
    })
  })
}
