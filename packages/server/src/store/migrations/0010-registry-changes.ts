// The registry's change feed: one row per registry object a write transaction changed (cascades included), written in
// that transaction, so that every node applies exactly what changed instead of reloading the whole registry. Old rows
// are pruned; `registry_changes_pruned` in `meta` is the highest sequence pruned, so that a node whose position is older
// knows it missed changes and reloads everything.
import { type Kysely, SqliteAdapter } from 'kysely'

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the database as it was, not today's typed schema
export async function up(db: Kysely<any>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter
  await db.schema
    .createTable('registry_changes')
    // AUTOINCREMENT on SQLite: a plain rowid would reuse sequences once the newest rows were pruned.
    .addColumn('seq', sqlite ? 'integer' : 'bigserial', (c) =>
      sqlite ? c.primaryKey().autoIncrement() : c.primaryKey(),
    )
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('object_id', 'text', (c) => c.notNull())
    .addColumn('op', 'text', (c) => c.notNull())
    .execute()
  await db
    .insertInto('meta')
    .values({ key: 'registry_changes_pruned', value: '0' })
    .onConflict((oc) => oc.doNothing())
    .execute()
}
