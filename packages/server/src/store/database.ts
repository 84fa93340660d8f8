// Opens the embedded SQLite store or PostgreSQL behind one Kysely interface, migrates it, and runs write transactions.
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, type Migration, Migrator, type SqliteDatabase, SqliteDialect, sql } from 'kysely'
import pg from 'pg'
import * as m0001 from './migrations/0001-registry-keys-audit.ts'
import * as m0002 from './migrations/0002-token-service.ts'
import * as m0003 from './migrations/0003-policies.ts'
import * as m0004 from './migrations/0004-audit-integrity.ts'
import * as m0005 from './migrations/0005-human-identities.ts'
import * as m0006 from './migrations/0006-mandates.ts'
import * as m0007 from './migrations/0007-sessions.ts'
import * as m0008 from './migrations/0008-authorization-codes.ts'
import * as m0009 from './migrations/0009-approvals.ts'
import * as m0010 from './migrations/0010-registry-changes.ts'
import { SchemaPostgresDialect } from './postgres-introspector.ts'
import type { Tables } from './tables.ts'

/** Numbered migrations, applied in name order. Never edit a released one; add the next. */
const migrations: Record<string, Migration> = {
  '0001-registry-keys-audit': m0001,
  '0002-token-service': m0002,
  '0003-policies': m0003,
  '0004-audit-integrity': m0004,
  '0005-human-identities': m0005,
  '0006-mandates': m0006,
  '0007-sessions': m0007,
  '0008-authorization-codes': m0008,
  '0009-approvals': m0009,
  '0010-registry-changes': m0010,
}

/** Where the data lives. */
export type StoreLocation =
  | {
      dialect: 'sqlite'
      file: string
      /** How long a write waits for another connection's write lock before failing (SQLITE_BUSY); 5 s by default. */
      busyTimeoutMs?: number
    }
  | { dialect: 'postgres'; url: string; schema?: string | undefined; poolSize?: number }

/** The executor a store method runs on: the database itself or an open transaction. */
export type Executor = Kysely<Tables>

/** A connection pool (PostgreSQL) or file handle (SQLite) with the operations every store needs. */
export interface Database {
  readonly dialect: 'sqlite' | 'postgres'
  readonly db: Kysely<Tables>
  /**
   * Runs `work` in one write transaction. Write transactions are serialized across every node: SQLite takes the write
   * lock up front (BEGIN IMMEDIATE) and PostgreSQL locks the audit chain head, so that the audit record written inside
   * extends the chain without races. A throw rolls everything back.
   */
  transact<T>(work: (tx: Executor) => Promise<T>): Promise<T>
  /** Applies pending migrations; returns the names applied. */
  migrate(): Promise<string[]>
  /** Answers whether the database responds. */
  ping(): Promise<boolean>
  close(): Promise<void>
}

/** Derives the store location from configuration: PostgreSQL when a URL is given, else `mandate.db` in the data dir. */
export function storeLocation(config: {
  databaseUrl?: string | undefined
  databaseSchema?: string | undefined
  dataDir: string
}): StoreLocation {
  if (config.databaseUrl)
    return { dialect: 'postgres', url: config.databaseUrl, schema: config.databaseSchema }
  return { dialect: 'sqlite', file: join(resolve(config.dataDir), 'mandate.db') }
}

/** Opens (and creates, for SQLite) the database. Call `migrate()` before use. */
export async function openDatabase(location: StoreLocation): Promise<Database> {
  return location.dialect === 'sqlite'
    ? openSqlite(location.file, location.busyTimeoutMs ?? 5000)
    : openPostgres(location)
}

