// First schema: registry, signing keys, admin tokens, the audit log and its chain head.
import { type Kysely, SqliteAdapter, sql } from 'kysely'

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the database as it was, not today's typed schema
export async function up(db: Kysely<any>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter
  const registry = (table: string) =>
    db.schema
      .createTable(table)
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('doc', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())

  await registry('humans')
    .addColumn('status', 'text', (c) => c.notNull())
    .execute()
  await registry('workloads')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .execute()
  await registry('agents')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('classification', 'text', (c) => c.notNull())
    .addColumn('sponsor', 'text', (c) => c.notNull().references('humans.id'))
    .addColumn('parent_id', 'text', (c) => c.references('agents.id'))
    .addColumn('expires_at', 'text')
    .execute()
  await db.schema.createIndex('agents_sponsor').on('agents').column('sponsor').execute()
  await db.schema.createIndex('agents_parent').on('agents').column('parent_id').execute()
  await registry('groups').execute()
  await db.schema
    .createTable('group_members')
    .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
    .addColumn('member_kind', 'text', (c) => c.notNull())
    .addColumn('member_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'member_kind', 'member_id'])
    .execute()
  await db.schema
    .createIndex('group_members_member')
    .on('group_members')
    .columns(['member_kind', 'member_id'])
    .execute()
  await registry('trusted_issuers')
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('private_jwk_sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('activates_at', 'text', (c) => c.notNull())
    .addColumn('publish_until', 'text')
    .execute()

  await db.schema
    .createTable('admin_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'text')
    .execute()

  await db.schema
    .createTable('audit_events')
    // On SQLite an INTEGER PRIMARY KEY is the rowid itself: one B-tree fewer to write per record.
    .addColumn('seq', sqlite ? 'integer' : 'bigint', (c) => c.primaryKey())
    // Random UUIDs: no index, nothing looks records up by id, and a random key would scatter every insert.
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('time', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('actors', 'text', (c) => c.notNull())
    .addColumn('subject_ids', 'text', (c) => c.notNull())
    .addColumn('mode', 'text')
    .addColumn('action', 'text')
    .addColumn('resource', 'text')
    .addColumn('reason', 'text')
    .addColumn('request_id', 'text')
    .addColumn('traceparent', 'text')
    .addColumn('details', 'text')
    .addColumn('prev_hash', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('audit_events_time').on('audit_events').column('time').execute()
  await db.schema.createIndex('audit_events_type').on('audit_events').column('type').execute()

  await db.schema
    .createTable('audit_head')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('mac', 'text', (c) => c.notNull())
    .execute()
  // The head's MAC needs the chain key, so the node sets it at first start (AuditLog.initialize).
  await sql`insert into audit_head (id, seq, hash, mac) values (1, 0, ${'0'.repeat(64)}, '')`.execute(db)

  await db.schema
    .createTable('meta')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute()
}
