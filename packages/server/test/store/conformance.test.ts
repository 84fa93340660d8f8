// The store conformance suite: the same contracts checked on the embedded SQLite store and on PostgreSQL.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { type Kysely, Migrator } from 'kysely'
import { AuditBatcher } from '../../src/audit/audit-batcher.ts'
import { AuditLog } from '../../src/audit/audit-log.ts'
import { Conflict } from '../../src/errors/mandate-error.ts'
import { MandateStore } from '../../src/mandates/mandate-store.ts'
import type { Mandate } from '../../src/mandates/model.ts'
import { spendHandler, spendStep } from '../../src/mandates/spend-effect.ts'
import type { Agent, Human } from '../../src/registry/model.ts'
import { createRegistryStores } from '../../src/registry/stores.ts'
import { AdminTokenStore } from '../../src/store/admin-token-store.ts'
import {
  type Database,
  isForeignKeyViolation,
  isUniqueViolation,
  openDatabase,
  type StoreLocation,
  storeLocation,
} from '../../src/store/database.ts'
import * as m0001 from '../../src/store/migrations/0001-registry-keys-audit.ts'
import * as m0002 from '../../src/store/migrations/0002-token-service.ts'
import * as m0003 from '../../src/store/migrations/0003-policies.ts'
import { SigningKeyStore } from '../../src/store/signing-key-store.ts'
import { storeKinds, type TestStore } from '../support/harness.ts'

const run = promisify(execFile)
const now = () => new Date().toISOString()
const human = (id: string, status: Human['status'] = 'active'): Human => ({ id, status })
const agent = (id: string, sponsor: string, extra: Partial<Agent> = {}): Agent => ({
  id,
  sponsor,
  classification: 'delegated',
  ceiling: ['crm:read'],
  status: 'active',
  credentials: [],
  ...extra,
})

