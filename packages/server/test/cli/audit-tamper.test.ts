// `mandate audit verify` against a tampered audit log: the rows are changed directly in the database, as someone with
// database access would, and the command exits 4 listing every break it finds (issue 8: a break never hides a later
// one). Every case restores the rows afterwards.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { canonicalJson } from '../../src/audit/canonical-json.ts'
import { type AuditEvent, hashedFields } from '../../src/audit/event.ts'
import type { AuditEventRow } from '../../src/store/tables.ts'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'
import { adminEnv, runCli } from './run-cli.ts'

/** Records 1 and 2 are the first signing key and the bootstrap token; 3 to 6 are the admin changes made here. */
const HEAD_SEQ = 6

async function makeAdminChanges(test: TestNode): Promise<void> {
  const calls = [
    await test.call('PUT', '/api/v1/humans/alice', { body: { email: 'alice@example.com' } }),
    await test.call('PUT', '/api/v1/agents/helper', {
      body: { sponsor: 'alice', classification: 'delegated', ceiling: ['crm:read'] },
    }),
    await test.call('PATCH', '/api/v1/humans/alice', {
      body: { name: 'Alice' },
      headers: { 'content-type': 'application/merge-patch+json' },
    }),
    await test.call('PUT', '/api/v1/groups/team', { body: { members: [{ kind: 'agent', id: 'helper' }] } }),
  ]
  assert.deepEqual(
    calls.map((c) => c.status),
    [201, 201, 200, 201],
  )
}

async function row(test: TestNode, seq: number): Promise<AuditEventRow> {
  return test.node.database.db
    .selectFrom('audit_events')
    .selectAll()
    .where('seq', '=', seq)
    .executeTakeFirstOrThrow()
}

/** Swaps every column but `seq` between two records (the unique `id` is moved out of the way first). */
async function swapContents(test: TestNode, a: number, b: number): Promise<void> {
  const db = test.node.database.db
  const { seq: _a, ...first } = await row(test, a)
  const { seq: _b, ...second } = await row(test, b)
  await db.updateTable('audit_events').set({ id: 'moving' }).where('seq', '=', b).execute()
  await db.updateTable('audit_events').set(second).where('seq', '=', a).execute()
  await db.updateTable('audit_events').set(first).where('seq', '=', b).execute()
}

/** Swaps the seq values of two records, through a free seq. */
async function swapSeqs(test: TestNode, a: number, b: number): Promise<void> {
  const db = test.node.database.db
  await db.updateTable('audit_events').set({ seq: -1 }).where('seq', '=', a).execute()
  await db.updateTable('audit_events').set({ seq: a }).where('seq', '=', b).execute()
  await db.updateTable('audit_events').set({ seq: b }).where('seq', '=', -1).execute()
}

interface TamperCase {
  name: string
  tamper: (test: TestNode) => Promise<void>
  /** Every break verification must report, in order. */
  breaks: Array<{ seq: number; problem: string }>
  /** Run the command with --json (else the text for people). */
  json?: boolean
}

const cases: TamperCase[] = [
  {
    name: 'an edited record (details of record 3 rewritten)',
    tamper: async (test) => {
      const details = JSON.parse((await row(test, 3)).details ?? 'null')
      assert.equal(details.after.email, 'alice@example.com')
      details.after.email = 'mallory@example.com'
      await test.node.database.db
        .updateTable('audit_events')
        .set({ details: JSON.stringify(details) })
        .where('seq', '=', 3)
        .execute()
    },
    breaks: [{ seq: 3, problem: 'altered' }],
  },
  {
    name: 'a deleted record (record 3)',
    tamper: async (test) => {
      await test.node.database.db.deleteFrom('audit_events').where('seq', '=', 3).execute()
    },
    breaks: [{ seq: 3, problem: 'missing' }],
  },
  {
    name: 'two records reordered by swapping their contents (records 3 and 4 keep their seq)',
    tamper: (test) => swapContents(test, 3, 4),
    // Record 5 still names the original record 4 as its predecessor.
    breaks: [
      { seq: 3, problem: 'altered' },
      { seq: 4, problem: 'altered' },
      { seq: 5, problem: 'chain_broken' },
    ],
  },
  {
    name: 'two records reordered by swapping their seq values (3 and 4)',
    tamper: (test) => swapSeqs(test, 3, 4),
    // Record 5 still names the original record 4 as its predecessor.
    breaks: [
      { seq: 3, problem: 'altered' },
      { seq: 4, problem: 'altered' },
      { seq: 5, problem: 'chain_broken' },
    ],
    json: true,
  },
  {
    name: 'a truncated tail (the last record deleted)',
    tamper: async (test) => {
      await test.node.database.db.deleteFrom('audit_events').where('seq', '=', HEAD_SEQ).execute()
    },
    breaks: [{ seq: HEAD_SEQ, problem: 'truncated' }],
  },
  {
    // Someone holding the master key can make record 3 match its hash again, but record 4 still names the old one.
    name: 'a record rewritten and re-hashed with the chain key (record 3)',
    tamper: async (test) => {
      const page = await test.call('GET', '/api/v1/audit/events?after=2&limit=1')
      const event: AuditEvent = { ...page.json.items[0], reason: 'routine maintenance' }
      const chainKey = test.node.masterKey.derive('audit-chain')
      const hash = createHmac('sha256', chainKey)
        .update(event.prev_hash)
        .update('\n')
        .update(canonicalJson(hashedFields(event)))
        .digest('hex')
      await test.node.database.db
        .updateTable('audit_events')
        .set({ reason: event.reason, hash })
        .where('seq', '=', 3)
        .execute()
    },
    breaks: [{ seq: 4, problem: 'chain_broken' }],
  },
  {
    name: 'an edited record (3) and a deleted one (5): the first break does not hide the second',
    tamper: async (test) => {
      await test.node.database.db
        .updateTable('audit_events')
        .set({ reason: 'nothing happened' })
        .where('seq', '=', 3)
        .execute()
      await test.node.database.db.deleteFrom('audit_events').where('seq', '=', 5).execute()
    },
    breaks: [
      { seq: 3, problem: 'altered' },
      { seq: 5, problem: 'missing' },
    ],
  },
  {
    name: 'records 2 to 4 deleted and the last record edited',
    tamper: async (test) => {
      await test.node.database.db.deleteFrom('audit_events').where('seq', 'in', [2, 3, 4]).execute()
      await test.node.database.db
        .updateTable('audit_events')
        .set({ type: 'admin.nothing' })
        .where('seq', '=', HEAD_SEQ)
        .execute()
    },
    breaks: [
      { seq: 2, problem: 'missing' },
      { seq: HEAD_SEQ, problem: 'altered' },
    ],
    json: true,
  },
]

