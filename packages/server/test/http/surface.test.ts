// The node's public surface over real HTTP: health and readiness, discovery metadata and the JWKS (verified with a real
// remote key set), the OpenAPI document, metrics, request ids, and the correlation data audit events carry.
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { createRemoteJWKSet, jwtVerify, SignJWT } from 'jose'
import { createAjv } from '../../src/registry/validate.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'
import { expectError } from './http-checks.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth', 'priv']

/** A loopback port that was free a moment ago, so that the issuer can name the port the node listens on. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address && typeof address === 'object')
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return address.port
}

async function startOnKnownPort(store: TestStore): Promise<TestNode> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    try {
      return await startTestNode(store, { port, issuer: `http://127.0.0.1:${port}` })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5) throw error
    }
  }
}

describe('HTTP surface (sqlite)', () => {
  let store: TestStore
  let t: TestNode

  async function auditEventsOf(principal: string): Promise<Array<Record<string, unknown>>> {
    const res = await t.call(
      'GET',
      `/api/v1/audit/events?principal=${encodeURIComponent(principal)}&limit=1000`,
    )
    assert.equal(res.status, 200, res.text)
    return res.json.items
  }

  before(async () => {
    store = sqliteStore()
    t = await startOnKnownPort(store)
  })

  after(async () => {
    // The last tests close the database under the node; closing it again may throw.
    await t?.close().catch(() => {})
    await store?.drop()
  })

  describe('health', () => {
    it('/healthz answers 200 without authentication', async () => {
      const res = await t.call('GET', '/healthz', { token: null })
      assert.equal(res.status, 200)
      assert.deepEqual(res.json, { status: 'ok' })
    })

    it('/readyz answers 200 with the database check ok', async () => {
      const res = await t.call('GET', '/readyz', { token: null })
      assert.equal(res.status, 200)
      assert.equal(res.json.status, 'ready')
      assert.equal(res.json.checks.database, 'ok')
    })
  })

  describe('discovery (RFC 8414, RFC 7517)', () => {
    it('the authorization server metadata names the configured issuer and its jwks_uri (RFC 8414 §3.2)', async () => {
      const res = await t.call('GET', '/.well-known/oauth-authorization-server', { token: null })
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/)
      assert.equal(res.json.issuer, t.config.issuer)
      assert.equal(res.json.issuer, t.node.url)
      assert.equal(res.json.jwks_uri, `${t.config.issuer}/.well-known/jwks.json`)
    })

    it('jwks_uri answers application/jwk-set+json (RFC 7517 §8.5) with a cache lifetime', async () => {
      const metadata = await t.call('GET', '/.well-known/oauth-authorization-server', { token: null })
      const res = await fetch(metadata.json.jwks_uri)
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^application\/jwk-set\+json\b/)
      const maxAge = /(?:^|,)\s*max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')
      assert.ok(maxAge?.[1] && Number(maxAge[1]) > 0, `cache-control: ${res.headers.get('cache-control')}`)
    })

    it('the JWKS holds only public keys, each with a distinct kid, alg and use=sig', async () => {
      const res = await t.call('GET', '/.well-known/jwks.json', { token: null })
      const keys: Array<Record<string, unknown>> = res.json.keys
      assert.ok(keys.length >= 1)
      for (const key of keys) {
        for (const member of PRIVATE_MEMBERS)
          assert.ok(!(member in key), `key ${key.kid} has private member ${member}`)
        assert.equal(typeof key.kid, 'string')
        assert.ok(String(key.kid).length > 0)
        assert.equal(key.use, 'sig')
        assert.equal(key.alg, t.config.signingAlg)
      }
      assert.equal(new Set(keys.map((k) => k.kid)).size, keys.length)
      const ring = (await t.call('GET', '/api/v1/keys')).json.items.map((k: { kid: string }) => k.kid)
      assert.deepEqual(keys.map((k) => k.kid).sort(), [...ring].sort())
    })

    it("a JWT signed by the ring's signing key verifies against the remote JWKS; a foreign key with that kid does not", async () => {
      const metadata = await t.call('GET', '/.well-known/oauth-authorization-server', { token: null })
      const jwks = createRemoteJWKSet(new URL(metadata.json.jwks_uri))
      const signing = t.node.keyRing.signingKey()
      const jwt = await new SignJWT({ scope: 'tickets:read' })
        .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: 'at+jwt' })
        .setIssuer(t.config.issuer)
        .setSubject('agent:surface-test')
        .setAudience('https://api.example')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(signing.privateKey)
      const { payload, protectedHeader } = await jwtVerify(jwt, jwks, {
        issuer: t.config.issuer,
        audience: 'https://api.example',
      })
      assert.equal(payload.sub, 'agent:surface-test')
      assert.equal(protectedHeader.kid, signing.kid)

      const foreign = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
      const forged = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: signing.kid })
        .setIssuer(t.config.issuer)
        .setExpirationTime('5m')
        .sign(foreign)
      await assert.rejects(jwtVerify(forged, jwks, { issuer: t.config.issuer }), {
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      })
    })

    it('after a rotation the new key is published before it signs, and the old one still verifies', async () => {
      const before = t.node.keyRing.signingKey()
      const rotated = await t.call('POST', '/api/v1/keys/rotate', { body: { reason: 'surface test' } })
      assert.equal(rotated.status, 201, rotated.text)
      const kids = (await t.call('GET', '/.well-known/jwks.json', { token: null })).json.keys.map(
        (k: { kid: string }) => k.kid,
      )
      assert.ok(kids.includes(rotated.json.kid), 'the new key is not published')
      assert.ok(kids.includes(before.kid), 'the signing key left the JWKS')
      assert.equal(
        t.node.keyRing.signingKey().kid,
        before.kid,
        'the new key signs before its propagation delay',
      )
      const jwt = await new SignJWT({})
        .setProtectedHeader({ alg: before.alg, kid: before.kid })
        .setExpirationTime('5m')
        .sign(before.privateKey)
      const metadata = await t.call('GET', '/.well-known/oauth-authorization-server', { token: null })
      await jwtVerify(jwt, createRemoteJWKSet(new URL(metadata.json.jwks_uri)))
    })

    it('with port 0 and no configured issuer, the metadata names the port actually bound', async () => {
      const other = sqliteStore()
      const node = await startTestNode(other)
      try {
        const res = await node.call('GET', '/.well-known/oauth-authorization-server', { token: null })
        assert.equal(res.json.issuer, node.node.url)
        assert.equal((await fetch(res.json.jwks_uri)).status, 200)
      } finally {
        await node.close()
        await other.drop()
      }
    })
  })

  describe('OpenAPI document and browsable documentation (issue 8)', () => {
    // biome-ignore lint/suspicious/noExplicitAny: the document is read as data
    let doc: any
    before(async () => {
      const res = await t.call('GET', '/api/docs/openapi.json', { token: null })
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
      doc = res.json
    })

    const operations = (): Array<{
      name: string
      method: string
      path: string
      op: Record<string, unknown>
    }> =>
      Object.entries(doc.paths as Record<string, Record<string, Record<string, unknown>>>).flatMap(
        ([path, item]) =>
          Object.entries(item).map(([method, op]) => ({
            name: `${method.toUpperCase()} ${path}`,
            method,
            path,
            op,
          })),
      )

    it('/api/docs/openapi.json is an OpenAPI 3.1 document listing /api/v1/agents and /api/v1/agents/{id}', () => {
      assert.match(doc.openapi, /^3\.1\./)
      assert.deepEqual(Object.keys(doc.paths['/api/v1/agents']).sort(), ['get', 'post'])
      assert.deepEqual(Object.keys(doc.paths['/api/v1/agents/{id}']).sort(), [
        'delete',
        'get',
        'patch',
        'put',
      ])
      assert.equal(doc.components.securitySchemes.adminToken.scheme, 'bearer')
      assert.equal(doc.paths['/healthz'], undefined)
      assert.ok(operations().length >= 60, `${operations().length} operations`)
    })

    it('every operation documents a 2xx answer and its errors, each with a JSON schema, and every $ref resolves', () => {
      const refs = new Set<string>()
      JSON.stringify(doc, (key, value) => {
        if (key === '$ref') refs.add(value)
        return value
      })
      for (const ref of refs) {
        const name = /^#\/components\/schemas\/(.+)$/.exec(ref)?.[1]
        assert.ok(name && doc.components.schemas[name], `unresolved ${ref}`)
      }
      for (const { name, op } of operations()) {
        const responses = op.responses as Record<
          string,
          { description?: string; content?: Record<string, { schema?: unknown }> }
        >
        const codes = Object.keys(responses)
        assert.ok(
          codes.some((c) => /^2\d\d$/.test(c)),
          `${name} has no 2xx answer`,
        )
        for (const code of ['401', '403', '500', '503'])
          assert.ok(codes.includes(code), `${name} lacks ${code}`)
        for (const [code, response] of Object.entries(responses)) {
          assert.ok(response.content?.['application/json']?.schema, `${name} ${code} has no JSON schema`)
          assert.ok(response.description && response.description !== 'Default Response', `${name} ${code}`)
        }
      }
    })

    it('no parameter or body member with a default is required', () => {
      const requiredWithDefault: string[] = []
      const walk = (schema: unknown, at: string): void => {
        if (Array.isArray(schema)) {
          for (const [i, item] of schema.entries()) walk(item, `${at}/${i}`)
          return
        }
        if (!schema || typeof schema !== 'object') return
        const s = schema as Record<string, unknown>
        const properties = (s.properties ?? {}) as Record<string, { default?: unknown }>
        for (const name of Array.isArray(s.required) ? (s.required as string[]) : [])
          if (properties[name]?.default !== undefined) requiredWithDefault.push(`${at}/${name}`)
        for (const [key, value] of Object.entries(s)) if (key !== 'required') walk(value, `${at}/${key}`)
      }
      for (const { name, op } of operations()) {
        for (const p of (op.parameters as Array<{
          name: string
          required?: boolean
          schema?: { default?: unknown }
        }>) ?? [])
          if (p.required && p.schema?.default !== undefined) requiredWithDefault.push(`${name} ?${p.name}`)
        walk((op.requestBody as { content?: unknown } | undefined)?.content, name)
      }
      assert.deepEqual(requiredWithDefault, [])
      const limit = doc.paths['/api/v1/agents'].get.parameters.find(
        (p: { name: string }) => p.name === 'limit',
      )
      assert.deepEqual(
        { required: limit.required, default: limit.schema.default },
        { required: false, default: 50 },
      )
    })

    it('every operation has a summary that reads as a sentence, and a tag described in the document', () => {
      const tags = new Set((doc.tags as Array<{ name: string; description: string }>).map((tag) => tag.name))
      for (const { name, op } of operations()) {
        const summary = String(op.summary ?? '')
        assert.match(summary, /^[A-Z][a-z]+ [a-z]/, `${name}: ${summary}`)
        // No CamelCase kind names ("Create a TrustedIssuer") and no wrong article ("a agent").
        assert.doesNotMatch(summary, /[a-z][A-Z]|\ba [aeiou]/, `${name}: ${summary}`)
        assert.ok(summary.length <= 60, `${name}: summary too long`)
        for (const tag of op.tags as string[])
          assert.ok(tags.has(tag), `${name}: tag ${tag} is not described`)
      }
    })

    it('answers match the schemas the document gives them', async () => {
      // The document is added whole, so that its references (#/components/schemas/...) resolve inside it.
      const ajv = createAjv()
      ajv.addSchema(doc, 'openapi')
      assert.equal(
        ajv.compile({ $ref: 'openapi#/components/schemas/Human' })({}),
        false,
        'the check can fail',
      )
      const pointer = (...parts: string[]) =>
        parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')
      const check = async (method: string, path: string, route: string, body?: unknown) => {
        const res = await t.call(method, path, body === undefined ? {} : { body })
        const m = method.toLowerCase()
        const status = String(res.status)
        assert.ok(
          doc.paths[route][m].responses[status]?.content['application/json'].schema,
          `${method} ${path}: ${res.status} is not documented`,
        )
        const validate = ajv.compile({
          $ref: `openapi#/${pointer('paths', route, m, 'responses', status, 'content', 'application/json', 'schema')}`,
        })
        assert.ok(validate(res.json), `${method} ${path} ${res.status}: ${JSON.stringify(validate.errors)}`)
      }
      await check('PUT', '/api/v1/humans/doc-human', '/api/v1/humans/{id}', { email: 'doc@example.com' })
      await check('PUT', '/api/v1/agents/doc-agent', '/api/v1/agents/{id}', {
        sponsor: 'doc-human',
        classification: 'autonomous',
        ceiling: ['docs:read'],
        credentials: [{ type: 'client_secret' }],
      })
      await check('GET', '/api/v1/agents/doc-agent', '/api/v1/agents/{id}')
      await check('GET', '/api/v1/agents?limit=1', '/api/v1/agents')
      await check('PATCH', '/api/v1/agents/doc-agent', '/api/v1/agents/{id}', { name: 'Doc' })
      await check('DELETE', '/api/v1/agents/doc-agent', '/api/v1/agents/{id}')
      await check('PUT', '/api/v1/groups/doc-group', '/api/v1/groups/{id}', { members: [] })
      await check('DELETE', '/api/v1/groups/doc-group', '/api/v1/groups/{id}')
      await check('GET', '/api/v1/keys', '/api/v1/keys')
      await check('GET', '/api/v1/audit/events?limit=3', '/api/v1/audit/events')
      await check('POST', '/api/v1/audit/verify', '/api/v1/audit/verify', {})
      await check('POST', '/api/v1/revocations', '/api/v1/revocations', { target: 'agent', id: 'doc-agent' })
      await check('POST', '/api/v1/decisions/explain', '/api/v1/decisions/explain', {
        principal: { type: 'agent', id: 'doc-agent' },
        action: 'docs:read',
        resource: { type: 'resource_server', id: 'none' },
      })
      await check('GET', '/api/v1/agents/nobody', '/api/v1/agents/{id}')
      await check('POST', '/api/v1/humans', '/api/v1/humans', { id: 'doc-human' })
      await check('GET', '/api/v1/agents?limit=0', '/api/v1/agents')
    })

    it('/api/docs serves Swagger UI, whose page, scripts, styles and icons are all served from the node', async () => {
      const page = await fetch(`${t.node.url}/api/docs`)
      assert.equal(page.status, 200)
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/)
      const html = await page.text()
      assert.match(html, /<title>Mandate admin API<\/title>/)
      const assets = [...html.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => m[1] ?? '')
      assert.ok(assets.length >= 5, assets.join(' '))
      for (const asset of assets) {
        assert.match(
          asset,
          /^\/api\/docs\/static\//,
          'assets are served by the node, not fetched from elsewhere',
        )
        const res = await fetch(`${t.node.url}${asset}`)
        assert.equal(res.status, 200, asset)
        const type = res.headers.get('content-type') ?? ''
        if (asset.endsWith('.js')) assert.match(type, /javascript/, asset)
        if (asset.endsWith('.css')) assert.match(type, /text\/css/, asset)
        assert.ok((await res.arrayBuffer()).byteLength > 0, asset)
      }
      // The UI reads the document at ./json, relative to the page.
      const initializer = await (await fetch(`${t.node.url}/api/docs/static/swagger-initializer.js`)).text()
      assert.match(initializer, /resolveUrl\('\.\/json'\)/)
      const json = await fetch(`${t.node.url}/api/docs/json`)
      assert.equal(json.status, 200)
      assert.deepEqual(await json.json(), doc)
    })

    it('a client asking /api/docs for JSON is redirected to /api/docs/openapi.json', async () => {
      const res = await fetch(`${t.node.url}/api/docs`, {
        headers: { accept: 'application/json' },
        redirect: 'manual',
      })
      assert.equal(res.status, 308)
      assert.equal(res.headers.get('location'), '/api/docs/openapi.json')
      const followed = await fetch(`${t.node.url}/api/docs`, { headers: { accept: 'application/json' } })
      assert.equal(followed.status, 200)
      assert.deepEqual(await followed.json(), doc)
    })
  })

  describe('metrics', () => {
    it('/metrics counts requests as mandate_http_requests_total by route pattern, never by raw path', async () => {
      const probe = `metric-probe-${randomUUID()}`
      expectError(await t.call('GET', `/api/v1/agents/${probe}`), 404, 'not_found')
      expectError(await t.call('GET', `/no/such/${probe}`), 404, 'not_found')
      const res = await t.call('GET', '/metrics', { token: null })
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/)
      assert.match(res.text, /^# TYPE mandate_http_requests_total counter$/m)
      assert.match(
        res.text,
        /^mandate_http_requests_total\{method="GET",route="\/api\/v1\/agents\/:id",status="404"\} [1-9]/m,
      )
      assert.ok(!res.text.includes(probe), 'a raw path reached a metric label')
    })
  })

  describe('X-Request-ID', () => {
    it('is echoed when it is a safe token (abc-123), also on errors', async () => {
      for (const [method, path, token] of [
        ['GET', '/healthz', null],
        ['GET', '/api/v1/humans/nobody', undefined],
        ['GET', '/api/v1/humans', 'mnd_adm_wrong_wrong_wrong_wrong_wrong_wrong'],
        ['GET', '/no/such/route', null],
      ] as const) {
        const res = await t.call(method, path, { token, headers: { 'x-request-id': 'abc-123' } })
        assert.equal(res.headers.get('x-request-id'), 'abc-123', `${method} ${path}`)
      }
      const longest = 'r'.repeat(128)
      assert.equal(
        (await t.call('GET', '/healthz', { headers: { 'x-request-id': longest } })).headers.get(
          'x-request-id',
        ),
        longest,
      )
    })

    it('is replaced by a generated UUID when it is not safe to echo', async () => {
      const seen = new Set<string>()
      for (const bad of [
        'has spaces in it',
        'x'.repeat(300),
        'r'.repeat(129),
        'semi;colon',
        '<script>',
        'new\tline',
      ]) {
        const res = await t.call('GET', '/healthz', { headers: { 'x-request-id': bad } })
        const id = res.headers.get('x-request-id') ?? ''
        assert.match(id, UUID, `${JSON.stringify(bad)} gave ${id}`)
        seen.add(id)
      }
      const none = (await t.call('GET', '/healthz')).headers.get('x-request-id') ?? ''
      assert.match(none, UUID)
      seen.add(none)
      assert.equal(seen.size, 7, 'generated request ids repeat')
    })
  })

  describe('audit correlation', () => {
    it('an admin change records the request id and the W3C traceparent it was sent with', async () => {
      const res = await t.call('PUT', '/api/v1/humans/traced-human', {
        body: { name: 'Traced' },
        headers: { 'x-request-id': 'trace-req-1', traceparent: TRACEPARENT },
      })
      assert.equal(res.status, 201, res.text)
      const events = await auditEventsOf('human:traced-human')
      assert.equal(events.length, 1)
      assert.equal(events[0]?.type, 'admin.human.create')
      assert.equal(events[0]?.request_id, 'trace-req-1')
      assert.equal(events[0]?.traceparent, TRACEPARENT)
    })

    it('a replaced request id is the one recorded, and a malformed traceparent is not recorded', async () => {
      const res = await t.call('PUT', '/api/v1/humans/untraced-human', {
        body: {},
        headers: {
          'x-request-id': 'not safe',
          traceparent: '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01',
        },
      })
      assert.equal(res.status, 201)
      const generated = res.headers.get('x-request-id')
      assert.match(generated ?? '', UUID)
      const events = await auditEventsOf('human:untraced-human')
      assert.equal(events[0]?.request_id, generated)
      assert.equal(events[0]?.traceparent, null)
      for (const [i, traceparent] of [
        'garbage',
        '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7',
        `${TRACEPARENT}-extra`,
      ].entries()) {
        const id = `badly-traced-${i}`
        assert.equal(
          (await t.call('PUT', `/api/v1/humans/${id}`, { body: {}, headers: { traceparent } })).status,
          201,
        )
        assert.equal((await auditEventsOf(`human:${id}`))[0]?.traceparent, null, traceparent)
      }
    })

    it('cascaded changes carry the request id and traceparent of the change that caused them', async () => {
      await t.call('PUT', '/api/v1/humans/cascade-sponsor', { body: {} })
      assert.equal(
        (
          await t.call('PUT', '/api/v1/agents/cascade-agent', {
            body: { sponsor: 'cascade-sponsor', classification: 'delegated', ceiling: [] },
          })
        ).status,
        201,
      )
      const res = await t.call('DELETE', '/api/v1/humans/cascade-sponsor', {
        headers: { 'x-request-id': 'cascade-req', traceparent: TRACEPARENT },
      })
      assert.equal(res.status, 200)
      const suspended = (await auditEventsOf('agent:cascade-agent')).filter(
        (e) => e.type === 'admin.agent.suspend',
      )
      assert.equal(suspended.length, 1)
      assert.equal(suspended[0]?.request_id, 'cascade-req')
      assert.equal(suspended[0]?.traceparent, TRACEPARENT)
    })

    it('a key rotation records the traceparent it was sent with', async () => {
      const res = await t.call('POST', '/api/v1/keys/rotate', {
        body: { reason: 'traced rotation' },
        headers: { 'x-request-id': 'rotate-req', traceparent: TRACEPARENT },
      })
      assert.equal(res.status, 201)
      const events = await t.call('GET', '/api/v1/audit/events?type=key.rotate&limit=1000')
      const event = events.json.items.find((e: { resource: string }) => e.resource === `key:${res.json.kid}`)
      assert.ok(event, 'no key.rotate event for the new key')
      assert.equal(event.request_id, 'rotate-req')
      assert.equal(event.traceparent, TRACEPARENT)
    })

    it('a traceparent with version ff or an all-zero trace-id is not recorded (W3C Trace Context §3.2.2)', async () => {
      for (const [i, traceparent] of [
        'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
        '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      ].entries()) {
        const id = `invalid-trace-${i}`
        assert.equal(
          (await t.call('PUT', `/api/v1/humans/${id}`, { body: {}, headers: { traceparent } })).status,
          201,
        )
        assert.equal((await auditEventsOf(`human:${id}`))[0]?.traceparent, null, traceparent)
      }
    })
  })

  describe('when the database goes away', () => {
    before(async () => {
      await t.node.database.close()
    })

    it('/readyz answers 503 with the database check unavailable, and /healthz stays 200', async () => {
      const res = await t.call('GET', '/readyz', { token: null })
      assert.equal(res.status, 503)
      assert.equal(res.json.status, 'unavailable')
      assert.equal(res.json.checks.database, 'unavailable')
      assert.equal((await t.call('GET', '/healthz', { token: null })).status, 200)
    })

    it('the JWKS is still served from memory', async () => {
      const res = await t.call('GET', '/.well-known/jwks.json', { token: null })
      assert.equal(res.status, 200)
      assert.ok(res.json.keys.length >= 1)
    })

    it('an admin call answers 5xx with nothing internal in the body', async () => {
      const res = await t.call('GET', '/api/v1/humans')
      assert.ok(res.status >= 500, `${res.status}`)
      assert.doesNotMatch(res.text, /driver|destroyed|kysely|\.ts:\d+|node_modules/i)
    })

    it('an admin call answers 503 unavailable rather than 500', async () => {
      expectError(await t.call('GET', '/api/v1/humans'), 503, 'unavailable')
    })
  })
})
