// Admin bearer tokens: only their SHA-256 hashes are stored. A version row in `meta` moves on every revocation, so that
// nodes caching the tokens they have seen know when to forget them.
import { randomUUID } from 'node:crypto'
import type { Executor } from './database.ts'
import type { AdminTokenRow } from './tables.ts'

const VERSION_KEY = 'admin_tokens_version'

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

  /** Revokes a live token; answers whether it was live. Moves the version other nodes poll. */
  async revoke(ex: Executor, id: string, at: string): Promise<boolean> {
    const result = await ex
      .updateTable('admin_tokens')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
    if (Number(result.numUpdatedRows) !== 1) return false
    const version = randomUUID()
    await ex
      .insertInto('meta')
      .values({ key: VERSION_KEY, value: version })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: version }))
      .execute()
    return true
  }

  /** The revocation version: changes whenever a token is revoked (empty before the first revocation). */
  async version(ex: Executor): Promise<string> {
    const row = await ex.selectFrom('meta').select('value').where('key', '=', VERSION_KEY).executeTakeFirst()
    return row?.value ?? ''
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
