// The DPoP proofs a resource server has already accepted (RFC 9449 §11.1), so that none is accepted twice: in this
// process by default, or in a store every instance of the resource server shares.

/**
 * Where accepted proofs are remembered. Give every instance of a resource server behind one load balancer the same
 * store (e.g. one backed by Redis `SET key 1 NX PXAT expiresAt`); the default remembers them in the process only.
 * @example
 * const replay: DpopReplayStore = {
 *   claim: async (key, expiresAt) => (await redis.set(`dpop:${key}`, '1', { NX: true, PXAT: expiresAt })) === 'OK',
 * }
 */
export interface DpopReplayStore {
  /**
   * Records `key` until `expiresAt` (epoch milliseconds). True when it was not recorded yet (the proof is fresh),
   * false when it was (a replay). Must be atomic: of two concurrent claims of one key, one gets false.
   */
  claim(key: string, expiresAt: number): boolean | Promise<boolean>
}

/**
 * Remembers proofs in this process, each until its `iat` leaves the acceptance window. Bounded: when `maxEntries`
 * proofs are remembered and none has expired, further proofs are refused (fail closed) rather than forgotten.
 * @example
 * const issuer = new MandateIssuer('https://mandate.example.com', { dpopReplay: new MemoryDpopReplayStore(200_000) })
 */
export class MemoryDpopReplayStore implements DpopReplayStore {
  readonly #seen = new Map<string, number>()
  readonly #maxEntries: number
  readonly #now: () => number
  #lastSweep = 0

  /**
   * @param maxEntries How many proofs may be remembered at once. Default 1,000,000: with the default 90-second
   * window, about 5,000 requests with a DPoP proof per second.
   * @param now The clock, in epoch milliseconds. Default `Date.now`.
   */
  constructor(maxEntries = 1_000_000, now: () => number = Date.now) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new TypeError('maxEntries must be a positive integer')
    this.#maxEntries = maxEntries
    this.#now = now
  }

  /**
   * Records `key` until `expiresAt`; false when it is already recorded, or when the store is full.
   * @example
   * store.claim('jkt:jti', Date.now() + 90_000) // true the first time, false after
   */
  claim(key: string, expiresAt: number): boolean {
    const now = this.#now()
    const seen = this.#seen.get(key)
    if (seen !== undefined && seen > now) return false
    this.#forgetExpired(now)
    if (this.#seen.size >= this.#maxEntries) return false
    this.#seen.delete(key)
    this.#seen.set(key, expiresAt)
    return true
  }

  // Entries are kept in insertion order, which is close to expiry order: dropping expired ones from the front is
  // cheap. A full sweep is needed only when the store is full, and runs at most once a second so that a flood of
  // proofs cannot make every claim walk the whole store.
  #forgetExpired(now: number): void {
    for (const [key, expiresAt] of this.#seen) {
      if (expiresAt > now) break
      this.#seen.delete(key)
    }
    if (this.#seen.size >= this.#maxEntries && now - this.#lastSweep >= 1000) {
      this.#lastSweep = now
      for (const [key, expiresAt] of this.#seen) if (expiresAt <= now) this.#seen.delete(key)
    }
  }
}
