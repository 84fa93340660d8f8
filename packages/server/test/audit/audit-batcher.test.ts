// Group commit fails closed: when the store cannot write, no caller is told its record was kept.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { AuditBatcher, type EffectHandlers } from '../../src/audit/audit-batcher.ts'
import { AuditLog } from '../../src/audit/audit-log.ts'
import { InvalidGrant } from '../../src/errors/oauth-error.ts'
import { openDatabase } from '../../src/store/database.ts'
import { tempDir } from '../support/harness.ts'

describe('AuditBatcher', () => {
  it('rejects every caller of a batch whose commit fails, and keeps nothing of it', async () => {
    const dir = tempDir()
    const database = await openDatabase({ dialect: 'sqlite', file: join(dir.path, 'mandate.db') })
    try {
      await database.migrate()
      const audit = new AuditLog(randomBytes(32))
      await audit.initialize(database.db)
      const batcher = new AuditBatcher(database, audit)
      await batcher.record({ type: 'test.ok', outcome: 'success', actors: [{ kind: 'system', id: 't' }] })
      // A trigger makes the next insert fail inside the transaction, as a full disk or a lost connection would.
      const { sql } = await import('kysely')
      await sql`create trigger refuse_audit before insert on audit_events begin select raise(abort, 'disk full'); end`.execute(
        database.db,
      )
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, () =>
          batcher.record({ type: 'test.lost', outcome: 'success', actors: [{ kind: 'system', id: 't' }] }),
        ),
      )
      assert.ok(results.every((r) => r.status === 'rejected'))
      await sql`drop trigger refuse_audit`.execute(database.db)
      assert.deepEqual(await audit.read(database.db, { limit: 10, type: 'test.lost' }), [])
      assert.equal((await audit.verify(database.db)).ok, true)
      await batcher.record({ type: 'test.after', outcome: 'success', actors: [{ kind: 'system', id: 't' }] })
      assert.equal((await audit.verify(database.db)).records, 2)
    } finally {
      await database.close()
      dir.drop()
    }
  })

  it('a record whose effect is refused leaves its batch alone: it and its effect are not written, the others commit in order', async () => {
    const dir = tempDir()
    const database = await openDatabase({ dialect: 'sqlite', file: join(dir.path, 'mandate.db') })
    try {
      await database.migrate()
      const audit = new AuditLog(randomBytes(32))
      await audit.initialize(database.db)
      const actors = [{ kind: 'system' as const, id: 't' }]
      // Each effect writes a meta row; odd ones are refused by their guard and must leave nothing behind.
      const handlers: EffectHandlers = {
        'test.meta': async (tx, step) => {
          const { i } = step as unknown as { i: number }
          if (i % 2 === 1) return { ok: false, refusal: { error: 'invalid_grant', message: `refused ${i}` } }
          await tx
            .insertInto('meta')
            .values({ key: `effect-${i}`, value: 'x' })
            .execute()
          return { ok: true, events: [{ type: 'test.extra', outcome: 'success', actors, details: { i } }] }
        },
      }
      const batcher = new AuditBatcher(database, audit, { handlers })
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          batcher.record({ type: 'test.effect', outcome: 'success', actors, details: { i } }, [
            { kind: 'test.meta', i },
          ]),
        ),
      )
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'rejected'],
      )
      const refused = (results[1] as PromiseRejectedResult).reason
      assert.ok(refused instanceof InvalidGrant)
      assert.match(refused.message, /refused 1/)
      const events = await audit.read(database.db, { limit: 20 })
      assert.deepEqual(
        events.map((e) => `${e.type}:${(e.details as { i: number }).i}`),
        ['test.effect:0', 'test.extra:0', 'test.effect:2', 'test.extra:2', 'test.effect:4', 'test.extra:4'],
      )
      const keys = (
        await database.db.selectFrom('meta').select('key').where('key', 'like', 'effect-%').execute()
      )
        .map((r) => r.key)
        .sort()
      assert.deepEqual(keys, ['effect-0', 'effect-2', 'effect-4'])
      assert.equal((await audit.verify(database.db)).ok, true)
    } finally {
      await database.close()
      dir.drop()
    }
  })
})
