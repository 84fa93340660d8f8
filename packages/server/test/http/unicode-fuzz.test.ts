// Random Unicode through every string field of the admin API, AuthZEN and the token endpoint (issue 8): NUL, lone
// surrogates, spaces, RTL marks, emoji, combining marks and 10 kB strings. No request may get a 500, and afterwards
// the audit log must verify intact: whatever was recorded was stored exactly as hashed. The seed is printed; set
// MANDATE_FUZZ_SEED to replay a run.
import assert from 'node:assert/strict'
import { randomInt } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { adminEnv, runCli } from '../cli/run-cli.ts'
import { RESOURCE, startOAuthFixture } from '../oauth/oauth-fixture.ts'
import { pepKey } from '../policy/authzen-fixture.ts'
import { storeKinds, type TestNode, type TestStore } from '../support/harness.ts'

const ROUNDS = 120
const SEED = Number(process.env.MANDATE_FUZZ_SEED ?? randomInt(2 ** 31))

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
function generator(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

const PIECES = [
  '\u0000',
  '\ud800',
  '\udfff',
  '\ud83d',
  ' ',
  '  ',
  '\u202e',
  '\u200f',
  '\u200b',
  '\ufeff',
  '🧑‍💻',
  'e\u0301',
  '"',
  "'",
  '\\',
  '%',
  '%00',
  '_',
  '/',
  '..',
  ':',
  '\n',
  '\r\n',
  '\t',
  'a',
  'Z',
  '0',
  '€',
  '中',
  '\uffff',
  '<script>',
  '__entity',
  'agent:bot',
]

function hostile(random: () => number): string {
  const pick = random()
  if (pick < 0.05) return 'x'.repeat(10_240)
  if (pick < 0.08) return `${'🧑‍💻'.repeat(1500)}\ud800`
  const parts = 1 + Math.floor(random() * 6)
  let text = ''
  for (let i = 0; i < parts; i++) {
    text +=
      random() < 0.7
        ? (PIECES[Math.floor(random() * PIECES.length)] ?? '')
        : String.fromCharCode(Math.floor(random() * 0x10000))
  }
  return text
}

/** Percent-encodes like encodeURIComponent, but a lone surrogate becomes its (invalid) WTF-8 bytes instead of a throw. */
function encodeLoose(text: string): string {
  let out = ''
  for (const char of text) {
    const code = char.charCodeAt(0)
    if (char.length === 1 && code >= 0xd800 && code <= 0xdfff)
      out +=
        `%${(0xe0 | (code >> 12)).toString(16)}%${(0x80 | ((code >> 6) & 0x3f)).toString(16)}%${(0x80 | (code & 0x3f)).toString(16)}`.toUpperCase()
    else out += encodeURIComponent(char)
  }
  return out
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** Every path to a string (value or object key) in a JSON value. */
function stringPaths(value: Json, path: Array<string | number> = []): Array<Array<string | number>> {
  if (typeof value === 'string') return [path]
  if (Array.isArray(value)) return value.flatMap((item, i) => stringPaths(item, [...path, i]))
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([key, item]) => [
      [...path, { key } as unknown as string],
      ...stringPaths(item, [...path, key]),
    ])
  return []
}

/** A copy of `value` with the string (or key) at `path` replaced. */
function replaced(value: Json, path: Array<string | number>, text: string): Json {
  const copy = structuredClone(value)
  let parent: Json = copy
  for (let i = 0; i < path.length - 1; i++)
    parent = (parent as Record<string, Json>)[path[i] as string] as Json
  const last = path.at(-1) as unknown
  const target = parent as Record<string, Json>
  if (last && typeof last === 'object' && 'key' in last) {
    const key = (last as { key: string }).key
    const item = target[key] as Json
    delete target[key]
    target[text] = item
  } else if (path.length === 0) return text
  else target[last as string] = text
  return copy
}

const BASE_DOCS: Record<string, { path: string; id: string; doc: Json }> = {
  human: {
    path: 'humans',
    id: 'fuzz-human',
    doc: { email: 'fuzz@example.com', name: 'Fuzz', attributes: { team: 'a' } },
  },
  workload: {
    path: 'workloads',
    id: 'fuzz-workload',
    doc: {
      name: 'w',
      ceiling: ['tickets:read', { action: 'tickets:write', resources: ['https://x.example/*'] }],
    },
  },
  agent: {
    path: 'agents',
    id: 'fuzz-agent',
    doc: {
      name: 'a',
      description: 'd',
      sponsor: 'alice@example.com',
      classification: 'blended',
      ceiling: ['tickets:read'],
      model: { provider: 'p', name: 'm', version: '1' },
      attributes: { tier: 'gold' },
    },
  },
  group: { path: 'groups', id: 'fuzz-group', doc: { name: 'g', members: [{ kind: 'agent', id: 'bot' }] } },
  issuer: {
    path: 'trusted-issuers',
    id: 'fuzz-issuer',
    doc: {
      issuer: 'https://idp.fuzz.example',
      type: 'workload',
      jwks_uri: 'https://idp.fuzz.example/jwks',
      audiences: ['a'],
    },
  },
  server: {
    path: 'resource-servers',
    id: 'fuzz-server',
    doc: { audience: 'https://fuzz.example/', scopes: ['f:read'], authorization_details_types: ['t'] },
  },
  policy: {
    path: 'policies',
    id: 'fuzz-policy',
    doc: {
      description: 'p',
      policies:
        '@id("fuzz")\nforbid (principal, action, resource) when { context has purpose && context.purpose == "x" };',
    },
  },
  entityType: {
    path: 'entity-types',
    id: 'fuzzdoc',
    doc: { attributes: { owner: { type: 'String' } } },
  },
  entity: { path: 'entities', id: 'fuzzdoc:1', doc: { attributes: { owner: 'o' }, parents: [] } },
}

const AUTHZEN_BASE: Json = {
  subject: { type: 'agent', id: 'bot', properties: { department: 'sales' } },
  action: { name: 'tickets:read', properties: { method: 'GET' } },
  resource: { type: 'resource_server', id: 'tickets', properties: { region: 'eu' } },
  context: { purpose: 'triage', mode: 'autonomous' },
}

const TOKEN_PARAMS = [
  'grant_type',
  'client_id',
  'client_secret',
  'scope',
  'resource',
  'audience',
  'subject_token',
  'subject_token_type',
  'actor_token',
  'actor_token_type',
  'requested_token_type',
  'assertion',
  'client_assertion',
  'client_assertion_type',
  'authorization_details',
  'purpose',
  'request_details',
]

for (const kind of storeKinds) {
  describe(`random Unicode through every surface (${kind.name}, seed ${SEED})`, () => {
    let store: TestStore
    let fixture: Awaited<ReturnType<typeof startOAuthFixture>>
    let test: TestNode
    let pep: string
    const random = generator(SEED)
    const statuses = new Map<string, number[]>()
    let recordsBefore = 0

    before(async () => {
      store = kind.create()
      // The budget for failed authentication is out of the way: this suite fails on purpose, a lot.
      fixture = await startOAuthFixture(store, { authFailureBurst: 0 })
      test = fixture.node
      pep = await pepKey(test)
      await test.call('PUT', '/api/v1/entity-types/fuzzdoc', { body: BASE_DOCS.entityType?.doc })
      recordsBefore = (await test.call('POST', '/api/v1/audit/verify', { body: {} })).json.records
    })
    after(async () => {
      await fixture?.close()
      await store?.drop()
    })

    function seen(surface: string, status: number): void {
      statuses.set(surface, [...(statuses.get(surface) ?? []), status])
      assert.notEqual(status, 500, `${surface} answered 500 (seed ${SEED})`)
      assert.ok(status >= 200 && status < 500, `${surface} answered ${status} (seed ${SEED})`)
    }

    it('issue 8: the admin API never answers 500', async () => {
      const bases = Object.values(BASE_DOCS)
      for (let round = 0; round < ROUNDS; round++) {
        const base = bases[Math.floor(random() * bases.length)]
        assert.ok(base)
        const paths = stringPaths(base.doc)
        const inId = random() < 0.2
        const text = hostile(random)
        const id = inId ? text : base.id
        const body =
          inId || paths.length === 0
            ? base.doc
            : replaced(base.doc, paths[Math.floor(random() * paths.length)] ?? [], text)
        const method = ['PUT', 'POST', 'PATCH'][Math.floor(random() * 3)] ?? 'PUT'
        const path = method === 'POST' ? `/api/v1/${base.path}` : `/api/v1/${base.path}/${encodeLoose(id)}`
        const answer = await test.call(method, path, {
          body: method === 'POST' ? { id, ...(body as object) } : body,
          ...(method === 'PATCH' ? { headers: { 'content-type': 'application/merge-patch+json' } } : {}),
        })
        seen(`${method} ${base.path}`, answer.status)
        const listed = await test.call('GET', `/api/v1/${base.path}?limit=5&cursor=${encodeLoose(text)}`)
        seen(`GET ${base.path}`, listed.status)
        const events = await test.call(
          'GET',
          `/api/v1/audit/events?limit=1&principal=${encodeLoose(`agent:${text}`)}`,
        )
        seen('GET audit/events', events.status)
      }
    })

    it('issue 8: AuthZEN never answers 500', async () => {
      const endpoints = [
        '/access/v1/evaluation',
        '/access/v1/evaluations',
        '/access/v1/search/subject',
        '/access/v1/search/resource',
        '/access/v1/search/action',
      ]
      const paths = stringPaths(AUTHZEN_BASE)
      for (let round = 0; round < ROUNDS; round++) {
        const endpoint = endpoints[Math.floor(random() * endpoints.length)] ?? '/access/v1/evaluation'
        let body = replaced(AUTHZEN_BASE, paths[Math.floor(random() * paths.length)] ?? [], hostile(random))
        if (endpoint.endsWith('evaluations'))
          body = { ...(body as object), evaluations: [{ action: { name: hostile(random) } }, {}] }
        // Searches leave out the id of what they search for.
        const searched = endpoint.endsWith('subject')
          ? 'subject'
          : endpoint.endsWith('resource')
            ? 'resource'
            : ''
        const entity = (body as Record<string, Json>)[searched]
        if (entity && typeof entity === 'object' && !Array.isArray(entity)) delete entity.id
        const res = await fetch(`${test.node.url}${endpoint}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${pep}` },
          body: JSON.stringify(body),
        })
        await res.arrayBuffer()
        seen(endpoint, res.status)
      }
    })

    it('issue 8: the token endpoint never answers 500', async () => {
      const basic = `Basic ${Buffer.from(`secret-bot:${fixture.secrets['secret-bot']}`).toString('base64')}`
      for (let round = 0; round < ROUNDS; round++) {
        const form = new URLSearchParams({
          grant_type: 'client_credentials',
          scope: 'tickets:read',
          resource: RESOURCE,
        })
        const fields = 1 + Math.floor(random() * 3)
        for (let i = 0; i < fields; i++)
          form.set(TOKEN_PARAMS[Math.floor(random() * TOKEN_PARAMS.length)] ?? 'scope', hostile(random))
        const authenticated = random() < 0.5
        const res = await fetch(fixture.tokenEndpoint, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            ...(authenticated ? { authorization: basic } : {}),
          },
          body: form.toString(),
        })
        await res.arrayBuffer()
        seen(`token (${authenticated ? 'authenticated' : 'anonymous'})`, res.status)
      }
    })

    it('issue 8: afterwards the audit log verifies intact', async (t) => {
      t.diagnostic(
        `seed ${SEED}; answers: ${[...statuses].map(([s, list]) => `${s} ${[...new Set(list)].sort().join('/')}`).join('; ')}`,
      )
      const api = await test.call('POST', '/api/v1/audit/verify', { body: {} })
      assert.equal(api.status, 200)
      assert.equal(api.json.ok, true, `seed ${SEED}: ${JSON.stringify(api.json.breaks)}`)
      assert.ok(api.json.records > recordsBefore + ROUNDS / 10, 'the fuzzing was recorded')
      const cli = await runCli(['audit', 'verify'], { env: adminEnv(test) })
      assert.equal(cli.code, 0, cli.stdout)
    })
  })
}
