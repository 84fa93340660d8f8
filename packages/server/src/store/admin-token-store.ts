// Admin bearer tokens: only their SHA-256 hashes are stored.
import type { Executor } from './database.ts'
import type { AdminTokenRow } from './tables.ts'

/** The admin tokens table. */
export class AdminTokenStore {
  /** The live token with this hash, if any. */
  async findByHash(ex: Executor, hash: string): Promise<AdminTokenRow | undefined> {
    return ex
      .selectFrom('admin_tokens')
      .selectAll()
      .where('token_hash', '=', hash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
  }

  /** Adds a token. */
  async insert(ex: Executor, row: AdminTokenRow): Promise<void> {
    await ex.insertInto('admin_tokens').values(row).execute()
  }

  /** How many tokens exist (revoked included). */
  async count(ex: Executor): Promise<number> {
    const row = await ex
      .selectFrom('admin_tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow()
    return Number(row.n)
  }
}
