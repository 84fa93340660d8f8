// Policy decision point: Cedar policy sets (with every saved version kept), the entity types admins declare, and the
// application entities (users, records, routes...) that AuthZEN requests name.
import type { Kysely } from 'kysely'

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the database as it was, not today's typed schema
export async function up(db: Kysely<any>): Promise<void> {
  const registryTable = (name: string) =>
    db.schema
      .createTable(name)
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('doc', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())

  await registryTable('policies')
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .execute()
  // Every saved version of a policy set, so that a decision can be traced to the exact text that made it.
  await db.schema
    .createTable('policy_versions')
    .addColumn('policy_id', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('doc', 'text', (c) => c.notNull())
    .addColumn('saved_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('policy_versions_pk', ['policy_id', 'version'])
    .execute()
  await registryTable('entity_types').execute()
  // Entities are listed by type when a search enumerates candidates.
  await registryTable('entities')
    .addColumn('type', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('entities_type').on('entities').columns(['type', 'id']).execute()
}