for (const kind of storeKinds) {
  describe(`store conformance on ${kind.name}`, () => {
    let store: TestStore
    let location: StoreLocation
    let database: Database
    const chainKey = randomBytes(32)
    const audit = new AuditLog(chainKey)
    const stores = createRegistryStores()

    before(async () => {
      store = kind.create()
      location = storeLocation({
        dataDir: String(store.settings.dataDir),
        databaseUrl: store.settings.databaseUrl as string | undefined,
        databaseSchema: store.settings.databaseSchema as string | undefined,
      })
      database = await openDatabase(location)
      await database.migrate()
      await audit.initialize(database.db)
    })
    after(async () => {
      await database.close()
      await store.drop()
    })

    it('applies migrations once: a second migrate applies nothing', async () => {
      assert.deepEqual(await database.migrate(), [])
    })

    it('inserts, reads and lists registry objects with filters and an id cursor', async () => {
      await database.transact(async (tx) => {
        await stores.humans.insert(tx, human('alice@example.com'), now())
        await stores.humans.insert(tx, human('bob@example.com', 'inactive'), now())
        for (const id of ['a1', 'a2', 'a3', 'a4'])
          await stores.agents.insert(
            tx,
            agent(id, id === 'a4' ? 'bob@example.com' : 'alice@example.com', {
              classification: id === 'a2' ? 'autonomous' : 'delegated',
            }),
            now(),
          )
      })
      const a1 = await stores.agents.get(database.db, 'a1')
      assert.equal(a1?.version, 1)
      assert.deepEqual(a1?.ceiling, ['crm:read'])
      assert.equal(await stores.agents.get(database.db, 'missing'), undefined)
      const page1 = await stores.agents.list(database.db, { limit: 2 })
      assert.deepEqual(
        page1.map((a) => a.id),
        ['a1', 'a2'],
      )
      const page2 = await stores.agents.list(database.db, { limit: 2, after: 'a2' })
      assert.deepEqual(
        page2.map((a) => a.id),
        ['a3', 'a4'],
      )
      assert.deepEqual(
        (await stores.agents.list(database.db, { limit: 10, filters: { sponsor: 'bob@example.com' } })).map(
          (a) => a.id,
        ),
        ['a4'],
      )
      assert.deepEqual(
        (await stores.agents.list(database.db, { limit: 10, filters: { classification: 'autonomous' } })).map(
          (a) => a.id,
        ),
        ['a2'],
      )
      assert.deepEqual(
        (await stores.humans.list(database.db, { limit: 10, filters: { status: 'inactive' } })).map(
          (h) => h.id,
        ),
        ['bob@example.com'],
      )
      assert.deepEqual(await stores.agents.activeSponsoredBy(database.db, 'alice@example.com'), [
        'a1',
        'a2',
        'a3',
      ])
    })

    it('refuses a duplicate id with Conflict', async () => {
      await assert.rejects(
        database.transact((tx) => stores.humans.insert(tx, human('alice@example.com'), now())),
        Conflict,
      )
    })

    it('updates only at the expected version (optimistic concurrency)', async () => {
      const current = await stores.agents.get(database.db, 'a3')
      assert.ok(current)
      const updated = await database.transact((tx) =>
        stores.agents.update(
          tx,
          current,
          { ...agent('a3', 'alice@example.com'), status: 'suspended' },
          now(),
        ),
      )
      assert.equal(updated.version, 2)
      assert.equal(
        (await stores.agents.list(database.db, { limit: 10, filters: { status: 'suspended' } }))[0]?.id,
        'a3',
      )
      await assert.rejects(
        database.transact((tx) => stores.agents.update(tx, current, agent('a3', 'alice@example.com'), now())),
        Conflict,
      )
    })

    it('enforces foreign keys: an agent needs an existing sponsor', async () => {
      await assert.rejects(
        database.transact((tx) => stores.agents.insert(tx, agent('orphan', 'nobody@example.com'), now())),
        (error) => isForeignKeyViolation(error),
      )
    })

    it('indexes group membership for lookups by principal', async () => {
      await database.transact(async (tx) => {
        const group = {
          id: 'g1',
          members: [
            { kind: 'human' as const, id: 'alice@example.com' },
            { kind: 'agent' as const, id: 'a1' },
          ],
        }
        await stores.groups.insert(tx, group, now())
        await stores.groups.indexMembers(tx, group)
      })
      assert.deepEqual(await stores.groups.groupsOf(database.db, 'agent', 'a1'), ['g1'])
      assert.deepEqual(await stores.groups.groupsOf(database.db, 'agent', 'a2'), [])
      await database.transact((tx) => stores.groups.delete(tx, 'g1'))
      assert.deepEqual(
        await stores.groups.groupsOf(database.db, 'agent', 'a1'),
        [],
        'membership rows go with the group',
      )
    })

    it('rolls back every write of a failed transaction, audit record included', async () => {
      const before = (await audit.verify(database.db)).records
      await assert.rejects(
        database.transact(async (tx) => {
          await stores.humans.insert(tx, human('carol@example.com'), now())
          await audit.append(
            tx,
            { type: 'test.rollback', outcome: 'success', actors: [{ kind: 'system', id: 'test' }] },
            new Date(),
          )
          throw new Error('boom')
        }),
        /boom/,
      )
      assert.equal(await stores.humans.get(database.db, 'carol@example.com'), undefined)
      assert.equal((await audit.verify(database.db)).records, before)
    })

    it('appends audit events in one chain and reads them with filters', async () => {
      await database.transact(async (tx) => {
        await audit.append(
          tx,
          {
            type: 'admin.agent.create',
            outcome: 'success',
            actors: [{ kind: 'admin_token', id: 't1' }],
            subjects: ['agent:a_b'],
          },
          new Date('2026-01-01T00:00:00Z'),
        )
        await audit.append(
          tx,
          {
            type: 'admin.agent.update',
            outcome: 'success',
            actors: [{ kind: 'admin_token', id: 't1' }],
            subjects: ['agent:axb'],
          },
          new Date('2026-02-01T00:00:00Z'),
        )
        await audit.append(
          tx,
          {
            type: 'token.issue',
            outcome: 'success',
            actors: [
              { kind: 'human', id: 'alice@example.com' },
              { kind: 'agent', id: 'a1' },
            ],
            mode: 'delegated',
          },
          new Date('2026-03-01T00:00:00Z'),
        )
      })
      const all = await audit.read(database.db, { limit: 1000 })
      const seqs = all.map((e) => e.seq)
      assert.deepEqual(
        seqs,
        seqs.map((_, i) => i + 1),
        'sequence numbers are contiguous from 1',
      )
      // LIKE wildcards in ids must match literally.
      assert.deepEqual(
        (await audit.read(database.db, { limit: 10, principal: 'agent:a_b' })).map((e) => e.type),
        ['admin.agent.create'],
      )
      assert.deepEqual(
        (await audit.read(database.db, { limit: 10, type: 'admin.agent.' })).map((e) => e.type),
        ['admin.agent.create', 'admin.agent.update'],
      )
      assert.deepEqual(
        (
          await audit.read(database.db, {
            limit: 10,
            since: '2026-02-01T00:00:00.000Z',
            until: '2026-03-01T00:00:00.000Z',
          })
        ).map((e) => e.type),
        ['admin.agent.update'],
      )
      const delegated = (await audit.read(database.db, { limit: 10, principal: 'agent:a1' }))[0]
      assert.deepEqual(
        delegated?.actors,
        [
          { kind: 'human', id: 'alice@example.com' },
          { kind: 'agent', id: 'a1' },
        ],
        'the actor chain keeps its order',
      )
      assert.deepEqual(await audit.verify(database.db), {
        ok: true,
        records: all.length,
        headSeq: all.length,
        breaks: [],
        breakCount: 0,
        incidents: 0,
      })
    })

    it('keeps one unbroken chain under concurrent writers in this process and another', async () => {
      const before = (await audit.verify(database.db)).records
      const worker = run(process.execPath, [
        '--import',
        'tsx',
        join(import.meta.dirname, 'append-worker.ts'),
        JSON.stringify(location),
        chainKey.toString('hex'),
        '40',
      ])
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          database.transact((tx) =>
            audit.append(
              tx,
              {
                type: 'test.parent',
                outcome: 'success',
                actors: [{ kind: 'system', id: 'parent' }],
                details: { i },
              },
              new Date(),
            ),
          ),
        ),
      )
      assert.match((await worker).stdout, /done/)
      const verification = await audit.verify(database.db)
      assert.equal(verification.ok, true, JSON.stringify(verification.firstBreak))
      assert.equal(verification.records, before + 80)
      assert.equal((await audit.read(database.db, { limit: 1000, type: 'test.worker' })).length, 40)
    })

    it('verifies a live log: records appended during the walk are left to the next verification', async () => {
      const appends = Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          database.transact((tx) =>
            audit.append(
              tx,
              {
                type: 'test.live',
                outcome: 'success',
                actors: [{ kind: 'system', id: 'live' }],
                details: { i },
              },
              new Date(),
            ),
          ),
        ),
      )
      const verification = await audit.verify(database.db, { pageSize: 1 })
      await appends
      assert.equal(verification.ok, true, JSON.stringify(verification.firstBreak))
    })

    it('detects a deleted tail even when the head is moved back to the new last record', async () => {
      const last = (await audit.read(database.db, { limit: 1000 })).at(-1)
      assert.ok(last)
      const previous = (await audit.read(database.db, { afterSeq: last.seq - 2, limit: 1 }))[0]
      assert.ok(previous)
      const head = await database.db.selectFrom('audit_head').selectAll().executeTakeFirstOrThrow()
      const raw = await database.db
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '=', last.seq)
        .executeTakeFirstOrThrow()
      await database.db.deleteFrom('audit_events').where('seq', '=', last.seq).execute()
      await database.db
        .updateTable('audit_head')
        .set({ seq: previous.seq, hash: previous.hash })
        .where('id', '=', 1)
        .execute()
      const verification = await audit.verify(database.db)
      assert.equal(verification.firstBreak?.problem, 'head_altered')
      // Restore, for the tests that follow.
      await database.db.insertInto('audit_events').values(raw).execute()
      await database.db
        .updateTable('audit_head')
        .set({ seq: head.seq, hash: head.hash, mac: head.mac })
        .where('id', '=', 1)
        .execute()
      assert.equal((await audit.verify(database.db)).ok, true)
    })

    it('group-commits concurrent standalone records into one unbroken chain, each caller answered after its commit', async () => {
      const batcher = new AuditBatcher(database, audit)
      const before = (await audit.verify(database.db)).records
      const events = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          batcher.record({
            type: 'test.batch',
            outcome: 'success',
            actors: [{ kind: 'system', id: 'batch' }],
            details: { i },
          }),
        ),
      )
      const seqs = events.map((e) => e.seq).sort((a, b) => a - b)
      assert.deepEqual(
        seqs,
        seqs.map((_, i) => (seqs[0] ?? 0) + i),
        'contiguous sequence numbers',
      )
      assert.equal(new Set(events.map((e) => e.id)).size, 300)
      const stored = await audit.read(database.db, { limit: 1000, type: 'test.batch' })
      assert.equal(stored.length, 300)
      assert.equal((await audit.verify(database.db)).records, before + 300)
    })

    it('lets exactly one of several concurrent creators of one id win', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, () =>
          database.transact((tx) => stores.humans.insert(tx, human('dave@example.com'), now())),
        ),
      )
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
      assert.ok(
        results
          .filter((r) => r.status === 'rejected')
          .every((r) => (r as PromiseRejectedResult).reason instanceof Conflict),
      )
    })

    it('stores signing keys and schedules their removal', async () => {
      const keys = new SigningKeyStore()
      const row = (kid: string, activates: string) => ({
        kid,
        alg: 'ES256',
        public_jwk: '{}',
        private_jwk_sealed: 'v1.x.y.z',
        created_at: activates,
        activates_at: activates,
        publish_until: null,
      })
      await database.transact(async (tx) => {
        await keys.insert(tx, row('k1', '2026-01-01T00:00:00.000Z'))
        await keys.insert(tx, row('k2', '2026-02-01T00:00:00.000Z'))
      })
      assert.deepEqual(
        await database.transact((tx) => keys.schedulePublishedUntil(tx, 'k2', '2026-03-01T00:00:00.000Z')),
        ['k1'],
      )
      assert.deepEqual(
        (await keys.list(database.db)).map((k) => [k.kid, k.publish_until]),
        [
          ['k1', '2026-03-01T00:00:00.000Z'],
          ['k2', null],
        ],
      )
      assert.deepEqual(
        await database.transact((tx) => keys.deleteUnpublished(tx, '2026-02-15T00:00:00.000Z')),
        [],
      )
      assert.deepEqual(
        await database.transact((tx) => keys.deleteUnpublished(tx, '2026-03-01T00:00:00.000Z')),
        ['k1'],
      )
    })

    it('finds live admin tokens by hash only', async () => {
      const tokens = new AdminTokenStore()
      await database.transact((tx) =>
        tokens.insert(tx, {
          id: 't1',
          name: 'ci',
          token_hash: 'h1',
          role: 'admin',
          created_at: now(),
          revoked_at: null,
        }),
      )
      await database.transact((tx) =>
        tokens.insert(tx, {
          id: 't2',
          name: 'old',
          token_hash: 'h2',
          role: 'admin',
          created_at: now(),
          revoked_at: now(),
        }),
      )
      assert.equal((await tokens.findByHash(database.db, 'h1'))?.id, 't1')
      assert.equal(await tokens.findByHash(database.db, 'h2'), undefined, 'a revoked token is not found')
      assert.equal(await tokens.count(database.db), 2)
    })

    it('spends a mandate budget with one guarded update: concurrent spends through group commit never overrun it', async () => {
      const mandates = new MandateStore()
      const mandate: Mandate = {
        id: `mdt_${randomBytes(16).toString('base64url')}`,
        human: 'alice@example.com',
        agent: 'a1',
        actions: ['crm:read'],
        resource_servers: ['crm'],
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
        budget: { calls: 4, sum: { argument: 'amount', limit: 10 }, period: 'total' },
        source: 'admin',
        status: 'active',
        created_at: now(),
        created_by: 'system:test',
      }
      await database.transact((tx) => mandates.insert(tx, mandate, Date.now() + 3600_000))
      const batcher = new AuditBatcher(database, audit, {
        handlers: { 'mandate.spend': spendHandler(mandates) },
      })
      const spend = (amount: number) =>
        batcher.record({ type: 'test.spend', outcome: 'success', actors: [{ kind: 'system', id: 't' }] }, [
          spendStep(mandate, amount),
        ])
      const results = await Promise.allSettled(Array.from({ length: 12 }, () => spend(2)))
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 4)
      assert.deepEqual(await mandates.use(database.db, mandate.id, 'total'), {
        period: 'total',
        calls: 4,
        sum: 8,
      })
      // The sum limit holds too, exactly up to it; a revoked mandate spends nothing.
      const exact = { mandateId: mandate.id, period: 'total', now: Date.now(), maxAmount: 10 }
      assert.equal(await database.transact((tx) => mandates.spend(tx, { ...exact, amount: 2.5 })), false)
      assert.equal(await database.transact((tx) => mandates.spend(tx, { ...exact, amount: 2 })), true)
      await database.transact((tx) => mandates.update(tx, { ...mandate, status: 'revoked' }))
      assert.equal(
        await database.transact((tx) => mandates.spend(tx, { ...exact, amount: 0, maxAmount: 100 })),
        false,
      )
    })
    it('answers ping while open', async () => {
      assert.equal(await database.ping(), true)
    })
  })
}

