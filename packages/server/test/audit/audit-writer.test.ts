// The audit writer thread, seen from the main thread: records committed by the worker, one chain with the main thread's
// own transactions, and fail closed when the worker dies (every record it had not answered is refused, never
// acknowledged, and the writer starts again).
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { AuditLog } from '../../src/audit/audit-log.ts'
import { AuditWriter } from '../../src/audit/audit-writer.ts'
import { AuditUnavailable } from '../../src/errors/mandate-error.ts'
import { openDatabase, type StoreLocation } from '../../src/store/database.ts'
import { postgresStore, type TestStore, tempDir } from '../support/harness.ts'

const WORKER = new URL('../../src/audit-worker.ts', import.meta.url)
const actors = [{ kind: 'system' as const, id: 'test' }]

function locationOf(store: TestStore): StoreLocation {
  const { databaseUrl, databaseSchema, dataDir } = store.settings as Record<string, string>
  return store.name === 'postgres'
    ? { dialect: 'postgres', url: databaseUrl as string, schema: databaseSchema }
    : { dialect: 'sqlite', file: join(dataDir as string, 'mandate.db') }
}

const stores: Array<{ name: string; create: () => TestStore }> = [
  {
    name: 'sqlite',
    create: () => {
      const dir = tempDir()
      return { name: 'sqlite', settings: { dataDir: dir.path }, drop: async () => dir.drop() }
    },
  },
  { name: 'postgres', create: postgresStore },
]

for (const kind of stores)
  describe(`AuditWriter (${kind.name})`, () => {
    it('the worker and the main thread append to one chain, interleaved, and it verifies', async () => {
      const store = kind.create()
      const location = locationOf(store)
      const database = await openDatabase(location)
      const chainKey = randomBytes(32)
      const writer = new AuditWriter({ entry: WORKER, init: { location, chainKey } })
      try {
        await database.migrate()
        const audit = new AuditLog(chainKey)
        await audit.initialize(database.db)
        const standalone = Array.from({ length: 200 }, (_, i) =>
          writer.record({ type: 'test.worker', outcome: 'success', actors, details: { i } }),
        )
        // Changes of the main thread, each with its record in its own transaction, while the worker writes.
        for (let i = 0; i < 20; i++)
          await database.transact((tx) =>
            audit.append(tx, { type: 'test.main', outcome: 'success', actors, details: { i } }, new Date()),
          )
        const receipts = await Promise.all(standalone)
        assert.equal(new Set(receipts.map((e) => e.seq)).size, 200)
        const verification = await audit.verify(database.db)
        assert.equal(verification.ok, true, JSON.stringify(verification.firstBreak))
        assert.equal(verification.records, 220)
        for (const receipt of receipts) {
          const [stored] = await audit.read(database.db, { afterSeq: receipt.seq - 1, limit: 1 })
          assert.equal(stored?.hash, receipt.hash, 'each caller is answered with its record as stored')
        }
      } finally {
        await writer.close()
        await database.close()
        await store.drop()
      }
    })

    it('a record whose effect names no handler fails alone (fail closed); the others commit', async () => {
      const store = kind.create()
      const location = locationOf(store)
      const database = await openDatabase(location)
      const chainKey = randomBytes(32)
      const writer = new AuditWriter({ entry: WORKER, init: { location, chainKey } })
      try {
        await database.migrate()
        await new AuditLog(chainKey).initialize(database.db)
        const results = await Promise.allSettled([
          writer.record({ type: 'test.ok', outcome: 'success', actors }),
          writer.record({ type: 'test.unknown', outcome: 'success', actors }, [{ kind: 'no.such.step' }]),
          writer.record({ type: 'test.ok', outcome: 'success', actors }),
        ])
        assert.deepEqual(
          results.map((r) => r.status),
          ['fulfilled', 'rejected', 'fulfilled'],
        )
        assert.match(String((results[1] as PromiseRejectedResult).reason), /no handler for the effect step/)
      } finally {
        await writer.close()
        await database.close()
        await store.drop()
      }
    })
  })

describe('AuditWriter with a worker that dies', () => {
  it('rejects every record the dead worker had not answered, starts a new worker, and never acknowledges', async () => {
    const errors: string[] = []
    const writer = new AuditWriter({
      entry: new URL('./fixtures/dying-writer.ts', import.meta.url),
      init: { location: { dialect: 'sqlite', file: ':memory:' }, chainKey: randomBytes(32) },
      onError: (message) => errors.push(message),
    })
    try {
      for (let round = 0; round < 3; round++) {
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, () => writer.record({ type: 'test.lost', outcome: 'success', actors })),
        )
        assert.ok(results.every((r) => r.status === 'rejected'))
        for (const result of results)
          assert.ok((result as PromiseRejectedResult).reason instanceof AuditUnavailable)
      }
      assert.ok(errors.filter((e) => e.includes('starting it again')).length >= 3)
    } finally {
      await writer.close()
    }
  })

  it('says it is ready only while a worker that said so runs: not while it starts again (/readyz reads it)', async () => {
    const writer = new AuditWriter({
      entry: new URL('./fixtures/dying-writer.ts', import.meta.url),
      init: { location: { dialect: 'sqlite', file: ':memory:' }, chainKey: randomBytes(32) },
      onError: () => {},
    })
    try {
      assert.equal(writer.status().writer, 'unavailable', 'not started yet')
      assert.equal(await writer.started(), true)
      assert.equal(writer.status().writer, 'ready')
      // The record kills the worker: until the next one says it is ready, the writer is not.
      const lost = await writer
        .record({ type: 'test.lost', outcome: 'success', actors })
        .catch((e: unknown) => e)
      assert.ok(lost instanceof AuditUnavailable)
      assert.equal(writer.status().writer, 'unavailable')
      assert.equal(await writer.started(), true, 'the writer started again')
      assert.equal(writer.status().writer, 'ready')
    } finally {
      await writer.close()
    }
    assert.equal(writer.status().writer, 'unavailable', 'a closed writer is not ready')
  })

  it('a writer that cannot start refuses records (503) rather than holding them', async () => {
    const writer = new AuditWriter({
      entry: new URL('./fixtures/no-such-writer.ts', import.meta.url),
      init: { location: { dialect: 'sqlite', file: ':memory:' }, chainKey: randomBytes(32) },
    })
    try {
      assert.equal(await writer.started(), false, 'the worker stopped before it was ready')
      assert.equal(writer.status().writer, 'unavailable')
      const first = await writer
        .record({ type: 'test.lost', outcome: 'success', actors })
        .catch((e: unknown) => e)
      assert.ok(first instanceof AuditUnavailable)
      // Between attempts to start again, records are refused at once.
      const next = await writer
        .record({ type: 'test.lost', outcome: 'success', actors })
        .catch((e: unknown) => e)
      assert.ok(next instanceof AuditUnavailable)
    } finally {
      await writer.close()
    }
  })
})
