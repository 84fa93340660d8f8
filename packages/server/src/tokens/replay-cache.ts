// One-time values shared by every node: a client assertion's or DPoP proof's jti may be used once, cluster-wide.
import type { Database } from '../store/database.ts'

/** Remembers one-time values in the shared store until they expire. */
export class ReplayCache {
  constructor(
    private readonly database: Database,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Claims `value` in `namespace` until `expiresAt` (epoch ms). Answers true for the first claim and false for every
   * later one, on any node: the primary key decides races, so exactly one of concurrent claimers wins.
   */
  async claim(namespace: string, value: string, expiresAt: number): Promise<boolean> {
    const result = await this.database.db
      .insertInto('replay_entries')
      .values({ namespace, value, expires_at: expiresAt })
      .onConflict((oc) => oc.columns(['namespace', 'value']).doNothing())
      .executeTakeFirst()
    if (Number(result.numInsertedOrUpdatedRows ?? 0n) === 1) return true
    // An expired entry not yet purged does not block a new claim.
    const removed = await this.database.db
      .deleteFrom('replay_entries')
      .where('namespace', '=', namespace)
      .where('value', '=', value)
      .where('expires_at', '<=', this.now())
      .executeTakeFirst()
    return Number(removed.numDeletedRows) === 1 ? this.claim(namespace, value, expiresAt) : false
  }

  /** Deletes expired entries; returns how many. */
  async purge(): Promise<number> {
    const result = await this.database.db
      .deleteFrom('replay_entries')
      .where('expires_at', '<=', this.now())
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  }
}
