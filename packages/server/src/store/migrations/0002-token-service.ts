// Token service: resource servers, the replay cache shared by all nodes, and durable revocations.
import type { Kysely } from 'kysely'

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the database as it was, not today's typed schema
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('resource_servers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('doc', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('audience', 'text', (c) => c.notNull().unique())
    .execute()

  // One-time values (assertion and DPoP proof jti): the primary key makes the first claim win on every node.
  await db.schema
    .createTable('replay_entries')
    .addColumn('namespace', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('replay_entries_pk', ['namespace', 'value'])
    .execute()
  await db.schema.createIndex('replay_entries_expiry').on('replay_entries').column('expires_at').execute()

  // A revoked token by jti, or every token of a principal issued before a time.
  await db.schema
    .createTable('revocations')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('revoked_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('reason', 'text')
    .execute()
  await db.schema.createIndex('revocations_revoked_at').on('revocations').column('revoked_at').execute()

  await db
    .insertInto('meta')
    .values({ key: 'registry_version', value: '0' })
    .onConflict((oc) => oc.doNothing())
    .execute()
}
