// Humans bound to the IdPs that may assert them: one row per (issuer, subject), and each human's email in lower case
// for the case-insensitive uniqueness check. Humans that already share an email are kept (and reported at start-up),
// so the index on it is not unique; the registry refuses any new duplicate.
import type { Kysely } from 'kysely'

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the database as it was, not today's typed schema
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('human_identities')
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('human_id', 'text', (c) => c.notNull().references('humans.id'))
    .addPrimaryKeyConstraint('human_identities_pk', ['issuer', 'subject'])
    .execute()
  await db.schema.createIndex('human_identities_human').on('human_identities').column('human_id').execute()

  await db.schema.alterTable('humans').addColumn('email_key', 'text').execute()
  // Emails are compared with ASCII letters folded and nothing else (registry/email-key.ts), done here as the registry
  // does it (PostgreSQL's lower() would fold other letters too).
  const rows: Array<{ id: string; doc: string }> = await db
    .selectFrom('humans')
    .select(['id', 'doc'])
    .execute()
  for (const row of rows) {
    const email = (JSON.parse(row.doc) as { email?: unknown }).email
    if (typeof email !== 'string') continue
    await db
      .updateTable('humans')
      .set({ email_key: email.replace(/[A-Z]+/g, (letters) => letters.toLowerCase()) })
      .where('id', '=', row.id)
      .execute()
  }
  await db.schema.createIndex('humans_email_key').on('humans').column('email_key').execute()
}