function openSqlite(file: string, busyTimeoutMs: number): Database {
  if (file !== ':memory:') mkdirSync(resolve(file, '..'), { recursive: true })
  const handle = new SQLite(file)
  handle.pragma('journal_mode = WAL')
  handle.pragma('synchronous = FULL')
  handle.pragma('foreign_keys = ON')
  handle.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`)
  // Same LIKE semantics as PostgreSQL: ids are case-sensitive.
  handle.pragma('case_sensitive_like = ON')
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: withStatementCache(handle) }) })
  return {
    dialect: 'sqlite',
    db,
    transact: (work) => runTransaction(db, sql`begin immediate`, null, work),
    migrate: () => migrate(db),
    ping: () => ping(db),
    close: () => db.destroy(),
  }
}

/** How many distinct prepared statements a SQLite handle keeps; the oldest is dropped beyond it. */
const STATEMENT_CACHE_SIZE = 256

/**
 * Kysely prepares every query it runs; preparing costs more than running a small statement. The queries of the hot
 * paths repeat exactly (parameters are bound, not inlined), so their prepared statements are kept and reused.
 */
function withStatementCache(handle: SQLite.Database): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>()
  return {
    close: () => handle.close(),
    prepare(text) {
      let statement = cache.get(text)
      if (statement) {
        // Map order is insertion order: re-inserting marks the statement as recently used.
        cache.delete(text)
      } else {
        statement = handle.prepare(text)
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string)
      }
      cache.set(text, statement)
      return statement
    },
  }
}

async function openPostgres(location: Extract<StoreLocation, { dialect: 'postgres' }>): Promise<Database> {
  const schema = location.schema
  // The schema exists before any pooled session names it in its search_path: a session whose search_path named a
  // schema that did not exist yet was seen to fail in parallel workers ("schema does not exist") once it did.
  if (schema) await createSchema(location.url, schema)
  const pool = new pg.Pool({
    connectionString: location.url,
    max: location.poolSize ?? 10,
    connectionTimeoutMillis: 5000,
    // Mandate's queries are small and indexed: parallel plans buy nothing and add worker start-up to each one.
    options: `-c max_parallel_workers_per_gather=0${schema ? ` -c search_path=${schema}` : ''}`,
    // int8 (seq numbers) as JS numbers: they stay far below 2^53.
    types: {
      getTypeParser: (oid: number, format?: 'text' | 'binary') =>
        oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text'),
    },
  })
  // A broken idle connection must not crash the node; the next query reports the failure.
  pool.on('error', () => {})
  const db = new Kysely<Tables>({ dialect: new SchemaPostgresDialect({ pool }, schema) })
  return {
    dialect: 'postgres',
    db,
    transact: (work) =>
      runTransaction(db, sql`begin`, sql`select seq from audit_head where id = 1 for update`, work),
    migrate: () => migrate(db, schema),
    ping: () => ping(db),
    close: () => db.destroy(),
  }
}

// Several nodes may create the schema at once: the loser of that race finds it there, which is all it wanted.
async function createSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  client.on('error', () => {})
  await client.connect()
  try {
    await client.query(`create schema if not exists ${pg.escapeIdentifier(schema)}`)
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (code !== '23505' && code !== '42P06') throw error
  } finally {
    await client.end()
  }
}

async function ping(db: Kysely<Tables>): Promise<boolean> {
  try {
    await sql`select 1`.execute(db)
    return true
  } catch {
    return false
  }
}

async function runTransaction<T>(
  db: Kysely<Tables>,
  begin: ReturnType<typeof sql>,
  lock: ReturnType<typeof sql> | null,
  work: (tx: Executor) => Promise<T>,
): Promise<T> {
  return db.connection().execute(async (conn) => {
    await begin.execute(conn)
    try {
      if (lock) await lock.execute(conn)
      const result = await work(conn)
      await sql`commit`.execute(conn)
      return result
    } catch (error) {
      await sql`rollback`.execute(conn).catch(() => {})
      throw error
    }
  })
}

async function migrate(db: Kysely<Tables>, schema?: string): Promise<string[]> {
  // Name the schema: otherwise Kysely finds its bookkeeping tables in any schema of the database and skips ours.
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    ...(schema ? { migrationTableSchema: schema } : {}),
  })
  const { error, results } = await migrator.migrateToLatest()
  if (error) throw error
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}

/**
 * Whether an error means the database is not answering (connection refused, reset or closed, server shutting down),
 * as opposed to a bad query: such requests are answered 503 and may be retried.
 */
export function isUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  if (
    typeof code === 'string' &&
    ([
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'EPIPE',
      'ENOTFOUND',
      '57P01',
      '57P02',
      '57P03',
      '53300',
    ].includes(code) ||
      code.startsWith('08'))
  )
    return true
  return (
    typeof message === 'string' &&
    /pool after calling end|connection is not open|driver has already been destroyed|Connection terminated|timeout exceeded when trying to connect|SQLITE_BUSY/i.test(
      message,
    )
  )
}

/** Whether a driver error is a unique or primary-key violation (SQLite or PostgreSQL). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE'
}

/** Whether a driver error is a foreign-key violation (SQLite or PostgreSQL). */
export function isForeignKeyViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY'
}
