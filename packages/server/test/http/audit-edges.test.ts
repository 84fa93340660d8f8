// The audit log's promises, black-box over HTTP and the CLI (issue 8, section 1): inputs that cannot be stored as
// hashed are refused at the edge on every surface; hostile but valid strings leave a log that verifies; one bad
// request never fails its neighbours; junk is aggregated and rate-limited; a head that cannot be trusted makes every
// state-changing request fail closed until `mandate audit recover`; checkpoints prove truncation.
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { readCheckpointLines } from '../../src/audit/checkpoint.ts'
import type { AuditHeadRow } from '../../src/store/tables.ts'
import { adminEnv, cliEnv, runCli } from '../cli/run-cli.ts'
import { RESOURCE, startOAuthFixture } from '../oauth/oauth-fixture.ts'
import { pepKey, post } from '../policy/authzen-fixture.ts'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'

/** The environment of a command that opens the store itself (`audit recover`), like the node's own. */
function storeEnv(test: TestNode): Record<string, string> {
  const c = test.config
  return cliEnv({
    MANDATE_DATA_DIR: c.dataDir,
    MANDATE_MASTER_KEY: c.masterKey,
    DATABASE_URL: c.databaseUrl,
    MANDATE_DATABASE_SCHEMA: c.databaseSchema,
    MANDATE_AUDIT_CHECKPOINT_FILE: c.auditCheckpointFile,
    MANDATE_DEMO_DATA: 'off',
    MANDATE_LOG_LEVEL: 'silent',
  })
}

function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString()
}

async function postForm(url: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  })
  // biome-ignore lint/suspicious/noExplicitAny: tests read OAuth answers as data
  const json: any = await res.json()
  return { status: res.status, headers: res.headers, json }
}

/** POSTs from another loopback address, so that the node sees another source. */
function postFrom(
  localAddress: string,
  url: string,
  body: string,
): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        localAddress,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

async function verifyLog(test: TestNode): Promise<{ code: number | null; stdout: string }> {
  return runCli(['audit', 'verify'], { env: adminEnv(test) })
}

