// Storage of the signing key ring: public JWKs in clear, private JWKs sealed under the master key.
import type { Executor } from './database.ts'
import type { SigningKeyRow } from './tables.ts'

/** The signing keys table. */
export class SigningKeyStore {
  /** Every key, oldest activation first. */
  async list(ex: Executor): Promise<SigningKeyRow[]> {
    return ex.selectFrom('signing_keys').selectAll().orderBy('activates_at').orderBy('kid').execute()
  }

  /** Adds a key. */
  async insert(ex: Executor, row: SigningKeyRow): Promise<void> {
    await ex.insertInto('signing_keys').values(row).execute()
  }

  /** Sets when every key not yet scheduled for removal stops being published. */
  async schedulePublishedUntil(ex: Executor, except: string, until: string): Promise<string[]> {
    const rows = await ex
      .selectFrom('signing_keys')
      .select('kid')
      .where('publish_until', 'is', null)
      .where('kid', '!=', except)
      .execute()
    if (rows.length > 0)
      await ex
        .updateTable('signing_keys')
        .set({ publish_until: until })
        .where('publish_until', 'is', null)
        .where('kid', '!=', except)
        .execute()
    return rows.map((r) => r.kid)
  }

  /** Deletes keys that have not started signing at `now` (superseded before use), except `keep`; returns their ids. */
  async deletePending(ex: Executor, now: string, keep: string): Promise<string[]> {
    const rows = await ex
      .selectFrom('signing_keys')
      .select('kid')
      .where('activates_at', '>', now)
      .where('kid', '!=', keep)
      .execute()
    if (rows.length > 0)
      await ex.deleteFrom('signing_keys').where('activates_at', '>', now).where('kid', '!=', keep).execute()
    return rows.map((r) => r.kid)
  }

  /** Deletes keys no longer published at `now`; returns their ids. */
  async deleteUnpublished(ex: Executor, now: string): Promise<string[]> {
    const rows = await ex.selectFrom('signing_keys').select('kid').where('publish_until', '<=', now).execute()
    if (rows.length > 0) await ex.deleteFrom('signing_keys').where('publish_until', '<=', now).execute()
    return rows.map((r) => r.kid)
  }
}
