// Canary test: a node is exercised with real secrets (admin tokens, PEP keys, client secrets, signing keys, the master
// key), and none of them may show up where they do not belong: logs at trace level (request lines included), the audit
// log (API and raw rows), error bodies, metrics, the JWKS, the OpenAPI document, or reads of the objects that hold them.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import { type MandateNode, startNode } from '../../src/main.ts'
import { hashClientSecret } from '../../src/registry/credentials.ts'
import { storeKinds, type TestStore, testConfig } from '../support/harness.ts'

interface Seen {
  label: string
  status: number
  text: string
}

for (const kind of storeKinds) {
  describe(`secrets never leak (${kind.name})`, () => {
    let store: TestStore
    let node: MandateNode
    let logs = ''
    /** Every response received, in order. */
    const responses: Seen[] = []
    /** Secrets by name; `shownIn` is the one response allowed to carry it (a client secret, shown once). */
    const canaries: Array<{ name: string; value: string; shownIn?: string }> = []
    const sinks = { auditApi: '', auditRows: '', metrics: '', jwks: '', docs: '', objectReads: '' }
    let agentCreateDetails: unknown
    let storedAgent: { credentials: Array<Record<string, unknown>> } | undefined
    let agentSecret = ''

    async function call(
      label: string,
      method: string,
      path: string,
      options: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
    ): Promise<Seen & { json: unknown }> {
      const headers: Record<string, string> = { ...(options.headers ?? {}) }
      if (options.token !== null)
        headers.authorization ??= `Bearer ${options.token ?? String(node.config.bootstrapToken)}`
      const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body))
      if (body !== undefined) headers['content-type'] ??= 'application/json'
      const res = await fetch(`${node.url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
      })
      const text = await res.text()
      const seen = { label, status: res.status, text }
      responses.push(seen)
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
      return { ...seen, json }
    }

    function assertAbsent(where: string, text: string, except?: string): void {
      assert.ok(text.length > 0, `${where} is empty: nothing was checked`)
      for (const canary of canaries) {
        if (except !== undefined && canary.shownIn === except) continue
        assert.ok(!text.includes(canary.value), `${canary.name} appears in ${where}`)
      }
    }

    before(async () => {
      store = kind.create()
      const config = testConfig(store)
      const stream = new Writable({
        write(chunk, _encoding, done) {
          logs += chunk.toString()
          done()
        },
      })
      node = await startNode(config, { logger: pino({ level: 'trace' }, stream) })
      const bootstrap = String(config.bootstrapToken)
      const wrong = `mnd_adm_${randomBytes(32).toString('base64url')}`
      canaries.push(
        { name: 'the bootstrap admin token', value: bootstrap },
        {
          name: 'the hash of the bootstrap admin token',
          value: createHash('sha256').update(bootstrap).digest('hex'),
        },
        { name: 'a wrong admin token', value: wrong },
        { name: 'the master key', value: String(config.masterKey) },
        {
          name: 'the master key in hex',
          value: Buffer.from(String(config.masterKey), 'base64').toString('hex'),
        },
        { name: 'the audit chain key', value: node.masterKey.derive('audit-chain').toString('hex') },
      )
      const reader = await node.adminTokens.issue({
        name: 'canary-reader',
        role: 'reader',
        actor: { kind: 'system', id: 'test' },
      })
      assert.ok(reader)
      canaries.push({ name: 'a reader admin token', value: reader.token })
      const pep = await node.adminTokens.issue({
        name: 'canary-pep',
        role: 'pep',
        actor: { kind: 'system', id: 'test' },
      })
      assert.ok(pep)
      assert.match(pep.token, /^mnd_pep_/)
      canaries.push({ name: 'a PEP key', value: pep.token })
      const evaluation = {
        subject: { type: 'agent', id: 'canary-agent' },
        action: { name: 'tickets:read' },
        resource: { type: 'resource_server', id: 'none' },
      }
      assert.equal(
        (await call('PEP evaluates', 'POST', '/access/v1/evaluation', { token: pep.token, body: evaluation }))
          .status,
        200,
      )

      // Ordinary admin work.
      assert.equal(
        (
          await call('create sponsor', 'POST', '/api/v1/humans', {
            body: { id: 'canary-sponsor', email: 'sponsor@example.com' },
          })
        ).status,
        201,
      )
      assert.equal((await call('list humans', 'GET', '/api/v1/humans')).status, 200)
      assert.equal(
        (await call('reader lists agents', 'GET', '/api/v1/agents', { token: reader.token })).status,
        200,
      )

      // Client secrets, shown once each.
      const agent = await call('create agent', 'POST', '/api/v1/agents', {
        body: {
          id: 'canary-agent',
          sponsor: 'canary-sponsor',
          classification: 'autonomous',
          ceiling: ['tickets:read'],
          credentials: [{ type: 'client_secret' }],
        },
      })
      assert.equal(agent.status, 201, agent.text)
      const issued = (agent.json as { issued_secrets: Array<{ credential: string; client_secret: string }> })
        .issued_secrets
      assert.equal(issued.length, 1)
      agentSecret = issued[0]?.client_secret ?? ''
      assert.match(agentSecret, /^mnd_cs_/)
      canaries.push({ name: 'the agent client secret', value: agentSecret, shownIn: 'create agent' })
      canaries.push({
        name: 'the agent client secret, base64-encoded',
        value: Buffer.from(agentSecret).toString('base64'),
      })

      const workload = await call('create workload', 'PUT', '/api/v1/workloads/canary-workload', {
        body: { credentials: [{ type: 'client_secret', id: 'first' }] },
      })
      assert.equal(workload.status, 201, workload.text)
      const workloadSecret =
        (workload.json as { issued_secrets: Array<{ client_secret: string }> }).issued_secrets[0]
          ?.client_secret ?? ''
      canaries.push({ name: 'the workload client secret', value: workloadSecret, shownIn: 'create workload' })
      const rotated = await call(
        'add a second workload secret',
        'PATCH',
        '/api/v1/workloads/canary-workload',
        {
          body: {
            credentials: [
              { type: 'client_secret', id: 'first' },
              { type: 'client_secret', id: 'second' },
            ],
          },
        },
      )
      assert.equal(rotated.status, 200, rotated.text)
      const secondSecret = (
        rotated.json as { issued_secrets: Array<{ credential: string; client_secret: string }> }
      ).issued_secrets
      assert.deepEqual(
        secondSecret.map((s) => s.credential),
        ['second'],
      )
      canaries.push({
        name: 'the second workload client secret',
        value: secondSecret[0]?.client_secret ?? '',
        shownIn: 'add a second workload secret',
      })

      // A key rotation: the ring now holds two private keys.
      assert.equal(
        (await call('rotate keys', 'POST', '/api/v1/keys/rotate', { body: { reason: 'canary rotation' } }))
          .status,
        201,
      )
      const rows = await node.database.db.selectFrom('signing_keys').selectAll().execute()
      assert.equal(rows.length, 2)
      for (const row of rows) {
        const privateJwk = JSON.parse(
          node.masterKey.open(row.private_jwk_sealed, `signing_key:${row.kid}`),
        ) as { d?: string }
        assert.ok(privateJwk.d && privateJwk.d.length > 20)
        canaries.push({ name: `the private signing key ${row.kid}`, value: privateJwk.d })
      }

      // Failures, some carrying secrets where they do not belong.
      const failures: Array<[string, Promise<Seen>]> = [
        ['wrong token', call('wrong token', 'GET', '/api/v1/humans', { token: wrong })],
        [
          'client secret as admin token',
          call('client secret as admin token', 'GET', '/api/v1/agents', { token: agentSecret }),
        ],
        [
          'bootstrap token as Basic',
          call('bootstrap token as Basic', 'GET', '/api/v1/agents', {
            token: null,
            headers: { authorization: `Basic ${Buffer.from(`admin:${bootstrap}`).toString('base64')}` },
          }),
        ],
        [
          'reader writes',
          call('reader writes', 'DELETE', '/api/v1/agents/canary-agent', { token: reader.token }),
        ],
        [
          'secret in an unknown field',
          call('secret in an unknown field', 'POST', '/api/v1/humans', {
            body: { id: 'leaky', colour: agentSecret },
          }),
        ],
        [
          'secret in a wrong enum',
          call('secret in a wrong enum', 'POST', '/api/v1/humans', { body: { id: 'leaky', status: wrong } }),
        ],
        [
          'secret in a bad secret_hash',
          call('secret in a bad secret_hash', 'PATCH', '/api/v1/agents/canary-agent', {
            body: { credentials: [{ type: 'client_secret', secret_hash: agentSecret }] },
          }),
        ],
        [
          'not json',
          call('not json', 'POST', '/api/v1/agents', { raw: `{"client_secret":"${agentSecret}"` }),
        ],
        [
          'too large',
          call('too large', 'POST', '/api/v1/agents', {
            body: { id: 'big', description: `${agentSecret}${'x'.repeat(300_000)}` },
          }),
        ],
        [
          'wrong media type',
          call('wrong media type', 'POST', '/api/v1/agents', {
            raw: bootstrap,
            headers: { 'content-type': 'text/plain' },
          }),
        ],
        ['unknown agent', call('unknown agent', 'GET', '/api/v1/agents/nobody')],
        ['duplicate', call('duplicate', 'POST', '/api/v1/humans', { body: { id: 'canary-sponsor' } })],
        ['unknown route', call('unknown route', 'GET', '/api/v1/secrets')],
        ['bad query', call('bad query', 'GET', `/api/v1/audit/events?since=${encodeURIComponent(wrong)}`)],
        [
          'PEP key at the admin API',
          call('PEP key at the admin API', 'GET', '/api/v1/agents', { token: pep.token }),
        ],
        [
          'token in an unknown filter',
          call('token in an unknown filter', 'GET', `/api/v1/agents?token=${encodeURIComponent(bootstrap)}`),
        ],
        [
          'PEP key in a query string',
          call('PEP key in a query string', 'GET', `/oauth/token?key=${encodeURIComponent(pep.token)}`, {
            token: pep.token,
          }),
        ],
        [
          'wrong PEP key',
          call('wrong PEP key', 'POST', '/access/v1/evaluation', {
            token: `mnd_pep_${'x'.repeat(43)}`,
            body: evaluation,
          }),
        ],
      ]
      for (const [label, pending] of failures) {
        const res = await pending
        assert.ok(res.status >= 400 && res.status < 500, `${label}: ${res.status} ${res.text}`)
      }

      // The token endpoint, with the client secret as Basic credentials and in the form, and with a wrong one.
      const basic = `Basic ${Buffer.from(`canary-agent:${agentSecret}`).toString('base64')}`
      const form = { 'content-type': 'application/x-www-form-urlencoded' }
      for (const [label, headers, raw] of [
        [
          'token with Basic',
          { ...form, authorization: basic },
          'grant_type=client_credentials&scope=tickets:read',
        ],
        [
          'token with the secret in the form',
          form,
          `grant_type=client_credentials&scope=tickets:read&client_id=canary-agent&client_secret=${encodeURIComponent(agentSecret)}`,
        ],
        [
          'token with a wrong secret',
          { ...form, authorization: `Basic ${Buffer.from(`canary-agent:${wrong}`).toString('base64')}` },
          'grant_type=client_credentials',
        ],
      ] as const) {
        const res = await call(
          label,
          'POST',
          `/oauth/token?client_secret=${encodeURIComponent(agentSecret)}`,
          {
            token: null,
            headers,
            raw,
          },
        )
        assert.ok(res.status >= 400 && res.status < 500, `${label}: ${res.status} ${res.text}`)
      }

      // The sinks, read while the database is up.
      const agentReads = [
        await call('get agent', 'GET', '/api/v1/agents/canary-agent'),
        await call('list agents', 'GET', '/api/v1/agents?sponsor=canary-sponsor'),
        await call('get workload', 'GET', '/api/v1/workloads/canary-workload'),
        await call('reader gets agent', 'GET', '/api/v1/agents/canary-agent', { token: reader.token }),
      ]
      for (const read of agentReads) assert.equal(read.status, 200, read.text)
      sinks.objectReads = agentReads.map((r) => r.text).join('\n')
      storedAgent = agentReads[0]?.json as typeof storedAgent

      let afterSeq = 0
      for (;;) {
        const page = await call('audit page', 'GET', `/api/v1/audit/events?after=${afterSeq}&limit=5`)
        assert.equal(page.status, 200)
        sinks.auditApi += page.text
        const json = page.json as {
          items: Array<{ type: string; resource: string; details: unknown }>
          next_after: number | null
        }
        const created = json.items.find(
          (e) => e.type === 'admin.agent.create' && e.resource === 'agent:canary-agent',
        )
        if (created) agentCreateDetails = created.details
        if (json.next_after === null) break
        afterSeq = json.next_after
      }
      sinks.auditRows = JSON.stringify(
        await node.database.db.selectFrom('audit_events').selectAll().execute(),
      )
      sinks.metrics = (await call('metrics', 'GET', '/metrics', { token: null })).text
      sinks.jwks = (await call('jwks', 'GET', '/.well-known/jwks.json', { token: null })).text
      sinks.docs = (await call('docs', 'GET', '/api/docs/openapi.json', { token: null })).text

      // Last, the database goes away: the error handler answers 503 and logs the driver error.
      await node.database.close()
      const down = await call('database down', 'GET', '/api/v1/agents/canary-agent')
      assert.equal(down.status, 503)
      const downWrite = await call('database down write', 'POST', '/api/v1/humans', {
        body: { id: 'late', name: agentSecret },
      })
      assert.equal(downWrite.status, 503)
    })

    after(async () => {
      // The database was closed on purpose; closing it again may throw.
      await node?.close().catch(() => {})
      await store?.drop()
    })

    it('collected every canary, each a real secret', () => {
      assert.ok(canaries.length >= 12, `${canaries.length} canaries`)
      for (const canary of canaries)
        assert.ok(canary.value.length >= 32, `${canary.name} is too short to be a meaningful canary`)
    })

    it('the trace-level log holds no secret, although it logged the database errors', () => {
      assert.match(logs, /database unavailable/)
      assertAbsent('the log', logs)
    })

    it('request log lines (issue 8) hold no Authorization header, admin token, PEP key or client secret', () => {
      const lines = logs
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.msg === 'request')
      // One per request: every call above was logged, the refused ones included.
      assert.equal(lines.length, responses.length)
      assert.ok(lines.some((l) => l.url === '/oauth/token' && l.status === 401))
      assert.ok(lines.some((l) => l.url === '/access/v1/evaluation' && l.status === 200))
      const text = lines.map((l) => JSON.stringify(l)).join('\n')
      assertAbsent('the request log lines', text)
      assert.doesNotMatch(text, /authorization|Bearer|Basic|client_secret|\?/i)
    })

    it('no audit event holds a secret, read through the API (every page) or as raw rows', () => {
      assert.match(sinks.auditApi, /admin\.agent\.create/)
      assertAbsent('the audit API', sinks.auditApi)
      assertAbsent('the audit_events rows', sinks.auditRows)
    })

    it('the audit details of the agent creation name the issued secret but hold neither it nor its hash', () => {
      assert.ok(agentCreateDetails, 'no admin.agent.create event for canary-agent')
      const text = JSON.stringify(agentCreateDetails)
      assert.ok(!text.includes('secret_hash'), text)
      assert.ok(!text.includes(hashClientSecret(agentSecret)), text)
      assert.deepEqual((agentCreateDetails as { issued_secrets: string[] }).issued_secrets, ['secret'])
    })

    it('no audit row holds a client secret hash', () => {
      assert.doesNotMatch(sinks.auditRows, /sha256:[0-9a-f]{64}/)
    })

    it('no error response echoes a secret, and none shows a stack trace', () => {
      const errors = responses.filter((r) => r.status >= 400)
      assert.ok(errors.length >= 14, `only ${errors.length} error responses`)
      for (const res of errors) {
        assertAbsent(`the ${res.status} answer to "${res.label}"`, res.text)
        assert.doesNotMatch(res.text, /\bat \S+ \(|node_modules|\.ts:\d+/, res.label)
      }
    })

    it('no other response carries a secret: a client secret is shown only in the answer that issued it', () => {
      for (const res of responses) assertAbsent(`the answer to "${res.label}"`, res.text, res.label)
      const shown = responses.filter((r) => r.text.includes(agentSecret)).map((r) => r.label)
      assert.deepEqual(shown, ['create agent'])
    })

    it('GET /metrics, the JWKS and the OpenAPI document hold no secret', () => {
      assert.match(sinks.metrics, /mandate_http_requests_total/)
      assertAbsent('/metrics', sinks.metrics)
      assertAbsent('/.well-known/jwks.json', sinks.jwks)
      assertAbsent('/api/docs', sinks.docs)
    })

    it('reads of the agent and workload hold neither the secret nor its hash', () => {
      assertAbsent('reads of the agent and workload', sinks.objectReads)
      assert.ok(storedAgent)
      const binding = storedAgent.credentials.find((c) => c.type === 'client_secret')
      assert.ok(binding)
      assert.deepEqual(Object.keys(binding).sort(), ['id', 'type'])
      assert.ok(!sinks.objectReads.includes(hashClientSecret(agentSecret)))
    })
  })
}
