// The authorization code flow: authorization requests (pushed with PAR, or waiting for the human's consent),
// authorization codes, and refresh tokens in rotation families. Codes, request URIs and refresh tokens are stored only
// as SHA-256 hashes; each is spent once by a conditional update (`used_at IS NULL`), so two nodes cannot both win.
import type { Kysely } from 'kysely'

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the database as it was, not today's typed schema
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('authorization_requests')
    .addColumn('hash', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('doc', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute()
  await db.schema
    .createIndex('authorization_requests_expiry')
    .on('authorization_requests')
    .column('expires_at')
    .execute()

  await db.schema
    .createTable('authorization_codes')
    .addColumn('hash', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('human_id', 'text', (c) => c.notNull())
    .addColumn('mandate_id', 'text', (c) => c.notNull())
    .addColumn('doc', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    // The refresh family the redemption started: a replayed code revokes it.
    .addColumn('family_id', 'text')
    .execute()
  await db.schema
    .createIndex('authorization_codes_expiry')
    .on('authorization_codes')
    .column('expires_at')
    .execute()

  // A rotation family: revoked as a whole. Its row may be written by the revocation first (a replay racing the
  // redemption that starts the family), so issuing into a family checks it here, in the issuance's transaction.
  await db.schema
    .createTable('refresh_families')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('revoked_at', 'bigint')
    .execute()

  await db.schema
    .createTable('refresh_tokens')
    .addColumn('hash', 'text', (c) => c.primaryKey())
    .addColumn('family_id', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('human_id', 'text', (c) => c.notNull())
    .addColumn('mandate_id', 'text', (c) => c.notNull())
    .addColumn('doc', 'text', (c) => c.notNull())
    // The access token issued with this refresh token: revoked with the family.
    .addColumn('access_jti', 'text', (c) => c.notNull())
    .addColumn('access_exp', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .execute()
  await db.schema.createIndex('refresh_tokens_family').on('refresh_tokens').column('family_id').execute()
  await db.schema.createIndex('refresh_tokens_mandate').on('refresh_tokens').column('mandate_id').execute()
}
