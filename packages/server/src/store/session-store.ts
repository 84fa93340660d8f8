// Storage of browser sessions, by the SHA-256 of their ids.
import type { Executor } from './database.ts'
import type { BrowserSessionRow } from './tables.ts'

/** The browser sessions table. */
export class SessionStore {
  async insert(ex: Executor, row: BrowserSessionRow): Promise<void> {
    await ex.insertInto('browser_sessions').values(row).execute()
  }

  async find(ex: Executor, idHash: string): Promise<BrowserSessionRow | undefined> {
    return ex.selectFrom('browser_sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst()
  }

  /** Records a use; never moves `last_seen_at` back (another node may have recorded a later one). */
  async touch(ex: Executor, idHash: string, at: string): Promise<void> {
    await ex
      .updateTable('browser_sessions')
      .set({ last_seen_at: at })
      .where('id_hash', '=', idHash)
      .where('last_seen_at', '<', at)
      .execute()
  }

  /** Deletes a session; answers whether it existed. */
  async delete(ex: Executor, idHash: string): Promise<BrowserSessionRow | undefined> {
    const row = await this.find(ex, idHash)
    if (row) await ex.deleteFrom('browser_sessions').where('id_hash', '=', idHash).execute()
    return row
  }

  /** Deletes every session of a human (deactivated, or logged out everywhere); answers how many. */
  async deleteOfHuman(ex: Executor, humanId: string): Promise<number> {
    const result = await ex.deleteFrom('browser_sessions').where('human_id', '=', humanId).executeTakeFirst()
    return Number(result.numDeletedRows)
  }

  /** Deletes sessions past their absolute end or idle since before `idleBefore`. */
  async purge(ex: Executor, now: string, idleBefore: string): Promise<void> {
    await ex
      .deleteFrom('browser_sessions')
      .where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', idleBefore)]))
      .execute()
  }
}
