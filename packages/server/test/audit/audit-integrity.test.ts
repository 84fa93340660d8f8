// The audit log cannot be made to lie (issue 8, section 1), on SQLite and PostgreSQL: what is hashed is what is stored,
// every break is reported, a writer refuses to extend a head it cannot trust, checkpoints published outside the
// database prove nothing before them was removed, and one bad record never fails its neighbours.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { AuditBatcher } from '../../src/audit/audit-batcher.ts'
import { AuditLog } from '../../src/audit/audit-log.ts'
import { type Checkpoint, CheckpointSigner, FileCheckpointSink } from '../../src/audit/checkpoint.ts'
import type { AuditEventInput } from '../../src/audit/event.ts'
import { RefusalAggregator } from '../../src/audit/refusal-aggregator.ts'
import { FailureLimiter, failureSource } from '../../src/authn/failure-limiter.ts'
import { AuditUnavailable } from '../../src/errors/mandate-error.ts'
import { type Database, openDatabase, storeLocation } from '../../src/store/database.ts'
import type { AuditHeadRow } from '../../src/store/tables.ts'
import { storeKinds, type TestStore, tempDir } from '../support/harness.ts'

const NOW = new Date('2026-11-30T12:00:00Z')

function event(i: number, extra: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    type: 'test.event',
    outcome: 'success',
    actors: [{ kind: 'agent', id: `bot-${i}` }],
    details: { i },
    ...extra,
  }
}

async function headRow(database: Database): Promise<AuditHeadRow> {
  return database.db.selectFrom('audit_head').selectAll().where('id', '=', 1).executeTakeFirstOrThrow()
}

async function appendSome(database: Database, audit: AuditLog, count: number, from = 0): Promise<void> {
  await database.transact((tx) =>
    audit.appendMany(
      tx,
      Array.from({ length: count }, (_, i) => ({ input: event(from + i), now: NOW })),
    ),
  )
}

