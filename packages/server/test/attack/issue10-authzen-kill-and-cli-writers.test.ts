// Attacks that held (issue 10), on a real `mandate serve`: AuthZEN decisions are group-committed by the audit writer
// thread, while `mandate admin token` and `mandate admin revoke-token` append to the same chain from another process
// (they open the store directly). Under that mix the node is killed with SIGKILL; every decision answered before must
// have its `policy.decision` record (found by the answer's x-request-id), and `mandate audit verify` must find no break.
// A PEP key revoked by the CLI stops working on the running node (it polls the revocation version).
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { openDatabase, storeLocation } from '../../src/store/database.ts'
import { cliEnv, runCli, startServe } from '../cli/run-cli.ts'
import { newMasterKey, storeKinds, type TestStore } from '../support/harness.ts'

/** Decisions answered before the kill: several group commits, with more on their way. */
const ACKNOWLEDGED_BEFORE_KILL = 600
const CLIENTS = 16

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

for (const kind of storeKinds)
  describe(`AuthZEN under kill -9 with the CLI writing the same chain (issue 10, ${kind.name})`, () => {
    const store = kind.create()
    after(() => store.drop())

    it('a PEP key revoked with `mandate admin revoke-token` is refused by the running node; every decision answered before a SIGKILL has its record; the chain verifies', async () => {
      const masterKey = newMasterKey()
      const bootstrap = `mnd_adm_${randomBytes(32).toString('base64url')}`
      const env = serveEnv(store, masterKey, bootstrap)
      const node = await startServe({ env })
      const answered: string[] = []
      let inFlightAtKill = 0
      let cliWrites = 0
      try {
        for (const [path, body] of [
          ['/api/v1/entity-types/doc', { principal: false, attributes: {}, actions: ['read'] }],
          ['/api/v1/entity-types/user', { principal: true, attributes: {}, actions: [] }],
          [
            '/api/v1/policies/p',
            { policies: '@id("a") permit (principal is user, action == Action::"read", resource is doc);' },
          ],
        ] as const) {
          const res = await fetch(`${node.url}${path}`, {
            method: 'PUT',
            headers: { authorization: `Bearer ${bootstrap}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          })
          assert.ok(res.status < 300, `${path}: ${res.status} ${await res.text()}`)
        }
        const issuePep = async () => {
          const issued = await runCli(['--json', 'admin', 'token', '--pep'], { env })
          assert.equal(issued.code, 0, issued.stderr)
          return JSON.parse(issued.stdout) as { id: string; token: string }
        }
        const evaluate = async (key: string, i: number) => {
          const res = await fetch(`${node.url}/access/v1/evaluation`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              subject: { type: 'user', id: `u${i}` },
              action: { name: 'read' },
              resource: { type: 'doc', id: `d${i}` },
            }),
          })
          const json = (await res.json()) as { decision?: boolean }
          return { status: res.status, requestId: res.headers.get('x-request-id'), decision: json.decision }
        }

        // Revocation by the CLI, another process, reaches the running node.
        const victim = await issuePep()
        assert.equal((await evaluate(victim.token, 0)).decision, true)
        const revoked = await runCli(['--json', 'admin', 'revoke-token', victim.id], { env })
        assert.equal(revoked.code, 0, revoked.stderr)
        let status = 200
        // Polls until refused; the loop's bound is a hang guard, not a timing assertion.
        for (let tries = 0; tries < 2_000 && status === 200; tries++)
          status = (await evaluate(victim.token, 1)).status
        assert.equal(status, 401, 'the revoked PEP key is refused')

        const pep = await issuePep()
        let killed = false
        let inFlight = 0
        let killedNow: () => void = () => {}
        const kill = new Promise<void>((resolve) => {
          killedNow = resolve
        })
        // Another process appending to the chain during the load.
        const cli = (async () => {
          while (!killed) {
            const more = await runCli(['--json', 'admin', 'token', '--pep'], { env })
            if (more.code !== 0) break
            cliWrites++
            const { id } = JSON.parse(more.stdout) as { id: string }
            if ((await runCli(['admin', 'revoke-token', id], { env })).code === 0) cliWrites++
          }
        })()
        const client = async (c: number) => {
          for (let i = 0; !killed; i++) {
            inFlight++
            try {
              const answer = await evaluate(pep.token, c * 1_000_000 + i)
              // A 200 whose body arrived whole is an acknowledged decision.
              if (answer.status === 200 && answer.decision === true && answer.requestId)
                answered.push(answer.requestId)
            } catch {
              // The connection died with the node: never acknowledged.
            } finally {
              inFlight--
            }
            if (!killed && answered.length >= ACKNOWLEDGED_BEFORE_KILL && cliWrites >= 2) {
              killed = true
              inFlightAtKill = inFlight
              node.kill('SIGKILL')
              killedNow()
            }
          }
        }
        await Promise.all([kill, ...Array.from({ length: CLIENTS }, (_, c) => client(c))])
        await cli
      } finally {
        await node.stop()
      }
      assert.ok(answered.length >= ACKNOWLEDGED_BEFORE_KILL)
      assert.ok(cliWrites >= 2, 'the CLI wrote to the chain during the load')
      assert.ok(inFlightAtKill > 0, 'requests were in flight at the kill')

      const { dataDir, databaseUrl, databaseSchema } = store.settings as Record<string, string | undefined>
      const database = await openDatabase(
        storeLocation({ dataDir: dataDir ?? '', databaseUrl, databaseSchema }),
      )
      let recorded: Set<string | null>
      try {
        const rows = await database.db
          .selectFrom('audit_events')
          .select('request_id')
          .where('type', '=', 'policy.decision')
          .execute()
        recorded = new Set(rows.map((r) => r.request_id))
      } finally {
        await database.close()
      }
      assert.deepEqual(
        answered.filter((id) => !recorded.has(id)),
        [],
        'decisions answered without their record',
      )

      const again = await startServe({ env })
      try {
        const verify = await runCli(['--json', 'audit', 'verify'], {
          env: cliEnv({ MANDATE_URL: again.url, MANDATE_TOKEN: bootstrap }),
        })
        assert.equal(verify.code, 0, verify.stdout + verify.stderr)
        const result = JSON.parse(verify.stdout) as { ok: boolean; breakCount: number; records: number }
        assert.equal(result.ok, true)
        assert.equal(result.breakCount, 0)
        assert.ok(result.records >= answered.length + cliWrites)
      } finally {
        await again.stop()
      }
    })
  })