// Issue 8: emails became unique (ignoring case) in 0005-human-identities. Stores whose humans already share an email
// migrate all the same and report the duplicates; an IdP subject names at most one human.
for (const kind of storeKinds) {
  describe(`human identities and emails on ${kind.name}, issue 8`, () => {
    let store: TestStore
    let location: StoreLocation
    let database: Database
    const stores = createRegistryStores()
    const row = (id: string, email: string) => ({
      id,
      doc: JSON.stringify({ id, email, status: 'active' }),
      version: 1,
      created_at: now(),
      updated_at: now(),
      status: 'active',
    })

    before(async () => {
      store = kind.create()
      location = storeLocation({
        dataDir: String(store.settings.dataDir),
        databaseUrl: store.settings.databaseUrl as string | undefined,
        databaseSchema: store.settings.databaseSchema as string | undefined,
      })
      database = await openDatabase(location)
    })
    after(async () => {
      await database.close()
      await store.drop()
    })

    it('migrates a store whose humans share an email in different cases, and reports them instead of failing', async () => {
      // The schema as it was before 0004 and 0005: the first three migrations only.
      const schema = location.dialect === 'postgres' ? location.schema : undefined
      const before = new Migrator({
        db: database.db,
        provider: {
          getMigrations: async () => ({
            '0001-registry-keys-audit': m0001,
            '0002-token-service': m0002,
            '0003-policies': m0003,
          }),
        },
        ...(schema ? { migrationTableSchema: schema } : {}),
      })
      const { error } = await before.migrateToLatest()
      assert.equal(error, undefined)
      // biome-ignore lint/suspicious/noExplicitAny: rows as the old schema had them, without today's columns
      const old = database.db as unknown as Kysely<any>
      await old
        .insertInto('humans')
        .values([
          row('pat', 'pat@example.com'),
          row('patricia', 'PAT@Example.com'),
          row('quinn', 'quinn@example.com'),
        ])
        .execute()

      // Later migrations follow the two this test is about.
      assert.deepEqual((await database.migrate()).slice(0, 2), [
        '0004-audit-integrity',
        '0005-human-identities',
      ])
      assert.deepEqual(await stores.humans.sharedEmails(database.db), [
        { email: 'pat@example.com', humans: ['pat', 'patricia'] },
      ])
      assert.deepEqual(await stores.humans.withEmail(database.db, 'Pat@example.COM'), ['pat', 'patricia'])
      assert.deepEqual(await stores.humans.withEmail(database.db, 'QUINN@example.com'), ['quinn'])
    })

    it('binds an issuer and subject to one human at most: a second binding of the pair is a unique violation', async () => {
      const identity = { issuer: 'https://idp.example.com', subject: 'u-1' }
      await database.transact((tx) =>
        stores.humans.indexIdentities(tx, { id: 'pat', status: 'active', identities: [identity] }),
      )
      assert.equal(await stores.humans.boundTo(database.db, identity.issuer, identity.subject), 'pat')
      assert.deepEqual(await stores.humans.boundAt(database.db, identity.issuer), ['pat'])
      await assert.rejects(
        database.transact((tx) =>
          stores.humans.indexIdentities(tx, { id: 'quinn', status: 'active', identities: [identity] }),
        ),
        (error) => isUniqueViolation(error),
      )
      assert.equal(await stores.humans.boundTo(database.db, identity.issuer, 'u-2'), undefined)
    })
  })
}