for (const kind of storeKinds) {
  describe(`audit integrity (${kind.name})`, () => {
    let store: TestStore
    let database: Database
    let chainKey: Buffer
    let audit: AuditLog

    before(async () => {
      store = kind.create()
      const settings = store.settings as { dataDir: string; databaseUrl?: string; databaseSchema?: string }
      database = await openDatabase(storeLocation(settings))
      await database.migrate()
      chainKey = randomBytes(32)
      audit = new AuditLog(chainKey)
      await audit.initialize(database.db)
    })

    after(async () => {
      await database?.close()
      await store?.drop()
    })

    // A fresh log per test: everything but the first migration's rows is removed, and the head is reset.
    async function reset(): Promise<void> {
      await database.db.deleteFrom('audit_events').execute()
      await database.db
        .updateTable('audit_head')
        .set({ seq: 0, hash: '0'.repeat(64), mac: '', epoch: 0 })
        .where('id', '=', 1)
        .execute()
      audit = new AuditLog(chainKey)
      await audit.initialize(database.db)
    }

    describe('what is hashed is what is stored', () => {
      const hostile = [
        'a b',
        'doc:q 1',
        'quote " and \\ backslash',
        'percent % and _ underscore',
        'rtl \u202e mark \u200f',
        'emoji 🧑‍💻 pair',
        'x'.repeat(10_000),
      ]

      it('issue 8: records with hostile strings read back byte for byte, and the log verifies', async () => {
        await reset()
        const appended = await database.transact((tx) =>
          audit.appendMany(
            tx,
            hostile.map((text, i) => ({
              input: {
                type: 'test.hostile',
                outcome: 'success' as const,
                actors: [{ kind: 'agent' as const, id: text }],
                subjects: [`entity:${text}`, `human:${text}`],
                action: text,
                resource: text,
                reason: text,
                details: { text, nested: [text, { [text]: text }], i },
              },
              now: NOW,
            })),
          ),
        )
        const read = await audit.read(database.db, { limit: 100 })
        assert.deepEqual(read, appended)
        const verification = await audit.verify(database.db)
        assert.equal(verification.ok, true, JSON.stringify(verification.breaks))
      })

      it('issue 8: a lone surrogate or a control character in a text field is stored as hashed (U+FFFD)', async () => {
        await reset()
        const [appended] = await database.transact((tx) =>
          audit.appendMany(tx, [
            {
              input: {
                ...event(1),
                action: 'read\ud800',
                reason: 'why\u0001',
                resource: 'x'.repeat(1999) + '😀',
              },
              now: NOW,
            },
          ]),
        )
        assert.equal(appended?.action, 'read\ufffd')
        assert.equal(appended?.reason, 'why\ufffd')
        assert.equal(
          appended?.resource,
          `${'x'.repeat(1999)}…`,
          'cut before the surrogate pair, not inside it',
        )
        assert.deepEqual(await audit.read(database.db, { limit: 10 }), [appended])
        assert.equal((await audit.verify(database.db)).ok, true)
      })

      it('issue 8: the principal filter matches whole ids, spaces, quotes and LIKE wildcards included', async () => {
        await reset()
        await database.transact((tx) =>
          audit.appendMany(
            tx,
            ['a b', 'a', 'b', 'a"b', 'a\\', 'x\\"a\\', '%', 'a_c', 'abc'].map((id) => ({
              input: { ...event(0), actors: [{ kind: 'agent' as const, id }] },
              now: NOW,
            })),
          ),
        )
        const idsFor = async (principal: string) =>
          (await audit.read(database.db, { limit: 100, principal })).map((e) => e.actors[0]?.id)
        assert.deepEqual(await idsFor('agent:a b'), ['a b'])
        assert.deepEqual(await idsFor('agent:a'), ['a'])
        assert.deepEqual(await idsFor('agent:a"b'), ['a"b'])
        assert.deepEqual(await idsFor('agent:a\\'), ['a\\'])
        assert.deepEqual(await idsFor('agent:%'), ['%'])
        assert.deepEqual(await idsFor('agent:a_c'), ['a_c'])
        assert.deepEqual(await idsFor('agent:c'), [])
      })
    })

    describe('every break is reported', () => {
      it('issue 8: 150 edited records give 150 breaks, the first 100 listed', async () => {
        await reset()
        await appendSome(database, audit, 160)
        await database.db
          .updateTable('audit_events')
          .set({ reason: 'edited' })
          .where('seq', '<=', 150)
          .execute()
        const verification = await audit.verify(database.db)
        assert.equal(verification.ok, false)
        assert.equal(verification.breakCount, 150)
        assert.equal(verification.breaks.length, 100)
        assert.deepEqual(
          verification.breaks.map((b) => b.seq),
          Array.from({ length: 100 }, (_, i) => i + 1),
        )
        assert.ok(verification.breaks.every((b) => b.problem === 'altered'))
      })
    })

    describe('a writer never extends a head it cannot trust', () => {
      it('issue 8: the newest records deleted (head unchanged): writes are refused, reads still work', async () => {
        await reset()
        await appendSome(database, audit, 5)
        await database.db.deleteFrom('audit_events').where('seq', '>', 3).execute()
        await assert.rejects(appendSome(database, audit, 1), AuditUnavailable)
        assert.match(audit.status().refusing ?? '', /record 5, which the chain head names, is gone/)
        assert.equal((await audit.read(database.db, { limit: 10 })).length, 3)
        assert.equal(audit.status().refusedWrites, 1)
      })

      it('issue 8: the head moved back to the new last record without the chain key: its MAC fails, writes are refused', async () => {
        await reset()
        await appendSome(database, audit, 5)
        const third = (await audit.read(database.db, { afterSeq: 2, limit: 1 }))[0]
        assert.ok(third)
        await database.db.deleteFrom('audit_events').where('seq', '>', 3).execute()
        await database.db
          .updateTable('audit_head')
          .set({ seq: 3, hash: third.hash })
          .where('id', '=', 1)
          .execute()
        await assert.rejects(appendSome(database, audit, 1), /does not match its MAC/)
        const other = new AuditLog(chainKey)
        await assert.rejects(appendSome(database, other, 1), AuditUnavailable, 'another node refuses too')
      })

      it('issue 8: the head put back to an old, validly MACed state: the node that saw the later head refuses', async () => {
        await reset()
        await appendSome(database, audit, 3)
        const saved = await headRow(database)
        await appendSome(database, audit, 3, 3)
        await appendSome(database, audit, 1, 6) // the node has now read the head at record 6
        await database.db.deleteFrom('audit_events').where('seq', '>', 3).execute()
        await database.db.updateTable('audit_head').set(saved).where('id', '=', 1).execute()
        await assert.rejects(appendSome(database, audit, 1), /went back from record 6 to 3/)
      })

      it('issue 8: a node that adopted a checkpoint refuses a head put back behind it; one that did not cannot tell', async () => {
        await reset()
        await appendSome(database, audit, 3)
        const saved = await headRow(database)
        await appendSome(database, audit, 3, 3)
        const checkpoint = { ...(await audit.head(database.db)), time: NOW.toISOString() }
        await database.db.deleteFrom('audit_events').where('seq', '>', 3).execute()
        await database.db.updateTable('audit_head').set(saved).where('id', '=', 1).execute()

        const restarted = new AuditLog(chainKey)
        await restarted.adoptCheckpoint(database.db, checkpoint)
        await assert.rejects(appendSome(database, restarted, 1), /checkpoint/)

        const unaware = new AuditLog(chainKey)
        await appendSome(database, unaware, 2, 100)
        const verification = await unaware.verify(database.db, { checkpoints: [checkpoint] })
        assert.equal(verification.ok, false)
        assert.deepEqual(
          verification.breaks.map((b) => [b.seq, b.problem]),
          [[6, 'checkpoint_mismatch']],
          'after later writes, the record the checkpoint signed is another one',
        )
      })

      it('issue 8: before later writes, verification with the checkpoint says its record is gone', async () => {
        await reset()
        await appendSome(database, audit, 3)
        const saved = await headRow(database)
        await appendSome(database, audit, 3, 3)
        const checkpoint = { ...(await audit.head(database.db)), time: NOW.toISOString() }
        await database.db.deleteFrom('audit_events').where('seq', '>', 3).execute()
        await database.db.updateTable('audit_head').set(saved).where('id', '=', 1).execute()
        const plain = await audit.verify(database.db)
        assert.equal(plain.ok, true, 'without the checkpoint the rolled-back log looks whole')
        const verification = await audit.verify(database.db, { checkpoints: [checkpoint] })
        assert.equal(verification.ok, false)
        assert.equal(verification.breaks[0]?.problem, 'checkpoint_mismatch')
        assert.match(verification.breaks[0]?.message ?? '', /record 6, signed by the checkpoint .* is gone/)
      })

      it('issue 8: a recorded recovery resumes the chain, and owns up to the checkpoints it lost', async () => {
        await reset()
        await appendSome(database, audit, 5)
        const checkpoint: Checkpoint = { ...(await audit.head(database.db)), time: NOW.toISOString() }
        await database.db.deleteFrom('audit_events').where('seq', '>', 3).execute()
        await assert.rejects(appendSome(database, audit, 1), AuditUnavailable)
        const problems = await audit.diagnose(database.db, checkpoint)
        assert.ok(problems.length >= 1)
        const recovery = await database.transact((tx) =>
          audit.recover(tx, {
            reason: 'tail deleted by a database restore; investigated',
            problems,
            actor: { kind: 'system', id: 'audit-recover' },
            now: NOW,
            checkpoint,
          }),
        )
        assert.deepEqual(recovery.resumedAfter.seq, 3)
        assert.deepEqual(recovery.headWas.seq, 5)
        assert.equal(recovery.incident.seq, 4)
        assert.equal(recovery.incident.type, 'audit.recover')
        await appendSome(database, audit, 2, 10)
        const other = new AuditLog(chainKey)
        await other.adoptCheckpoint(database.db, checkpoint)
        await appendSome(database, other, 1, 20)
        const verification = await audit.verify(database.db, { checkpoints: [checkpoint] })
        assert.equal(verification.ok, true, JSON.stringify(verification.breaks))
        assert.equal(verification.incidents, 1)
        assert.deepEqual(verification.checkpoints, { checked: 1, matched: 0, acknowledged: 1 })
        assert.deepEqual(await audit.diagnose(database.db, checkpoint), [])
      })
    })

    describe('one bad record never fails its neighbours', () => {
      it('issue 8: a record holding U+0000 is refused alone; the records batched with it commit', async () => {
        await reset()
        const batcher = new AuditBatcher(database, audit)
        const results = await Promise.allSettled([
          ...Array.from({ length: 10 }, (_, i) => batcher.record(event(i))),
          batcher.record({ ...event(99), actors: [{ kind: 'agent', id: 'nul\u0000' }] }),
          batcher.record({ ...event(98), details: { lone: '\udc00' } }),
          ...Array.from({ length: 10 }, (_, i) => batcher.record(event(i + 10))),
        ])
        assert.deepEqual(
          results.map((r) => r.status),
          [...Array(10).fill('fulfilled'), 'rejected', 'rejected', ...Array(10).fill('fulfilled')],
        )
        assert.equal((await audit.verify(database.db)).records, 20)
      })

      it('issue 8: a record whose commit fails is retried alone; only its caller fails', async () => {
        await reset()
        const batcher = new AuditBatcher(database, audit)
        const results = await Promise.allSettled([
          ...Array.from({ length: 12 }, (_, i) => batcher.record(event(i))),
          // JSON cannot hold a BigInt: this record fails inside the batch's transaction.
          batcher.record({ ...event(50), details: { big: 10n } as unknown as Record<string, unknown> }),
          ...Array.from({ length: 8 }, (_, i) => batcher.record(event(i + 12))),
        ])
        assert.deepEqual(
          results.map((r) => r.status),
          [...Array(12).fill('fulfilled'), 'rejected', ...Array(8).fill('fulfilled')],
        )
        const verification = await audit.verify(database.db)
        assert.equal(verification.ok, true)
        assert.equal(verification.records, 20)
      })
    })

    describe('junk does not fill the log', () => {
      it('issue 8: 200 refusals from one source are one full record and one counted record', async () => {
        await reset()
        let now = NOW.getTime()
        const errors: unknown[] = []
        const aggregator = new RefusalAggregator({
          recorder: new AuditBatcher(database, audit),
          windowMs: 60_000,
          now: () => now,
          onError: (error) => errors.push(error),
        })
        const refusal: AuditEventInput = { type: 'token.refuse', outcome: 'failure', actors: [], reason: 'x' }
        for (let i = 0; i < 200; i++)
          await aggregator.record('192.0.2.1', i % 2 ? 'invalid_client' : 'invalid_request', refusal)
        await aggregator.record('192.0.2.2', 'invalid_client', refusal)
        assert.equal((await audit.read(database.db, { limit: 1000 })).length, 2, 'the first of each source')
        now += 61_000
        await aggregator.record('192.0.2.1', 'invalid_client', refusal)
        await aggregator.flush()
        const records = await audit.read(database.db, { limit: 1000 })
        const counted = records.filter((r) => r.details?.aggregated === true)
        assert.equal(counted.length, 1, 'source 2 had nothing more to count')
        assert.equal(counted[0]?.details?.count, 199)
        assert.deepEqual(counted[0]?.details?.errors, { invalid_client: 100, invalid_request: 99 })
        assert.equal(records.length, 4, 'two firsts, one count, one first of the new window')
        assert.deepEqual(errors, [])
      })
    })
  })
}

