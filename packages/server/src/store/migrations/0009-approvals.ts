// Approval requests: one row per action a policy (or an agent's backchannel request) put before a human. The action
// itself is a JSON document whose SHA-256 over canonical JSON is stored beside it and checked when it is redeemed;
// the columns beside it are what lists filter on and what the one-time transitions compare.
import type { Kysely } from 'kysely'

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the database as it was, not today's typed schema
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('approvals')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('approver_kind', 'text', (c) => c.notNull())
    .addColumn('approver_id', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('action_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('interval_seconds', 'integer', (c) => c.notNull())
    .addColumn('last_poll_at', 'bigint')
    .addColumn('decided_by', 'text')
    .addColumn('decided_as', 'text')
    .addColumn('decided_at', 'bigint')
    .addColumn('reason', 'text')
    .addColumn('used_at', 'bigint')
    .execute()
  await db.schema.createIndex('approvals_state').on('approvals').columns(['state', 'created_at']).execute()
  await db.schema
    .createIndex('approvals_approver')
    .on('approvals')
    .columns(['approver_kind', 'approver_id', 'state'])
    .execute()
}
