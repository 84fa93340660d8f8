// Rate limit on failed authentication, per source address: a token bucket that only failures drain, so a source whose
// requests succeed is never slowed, and one that keeps failing is answered 429 with Retry-After before any work.
import { isIP } from 'node:net'

export interface FailureLimiterOptions {
  /** Failures a source may have in a burst before it is limited; 0 turns the limit off. */
  burst: number
  /** Failures per second a limited source earns back. */
  refillPerSecond: number
  /** Sources remembered at once; the longest-quiet ones are forgotten first. */
  maxSources?: number
  now: () => number
}

interface Bucket {
  tokens: number
  at: number
}

const DEFAULT_MAX_SOURCES = 50_000

/**
 * The source a request's failures count against: an IPv4 address, or the /64 an IPv6 address belongs to (one host
 * commonly holds a whole /64, and would otherwise get a fresh budget per address).
 */
export function failureSource(address: string): string {
  if (isIP(address) !== 6) return address
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)
  if (mapped?.[1]) return mapped[1]
  const [head = '', tail] = address.toLowerCase().split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}

/** Per-source failure budget. One per node; sources are what `failureSource` makes of the addresses the node sees. */
export class FailureLimiter {
  private readonly buckets = new Map<string, Bucket>()

  constructor(private readonly options: FailureLimiterOptions) {}

  /** Seconds until `address` may be served again; 0 when it may be now. */
  retryAfter(address: string): number {
    if (this.options.burst <= 0) return 0
    const bucket = this.refill(failureSource(address))
    if (!bucket || bucket.tokens >= 1) return 0
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.options.refillPerSecond))
  }

  /** Counts one failure against `address`. */
  fail(address: string): void {
    if (this.options.burst <= 0) return
    const source = failureSource(address)
    const bucket = this.refill(source) ?? { tokens: this.options.burst, at: this.options.now() }
    bucket.tokens = Math.max(0, bucket.tokens - 1)
    // Map order is insertion order: re-inserting keeps the most recently failing sources at the end.
    this.buckets.delete(source)
    this.buckets.set(source, bucket)
    const max = this.options.maxSources ?? DEFAULT_MAX_SOURCES
    while (this.buckets.size > max) this.buckets.delete(this.buckets.keys().next().value as string)
  }

  private refill(source: string): Bucket | undefined {
    const bucket = this.buckets.get(source)
    if (!bucket) return undefined
    const now = this.options.now()
    bucket.tokens = Math.min(
      this.options.burst,
      bucket.tokens + ((now - bucket.at) / 1000) * this.options.refillPerSecond,
    )
    bucket.at = now
    if (bucket.tokens >= this.options.burst) {
      this.buckets.delete(source)
      return undefined
    }
    return bucket
  }
}