describe('audit checkpoints', () => {
  const signer = new CheckpointSigner(randomBytes(32))
  const checkpoint: Checkpoint = { seq: 42, hash: 'a'.repeat(64), epoch: 0, time: NOW.toISOString() }

  it('issue 8: a checkpoint verifies with the key that signed it, and not once a field is changed', async () => {
    const signed = await signer.sign(checkpoint)
    assert.deepEqual(await signer.verify(signed), checkpoint)
    assert.equal(await signer.verify({ ...signed, seq: 41 }), undefined)
    assert.equal(await signer.verify({ ...signed, hash: 'b'.repeat(64) }), undefined)
    assert.equal(await signer.verify({ ...signed, signature: `${signed.signature}x` }), undefined)
    assert.equal(await new CheckpointSigner(randomBytes(32)).verify(signed), undefined)
    assert.equal(await signer.verify('not a checkpoint'), undefined)
  })

  it('issue 8: the file sink appends durably and finds the newest line, past a torn last line', async () => {
    const dir = tempDir()
    try {
      const sink = new FileCheckpointSink(join(dir.path, 'nested', 'checkpoints.jsonl'))
      assert.equal(await sink.latest(), undefined)
      await sink.publish(await signer.sign(checkpoint))
      await sink.publish(await signer.sign({ ...checkpoint, seq: 43 }))
      const { appendFileSync } = await import('node:fs')
      appendFileSync(sink.file, '{"seq": 44, "hash"')
      assert.equal((await sink.latest())?.seq, 43)
    } finally {
      dir.drop()
    }
  })
})

