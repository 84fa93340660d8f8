// Audit integrity: an event's subjects are stored as the JSON list that was hashed (ids may hold spaces), and the chain
// head gains an epoch that only a recorded recovery advances.
import type { Kysely } from 'kysely'

const PAGE = 1000

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the database as it was, not today's typed schema
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('audit_events').addColumn('subjects', 'text').execute()
  // Earlier records stored their subjects space-joined; ids without spaces (all that could round-trip) split back
  // exactly, so their hashes still verify.
  let after = 0
  for (;;) {
    const rows: Array<{ seq: number | string; subject_ids: string }> = await db
      .selectFrom('audit_events')
      .select(['seq', 'subject_ids'])
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(PAGE)
      .execute()
    for (const row of rows) {
      const list = row.subject_ids.trim() === '' ? [] : row.subject_ids.trim().split(' ')
      await db
        .updateTable('audit_events')
        .set({ subjects: JSON.stringify(list) })
        .where('seq', '=', row.seq)
        .execute()
    }
    if (rows.length < PAGE) break
    after = Number(rows.at(-1)?.seq)
  }
  await db.schema.alterTable('audit_events').dropColumn('subject_ids').execute()
  await db.schema
    .alterTable('audit_head')
    .addColumn('epoch', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
}