for (const kind of storeKinds) {
  describe(`audit edges (${kind.name})`, () => {
    describe('input that cannot be stored as hashed', () => {
      let store: TestStore
      let fixture: Awaited<ReturnType<typeof startOAuthFixture>>
      let test: TestNode
      let pep: string

      before(async () => {
        store = kind.create()
        fixture = await startOAuthFixture(store)
        test = fixture.node
        pep = await pepKey(test)
      })
      after(async () => {
        await fixture?.close()
        await store?.drop()
      })

      const refusedBodies: Array<{ name: string; path: string; body: unknown; field: string }> = [
        {
          name: 'an AuthZEN subject id with U+0000',
          path: '/access/v1/evaluation',
          body: {
            subject: { type: 'agent', id: 'a\u0000b' },
            action: { name: 'tickets:read' },
            resource: { type: 'resource_server', id: 'tickets' },
          },
          field: '/subject/id',
        },
        {
          name: 'an AuthZEN action name with a lone surrogate',
          path: '/access/v1/evaluation',
          body: {
            subject: { type: 'agent', id: 'bot' },
            action: { name: '\ud800' },
            resource: { type: 'resource_server', id: 'tickets' },
          },
          field: '/action/name',
        },
        {
          name: 'an AuthZEN action search with a lone surrogate in a context key',
          path: '/access/v1/search/action',
          body: {
            subject: { type: 'agent', id: 'bot' },
            resource: { type: 'resource_server', id: 'tickets' },
            context: { 'k\udc00': 1 },
          },
          field: '/context/k\\udc00',
        },
        {
          name: 'an AuthZEN batch item with U+0000 in a property',
          path: '/access/v1/evaluations',
          body: {
            subject: { type: 'agent', id: 'bot' },
            resource: { type: 'resource_server', id: 'tickets' },
            evaluations: [{ action: { name: 'tickets:read', properties: { note: 'x\u0000' } } }],
          },
          field: '/evaluations/0/action/properties/note',
        },
      ]
      for (const c of refusedBodies) {
        it(`issue 8: ${c.name} is a 400 naming ${c.field}, and nothing is recorded`, async () => {
          const head = await test.call('POST', '/api/v1/audit/verify', { body: {} })
          const answer = await post(test, c.path, c.body, pep)
          assert.equal(answer.status, 400)
          assert.equal(answer.json.error, 'validation_failed')
          assert.deepEqual(
            answer.json.fields.map((f: { path: string }) => f.path),
            [c.field],
          )
          const later = await test.call('POST', '/api/v1/audit/verify', { body: {} })
          assert.equal(later.json.headSeq, head.json.headSeq, 'no record was written')
        })
      }

      it('issue 8: an admin document with U+0000 or a lone surrogate is a 400 naming the field', async () => {
        const nul = await test.call('PUT', '/api/v1/humans/carol', { body: { name: 'Carol\u0000' } })
        assert.equal(nul.status, 400)
        assert.deepEqual(nul.json.fields, [{ path: '/name', message: 'must not contain U+0000 (NUL)' }])
        const lone = await test.call('PUT', '/api/v1/humans/carol', {
          raw: '{"name":"Carol \\ud83d"}',
        })
        assert.equal(lone.status, 400)
        assert.equal(lone.json.fields[0].path, '/name')
        const inPath = await test.call('GET', '/api/v1/humans/carol%00')
        assert.equal(inPath.status, 400)
        assert.equal(inPath.json.fields[0].path, '/params/id')
        const inQuery = await test.call('GET', '/api/v1/audit/events?principal=agent:%00')
        assert.equal(inQuery.status, 400)
        assert.equal(inQuery.json.fields[0].path, '/querystring/principal')
      })

      it('issue 8: a token request with U+0000 is invalid_request naming the parameter (RFC 6749 §5.2)', async () => {
        const answer = await postForm(
          fixture.tokenEndpoint,
          form({ grant_type: 'client_credentials', client_id: 'bot\u0000', scope: 'tickets:read' }),
        )
        assert.equal(answer.status, 400)
        assert.equal(answer.json.error, 'invalid_request')
        assert.match(answer.json.error_description, /^client_id must not contain U\+0000/)
      })

      it('issue 8: hostile but valid strings through AuthZEN, search and entities leave a log that verifies', async () => {
        const entityType = await test.call('PUT', '/api/v1/entity-types/doc', {
          body: { attributes: { owner: { type: 'String' } } },
        })
        assert.equal(entityType.status, 201, entityType.text)
        const entity = await test.call('PUT', `/api/v1/entities/${encodeURIComponent('doc:q 1')}`, {
          body: { attributes: { owner: 'a b' } },
        })
        assert.equal(entity.status, 201, entity.text)
        for (const id of ['a b', 'rtl \u202e x', '🧑‍💻', 'q"\\%_', 'x'.repeat(500)]) {
          const answer = await post(
            test,
            '/access/v1/evaluation',
            {
              subject: { type: 'user', id },
              action: { name: `read ${id}`.slice(0, 128) },
              resource: { type: 'doc', id: 'q 1' },
            },
            pep,
          )
          assert.equal(answer.status, 200, JSON.stringify(answer.json))
        }
        const search = await post(
          test,
          '/access/v1/search/resource',
          { subject: { type: 'user', id: 'a b' }, action: { name: 'read 🧑‍💻' }, resource: { type: 'doc' } },
          pep,
        )
        assert.equal(search.status, 200)
        const verified = await verifyLog(test)
        assert.equal(verified.code, 0, verified.stdout)
        assert.match(verified.stdout, /^audit log intact/)
      })

      it('issue 8: twenty token requests batched with a refused AuthZEN request all succeed', async () => {
        const tokens = Array.from({ length: 20 }, () =>
          postForm(
            fixture.tokenEndpoint,
            form({ grant_type: 'client_credentials', scope: 'tickets:read', resource: RESOURCE }),
            {
              authorization: `Basic ${Buffer.from(`secret-bot:${fixture.secrets['secret-bot']}`).toString('base64')}`,
            },
          ),
        )
        const bad = post(
          test,
          '/access/v1/evaluation',
          {
            subject: { type: 'user', id: 'u\u0000' },
            action: { name: 'read' },
            resource: { type: 'doc', id: 'q 1' },
          },
          pep,
        )
        const [badAnswer, ...answers] = await Promise.all([bad, ...tokens])
        assert.equal(badAnswer?.status, 400)
        assert.deepEqual(
          answers.map((a) => a.status),
          Array(20).fill(200),
        )
        assert.equal((await verifyLog(test)).code, 0)
      })
    })

    describe('junk', () => {
      let store: TestStore
      let fixture: Awaited<ReturnType<typeof startOAuthFixture>>

      before(async () => {
        store = kind.create()
        fixture = await startOAuthFixture(store, { authFailureBurst: 300, refusalWindowSeconds: 1 })
      })
      after(async () => {
        await fixture?.close()
        await store?.drop()
      })

      it('issue 8: 200 unauthenticated token requests leave one full record and one counted record per window', async () => {
        const before = await fixture.node.call('GET', '/api/v1/audit/events?type=token.refuse&limit=1000')
        const junk = form({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'wrong' })
        const answers = []
        for (let i = 0; i < 200; i++) answers.push((await postForm(fixture.tokenEndpoint, junk)).status)
        assert.deepEqual(answers, Array(200).fill(401))
        // Windows are one second long here: each one's count is written once it closes.
        type Refusal = { details: Record<string, unknown> }
        let full: Refusal[] = []
        let counted: Refusal[] = []
        const accounted = () => full.length + counted.reduce((n, r) => n + Number(r.details.count), 0)
        for (let i = 0; i < 50 && accounted() < 200; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100))
          const page = await fixture.node.call('GET', '/api/v1/audit/events?type=token.refuse&limit=1000')
          const records: Refusal[] = page.json.items.slice(before.json.items.length)
          full = records.filter((r) => !r.details.aggregated)
          counted = records.filter((r) => r.details.aggregated)
        }
        assert.equal(accounted(), 200, 'every refusal is accounted for')
        assert.ok(full.length <= 10, `${full.length} full records for 200 refusals`)
        assert.ok(counted.length <= full.length)
        for (const record of full) {
          assert.equal(record.details.error, 'invalid_client')
          assert.equal(record.details.source, '127.0.0.1')
        }
        for (const record of counted)
          assert.deepEqual(record.details.errors, { invalid_client: record.details.count })
      })
    })

    describe('rate limit on failed authentication', () => {
      let store: TestStore
      let fixture: Awaited<ReturnType<typeof startOAuthFixture>>
      let pep: string

      before(async () => {
        store = kind.create()
        fixture = await startOAuthFixture(store, { authFailureBurst: 5, authFailureRefillPerSecond: 0.01 })
        pep = await pepKey(fixture.node)
      })
      after(async () => {
        await fixture?.close()
        await store?.drop()
      })

      it('issue 8: a source past its burst gets 429 with Retry-After on every surface; another source does not', async () => {
        const junk = form({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'wrong' })
        for (let i = 0; i < 5; i++) assert.equal((await postForm(fixture.tokenEndpoint, junk)).status, 401)
        const limited = await postForm(fixture.tokenEndpoint, junk)
        assert.equal(limited.status, 429)
        assert.equal(limited.json.error, 'temporarily_unavailable')
        assert.ok(Number(limited.headers.get('retry-after')) >= 1)
        const good = form({ grant_type: 'client_credentials', scope: 'tickets:read', resource: RESOURCE })
        const basic = `Basic ${Buffer.from(`secret-bot:${fixture.secrets['secret-bot']}`).toString('base64')}`
        assert.equal(
          (await postForm(fixture.tokenEndpoint, good, { authorization: basic })).status,
          429,
          'the limit is per source, before any work',
        )
        const admin = await fixture.node.call('GET', '/api/v1/agents')
        assert.equal(admin.status, 429)
        assert.equal(admin.json.error, 'too_many_requests')
        assert.ok(Number(admin.headers.get('retry-after')) >= 1)
        const authzen = await post(
          fixture.node,
          '/access/v1/evaluation',
          {
            subject: { type: 'agent', id: 'bot' },
            action: { name: 'tickets:read' },
            resource: { type: 'resource_server', id: 'tickets' },
          },
          pep,
        )
        assert.equal(authzen.status, 429)
        const introspect = await postForm(`${fixture.issuer}/oauth/introspect`, form({ token: 'x' }))
        assert.equal(introspect.status, 429)
        assert.equal(introspect.json.error, 'temporarily_unavailable')
        const other = await postFrom('127.0.0.2', fixture.tokenEndpoint, good)
        assert.equal(other.status, 401, 'another address is served (and fails on its own merits)')
        assert.equal((await fixture.node.call('GET', '/healthz', { token: null })).status, 200)
      })

      it('issue 8: failed admin and AuthZEN authentication drain the budget too', async () => {
        for (let i = 0; i < 5; i++) {
          const wrong = await postFrom('127.0.0.3', `${fixture.issuer}/api/v1/audit/verify`, '')
          assert.equal(wrong.status, 401)
        }
        const limited = await postFrom('127.0.0.3', `${fixture.issuer}/access/v1/evaluation`, '')
        assert.equal(limited.status, 429)
        assert.ok(Number(limited.headers['retry-after']) >= 1)
      })
    })

    describe('behind a proxy', () => {
      let store: TestStore
      let fixture: Awaited<ReturnType<typeof startOAuthFixture>>

      after(async () => {
        await fixture?.close()
        await store?.drop()
      })

      it('issue 8: with MANDATE_TRUST_PROXY the budget is per forwarded client; without it X-Forwarded-For is ignored', async () => {
        store = kind.create()
        fixture = await startOAuthFixture(store, {
          authFailureBurst: 2,
          authFailureRefillPerSecond: 0.01,
          trustProxy: '127.0.0.1',
        })
        const junk = form({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'wrong' })
        const from = (client: string) =>
          postForm(fixture.tokenEndpoint, junk, { 'x-forwarded-for': client }).then((r) => r.status)
        assert.deepEqual([await from('198.51.100.1'), await from('198.51.100.1')], [401, 401])
        assert.equal(await from('198.51.100.1'), 429, 'the forwarded client spent its budget')
        assert.equal(await from('198.51.100.2'), 401, 'another client behind the same proxy did not')
        const admin = await fixture.node.call('GET', '/api/v1/agents', {
          token: 'mnd_adm_wrong',
          headers: { 'x-forwarded-for': '198.51.100.3' },
        })
        assert.equal(admin.status, 401)
        const refusals = await fixture.node.call('GET', '/api/v1/audit/events?type=token.refuse&limit=100')
        assert.ok(
          refusals.json.items.some(
            (r: { details: { source?: string } }) => r.details.source === '198.51.100.2',
          ),
          'the audit record names the client, not the proxy',
        )
        await fixture.close()
        await store.drop()

        store = kind.create()
        fixture = await startOAuthFixture(store, { authFailureBurst: 2, authFailureRefillPerSecond: 0.01 })
        const spoofed = async (client: string) =>
          postForm(fixture.tokenEndpoint, junk, { 'x-forwarded-for': client }).then((r) => r.status)
        assert.deepEqual(
          [await spoofed('198.51.100.1'), await spoofed('198.51.100.2'), await spoofed('198.51.100.3')],
          [401, 401, 429],
          'an untrusted X-Forwarded-For does not buy a fresh budget',
        )
      })
    })

    describe('a head that cannot be trusted', () => {
      let store: TestStore
      let fixture: Awaited<ReturnType<typeof startOAuthFixture>>
      let test: TestNode
      let pep: string

      before(async () => {
        store = kind.create()
        fixture = await startOAuthFixture(store)
        test = fixture.node
        pep = await pepKey(test)
      })
      after(async () => {
        await fixture?.close()
        await store?.drop()
      })

      it('issue 8: after the newest records are deleted, every state-changing request fails closed until `mandate audit recover`', async () => {
        const db = test.node.database.db
        const head = await db.selectFrom('audit_head').selectAll().executeTakeFirstOrThrow()
        await db
          .deleteFrom('audit_events')
          .where('seq', '>', head.seq - 2)
          .execute()

        const write = await test.call('PUT', '/api/v1/humans/dave', { body: {} })
        assert.equal(write.status, 503)
        assert.equal(write.json.error, 'audit_unavailable')
        assert.match(write.json.error_description, /mandate audit recover/)
        const basic = `Basic ${Buffer.from(`secret-bot:${fixture.secrets['secret-bot']}`).toString('base64')}`
        const token = await postForm(
          fixture.tokenEndpoint,
          form({ grant_type: 'client_credentials', scope: 'tickets:read', resource: RESOURCE }),
          { authorization: basic },
        )
        assert.equal(token.status, 503)
        assert.equal(token.json.error, 'temporarily_unavailable')
        assert.equal(token.json.access_token, undefined)
        const decision = await post(
          test,
          '/access/v1/evaluation',
          {
            subject: { type: 'agent', id: 'bot' },
            action: { name: 'tickets:read' },
            resource: { type: 'resource_server', id: 'tickets' },
          },
          pep,
        )
        assert.equal(decision.status, 503, 'a decision without its record is not given')
        assert.equal((await test.call('GET', '/api/v1/agents')).status, 200, 'reads still work')
        const metrics = await fetch(`${test.node.url}/metrics`).then((r) => r.text())
        assert.match(metrics, /^mandate_audit_refusing_writes 1$/m)
        assert.match(metrics, /^mandate_audit_refused_writes_total [1-9]\d*$/m)

        const recovered = await runCli(['audit', 'recover', '--reason', 'tail lost in a bad restore'], {
          env: storeEnv(test),
        })
        assert.equal(recovered.code, 0, recovered.stderr)
        assert.match(recovered.stdout, /recorded incident \d+: the chain resumes after record \d+/)

        assert.equal((await test.call('PUT', '/api/v1/humans/dave', { body: {} })).status, 201)
        const after = await fetch(`${test.node.url}/metrics`).then((r) => r.text())
        assert.match(after, /^mandate_audit_refusing_writes 0$/m)
        const verified = await verifyLog(test)
        assert.equal(verified.code, 0, verified.stdout)
        assert.match(verified.stdout, /1 recorded recoveries/)
        const incident = await test.call('GET', '/api/v1/audit/events?type=audit.recover')
        assert.equal(incident.json.items[0].reason, 'tail lost in a bad restore')
        assert.equal(incident.json.items[0].details.head_was.seq, head.seq)
      })

      it('issue 8: `mandate audit recover` on a sound log records nothing', async () => {
        const result = await runCli(['audit', 'recover', '--reason', 'just checking'], {
          env: storeEnv(test),
        })
        assert.equal(result.code, 0)
        assert.match(result.stdout, /sound here; nothing recorded/)
      })
    })

    describe('checkpoints', () => {
      it('issue 8: a tail cut and an old head put back are detected with the checkpoint file, before and after later writes', async () => {
        const store = kind.create()
        const settings = store.settings as { dataDir: string }
        const checkpoints = join(settings.dataDir, 'checkpoints.jsonl')
        let first: TestNode | undefined
        let second: TestNode | undefined
        let unaware: TestNode | undefined
        try {
          first = await startTestNode(store, { auditCheckpointFile: checkpoints })
          const masterKey = first.config.masterKey
          const bootstrapToken = first.config.bootstrapToken
          const keep = { masterKey, bootstrapToken, auditCheckpointFile: checkpoints }
          assert.equal((await first.call('PUT', '/api/v1/humans/erin', { body: {} })).status, 201)
          const db = first.node.database.db
          const saved: AuditHeadRow = await db.selectFrom('audit_head').selectAll().executeTakeFirstOrThrow()
          for (const id of ['frank', 'grace', 'heidi'])
            assert.equal((await first.call('PUT', `/api/v1/humans/${id}`, { body: {} })).status, 201)
          await first.close() // publishes a checkpoint of the head it leaves
          first = undefined
          const published = await readCheckpointLines(checkpoints)
          assert.ok(published.length >= 1)
          const signed = published.at(-1)
          assert.ok(signed && signed.seq > saved.seq)

          // Someone with the database alone: delete the newest records and put the old (validly MACed) head back.
          second = await startTestNode(store, { ...keep, auditCheckpointSeconds: 0 })
          const db2 = second.node.database.db
          await db2.deleteFrom('audit_events').where('seq', '>', saved.seq).execute()
          await db2.updateTable('audit_head').set(saved).where('id', '=', 1).execute()
          await second.close()
          second = undefined

          // Before later writes: a node that reads the checkpoint refuses to extend the log, and verify finds it.
          second = await startTestNode(store, { ...keep, auditCheckpointSeconds: 0 })
          const refused = await second.call('PUT', '/api/v1/humans/ivan', { body: {} })
          assert.equal(refused.status, 503)
          const plain = await verifyLog(second)
          assert.equal(plain.code, 0, 'without the checkpoints the cut log looks whole')
          const before = await runCli(['audit', 'verify', '--checkpoints', checkpoints], {
            env: adminEnv(second),
          })
          assert.equal(before.code, 4, before.stdout)
          assert.match(before.stdout, /checkpoint_mismatch: record \d+, signed by the checkpoint .* is gone/)
          await second.close()
          second = undefined

          // After later writes by a node that never saw the checkpoints: the record it signed is another one.
          unaware = await startTestNode(store, {
            ...keep,
            auditCheckpointFile: join(settings.dataDir, 'elsewhere.jsonl'),
          })
          for (const id of ['judy', 'ken', 'leo', 'mallory', 'nina'])
            assert.equal((await unaware.call('PUT', `/api/v1/humans/${id}`, { body: {} })).status, 201)
          const later = await runCli(['audit', 'verify', '--checkpoints', checkpoints], {
            env: adminEnv(unaware),
          })
          assert.equal(later.code, 4, later.stdout)
          assert.match(later.stdout, /checkpoint_mismatch: record \d+ is not the record the checkpoint/)
          const json = await runCli(['--json', 'audit', 'verify', '--checkpoints', checkpoints], {
            env: adminEnv(unaware),
          })
          assert.equal(JSON.parse(json.stdout).breaks[0].problem, 'checkpoint_mismatch')

          const key = await unaware.call('GET', '/api/v1/audit/checkpoint-key')
          assert.equal(key.json.kty, 'OKP')
          assert.equal(key.json.crv, 'Ed25519')
          assert.equal(key.json.d, undefined, 'only the public key')
        } finally {
          await first?.close()
          await second?.close()
          await unaware?.close()
          await store.drop()
        }
      })

      it('issue 8: a checkpoint edited in its file is reported, not trusted', async () => {
        const store = kind.create()
        const settings = store.settings as { dataDir: string }
        const checkpoints = join(settings.dataDir, 'checkpoints.jsonl')
        let test: TestNode | undefined
        try {
          test = await startTestNode(store, { auditCheckpointFile: checkpoints })
          await test.node.close()
          const [line] = await readCheckpointLines(checkpoints)
          assert.ok(line)
          const { writeFileSync } = await import('node:fs')
          writeFileSync(checkpoints, `${JSON.stringify({ ...line, seq: line.seq + 1 })}\n`)
          test = await startTestNode(store, {
            masterKey: test.config.masterKey,
            bootstrapToken: test.config.bootstrapToken,
            auditCheckpointFile: checkpoints,
          })
          const result = await runCli(['audit', 'verify', '--checkpoints', checkpoints], {
            env: adminEnv(test),
          })
          assert.equal(result.code, 4)
          assert.match(result.stdout, /checkpoint_invalid: checkpoint 0 is not signed by this deployment/)
          const missing = await runCli(['audit', 'verify', '--checkpoints', join(settings.dataDir, 'none')], {
            env: adminEnv(test),
          })
          assert.equal(missing.code, 2)
          assert.match(missing.stderr, /cannot read .*none: ENOENT|holds no audit checkpoints/)
        } finally {
          await test?.close()
          await store.drop()
        }
      })
    })
  })
}