describe('failed authentication limit', () => {
  it('issue 8: a source over its burst waits for Retry-After; successes never drain it; others are unaffected', () => {
    let now = 0
    const limiter = new FailureLimiter({ burst: 3, refillPerSecond: 0.5, now: () => now })
    for (let i = 0; i < 3; i++) {
      assert.equal(limiter.retryAfter('a'), 0)
      limiter.fail('a')
    }
    assert.equal(limiter.retryAfter('a'), 2, 'one failure earned back in 2 s')
    assert.equal(limiter.retryAfter('b'), 0)
    now += 2000
    assert.equal(limiter.retryAfter('a'), 0)
    limiter.fail('a')
    assert.ok(limiter.retryAfter('a') > 0)
    assert.equal(new FailureLimiter({ burst: 0, refillPerSecond: 1, now: () => now }).retryAfter('a'), 0)
  })
})

describe('failure sources', () => {
  it('issue 8: an IPv6 address counts against its /64, an IPv4 one (mapped or not) against itself', () => {
    assert.equal(failureSource('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64')
    assert.equal(failureSource('2001:db8:1:2:ffff::1'), '2001:db8:1:2::/64')
    assert.equal(failureSource('2001:0db8:0001:0002::'), '2001:db8:1:2::/64')
    assert.equal(failureSource('2001:db8::1'), '2001:db8:0:0::/64')
    assert.notEqual(failureSource('2001:db8:1:3::1'), failureSource('2001:db8:1:2::1'))
    assert.equal(failureSource('::ffff:192.0.2.7'), '192.0.2.7')
    assert.equal(failureSource('192.0.2.7'), '192.0.2.7')
    let now = 0
    const limiter = new FailureLimiter({ burst: 2, refillPerSecond: 1, now: () => now })
    limiter.fail('2001:db8:1:2::a')
    limiter.fail('2001:db8:1:2::b')
    assert.ok(limiter.retryAfter('2001:db8:1:2::c') > 0, 'a fresh address in the same /64 is limited too')
    assert.equal(limiter.retryAfter('2001:db8:1:3::c'), 0)
    now += 1
  })
})