for (const kind of storeKinds) {
  // One node per store: each case restores the rows it changed, and checks the log is intact before tampering.
  describe(`mandate audit verify on a tampered log (${kind.name})`, () => {
    let store: TestStore
    let test: TestNode
    let original: AuditEventRow[]

    async function verifyApi() {
      const response = await test.call('POST', '/api/v1/audit/verify', { body: {} })
      assert.equal(response.status, 200)
      return response.json
    }

    async function restoreRows(): Promise<void> {
      await test.node.database.db.deleteFrom('audit_events').execute()
      await test.node.database.db.insertInto('audit_events').values(original).execute()
    }

    before(async () => {
      store = kind.create()
      test = await startTestNode(store)
      await makeAdminChanges(test)
      original = await test.node.database.db.selectFrom('audit_events').selectAll().orderBy('seq').execute()
      assert.equal(original.length, HEAD_SEQ)
    })

    after(async () => {
      await test?.close()
      await store?.drop()
    })

    it('an untampered log verifies: exit 0 and ok in --json', async () => {
      const result = await runCli(['--json', 'audit', 'verify'], { env: adminEnv(test) })
      assert.equal(result.code, 0, result.stderr)
      const intact = {
        ok: true,
        records: HEAD_SEQ,
        headSeq: HEAD_SEQ,
        breaks: [],
        breakCount: 0,
        incidents: 0,
      }
      assert.deepEqual(JSON.parse(result.stdout), intact)
      assert.deepEqual(await verifyApi(), intact)
    })

    for (const tamperCase of cases) {
      const named = tamperCase.breaks.map((b) => `${b.seq} (${b.problem})`).join(', ')
      it(`exits 4 naming record ${named} for ${tamperCase.name}`, async () => {
        assert.equal((await verifyApi()).ok, true, 'the log is intact before tampering')
        await tamperCase.tamper(test)
        try {
          const api = await verifyApi()
          assert.equal(api.ok, false)
          assert.deepEqual(
            api.breaks.map((b: { seq: number; problem: string }) => ({ seq: b.seq, problem: b.problem })),
            tamperCase.breaks,
          )
          assert.equal(api.breakCount, tamperCase.breaks.length)
          assert.deepEqual(api.firstBreak, api.breaks[0])
          assert.equal(api.headSeq, HEAD_SEQ)
          for (const found of api.breaks) assert.match(found.message, new RegExp(`\\b${found.seq}\\b`))

          const result = await runCli([...(tamperCase.json ? ['--json'] : []), 'audit', 'verify'], {
            env: adminEnv(test),
          })
          assert.equal(result.code, 4, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`)
          if (tamperCase.json) assert.deepEqual(JSON.parse(result.stdout), api)
          else
            assert.equal(
              result.stdout,
              [
                `audit log BROKEN: ${api.breakCount} ${api.breakCount === 1 ? 'break' : 'breaks'} in ${api.records} records`,
                ...api.breaks.map(
                  (b: { seq: number; problem: string; message: string }) =>
                    `  record ${b.seq}: ${b.problem}: ${b.message}`,
                ),
                '',
              ].join('\n'),
            )
        } finally {
          await restoreRows()
        }
      })
    }
  })
}
