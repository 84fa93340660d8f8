// Mandates: a human's grant of authority to an agent, stored as a document with the columns lists filter on and the
// guard needs (status, expiry), and its use per budget period in a row of its own, so that spending is one guarded
// UPDATE that concurrent nodes cannot overrun.
import type { Kysely } from 'kysely'

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the database as it was, not today's typed schema
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('mandates')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('doc', 'text', (c) => c.notNull())
    .addColumn('human_id', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    // Epoch milliseconds: compared with the clock inside the spend guard.
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('mandates_human').on('mandates').columns(['human_id', 'status']).execute()
  await db.schema.createIndex('mandates_agent').on('mandates').columns(['agent_id', 'status']).execute()

  // One row per mandate and budget period (`total` for a budget without one, else the period's first day in UTC).
  await db.schema
    .createTable('mandate_usage')
    .addColumn('mandate_id', 'text', (c) => c.notNull().references('mandates.id'))
    .addColumn('period', 'text', (c) => c.notNull())
    .addColumn('calls', 'bigint', (c) => c.notNull())
    .addColumn('amount', 'double precision', (c) => c.notNull())
    .addPrimaryKeyConstraint('mandate_usage_pk', ['mandate_id', 'period'])
    .execute()
}
