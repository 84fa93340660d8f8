// No acknowledged action without its durable record, even when the node dies mid-load: a real `mandate serve` answers
// concurrent client_credentials requests while its audit writer thread group-commits their issuance records, and is
// killed with SIGKILL while requests (and so records) are still in flight. Every token it answered must then have its
// `token.issue` record in the log, and the chain must verify.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { openDatabase, storeLocation } from '../../src/store/database.ts'
import { cliEnv, runCli, startServe } from '../cli/run-cli.ts'
import { newMasterKey, storeKinds, type TestStore } from '../support/harness.ts'

const RESOURCE = 'https://api.crash.example/'
const SCOPE = 'crash:read'
const POLICY = `@id("autonomous")
permit (principal is agent, action == Action::"${SCOPE}", resource == resource_server::"crash")
when { context has mode && context.mode == "autonomous" };`
/** Concurrent clients, each sending one request after another. */
const CLIENTS = 24
/** Answered tokens before the kill: enough that several batches have committed and more are on their way. */
const ACKNOWLEDGED_BEFORE_KILL = 150

function serveEnv(store: TestStore, masterKey: string, bootstrap: string): Record<string, string> {
  const { dataDir, databaseUrl, databaseSchema } = store.settings as Record<string, string | undefined>
  return cliEnv({
    MANDATE_PORT: '0',
    MANDATE_DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    MANDATE_DATABASE_SCHEMA: databaseSchema,
    MANDATE_MASTER_KEY: masterKey,
    MANDATE_BOOTSTRAP_TOKEN: bootstrap,
    MANDATE_DEMO_DATA: 'off',
    MANDATE_LOG_LEVEL: 'silent',
  })
}

function jtiOf(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
    jti: string
  }
  return payload.jti
}

for (const kind of storeKinds)
  describe(`the audit writer killed mid-load (${kind.name})`, () => {
    const store = kind.create()
    after(() => store.drop())

    it('every token answered 200 before a kill -9 has its token.issue record, and the chain verifies', async () => {
      const masterKey = newMasterKey()
      const bootstrap = `mnd_adm_${randomBytes(32).toString('base64url')}`
      const env = serveEnv(store, masterKey, bootstrap)
      const first = await startServe({ env })
      let acknowledged: string[] = []
      let inFlightAtKill = 0
      try {
        const put = async (path: string, body: unknown) => {
          const response = await fetch(`${first.url}${path}`, {
            method: 'PUT',
            headers: { authorization: `Bearer ${bootstrap}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          })
          const text = await response.text()
          assert.ok(response.status < 300, `PUT ${path}: ${response.status} ${text}`)
          return JSON.parse(text)
        }
        await put('/api/v1/humans/sponsor@example.com', {})
        await put('/api/v1/resource-servers/crash', { audience: RESOURCE, scopes: [SCOPE] })
        await put('/api/v1/policies/crash', { policies: POLICY })
        const agent = await put('/api/v1/agents/crash-bot', {
          sponsor: 'sponsor@example.com',
          classification: 'autonomous',
          ceiling: [SCOPE],
          credentials: [{ type: 'client_secret' }],
        })
        const secret = String(agent.issued_secrets[0].client_secret)
        const authorization = `Basic ${Buffer.from(`crash-bot:${secret}`).toString('base64')}`
        const body = new URLSearchParams({
          grant_type: 'client_credentials',
          scope: SCOPE,
          resource: RESOURCE,
        })

        const answered: string[] = []
        let inFlight = 0
        let killed = false
        let killedNow: () => void = () => {}
        const kill = new Promise<void>((resolve) => {
          killedNow = resolve
        })
        const client = async () => {
          while (!killed) {
            inFlight++
            try {
              const response = await fetch(`${first.url}/oauth/token`, {
                method: 'POST',
                headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
                body,
              })
              const json = (await response.json()) as { access_token?: string }
              // A 200 whose body arrived whole is an acknowledged action.
              if (response.status === 200 && json.access_token) answered.push(jtiOf(json.access_token))
            } catch {
              // The connection died with the node: this request was never acknowledged.
            } finally {
              inFlight--
            }
            if (!killed && answered.length >= ACKNOWLEDGED_BEFORE_KILL) {
              killed = true
              inFlightAtKill = inFlight
              // SIGKILL: no handler runs, nothing is flushed; the writer thread dies with whatever it holds.
              first.kill('SIGKILL')
              killedNow()
            }
          }
        }
        const clients = Array.from({ length: CLIENTS }, client)
        await kill
        await Promise.all(clients)
        acknowledged = answered
      } finally {
        await first.stop()
      }
      assert.ok(acknowledged.length >= ACKNOWLEDGED_BEFORE_KILL)
      assert.ok(inFlightAtKill > 0, 'requests were still in flight when the node was killed')

      // The records, read from the store itself.
      const { dataDir, databaseUrl, databaseSchema } = store.settings as Record<string, string | undefined>
      const database = await openDatabase(
        storeLocation({ dataDir: dataDir ?? '', databaseUrl, databaseSchema }),
      )
      let recorded: Set<string>
      try {
        const rows = await database.db
          .selectFrom('audit_events')
          .select('details')
          .where('type', '=', 'token.issue')
          .execute()
        recorded = new Set(rows.map((row) => (JSON.parse(row.details ?? '{}') as { jti?: string }).jti ?? ''))
      } finally {
        await database.close()
      }
      const lost = acknowledged.filter((jti) => !recorded.has(jti))
      assert.deepEqual(lost, [], 'tokens answered without their issuance record')

      // `mandate audit verify` on a node started again on the same store.
      const second = await startServe({ env })
      try {
        const verify = await runCli(['--json', 'audit', 'verify'], {
          env: cliEnv({ MANDATE_URL: second.url, MANDATE_TOKEN: bootstrap }),
        })
        assert.equal(verify.code, 0, verify.stderr)
        const result = JSON.parse(verify.stdout) as { ok: boolean; records: number; breakCount: number }
        assert.equal(result.ok, true)
        assert.equal(result.breakCount, 0)
        assert.ok(result.records >= acknowledged.length)
      } finally {
        await second.stop()
      }
    })
  })
