// Browser sessions of humans logged in through an IdP: only a hash of the session id is stored, so that a copy of the
// table opens no session.
import type { Kysely } from 'kysely'

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the database as it was, not today's typed schema
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('browser_sessions')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('human_id', 'text', (c) => c.notNull())
    .addColumn('issuer_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_seen_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('browser_sessions_human').on('browser_sessions').column('human_id').execute()
  await db.schema
    .createIndex('browser_sessions_expires')
    .on('browser_sessions')
    .column('expires_at')
    .execute()
}
