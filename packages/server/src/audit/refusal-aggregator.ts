// Unauthenticated refusals, aggregated: anyone can send junk, and junk must not fill the log. Per source and window,
// the first refusal is recorded in full; the rest are counted and recorded as one record when the window closes.
import type { AuditEventInput } from './event.ts'

export interface RefusalAggregatorOptions {
  /** Where records go (the group-committing batcher). */
  recorder: { record(input: AuditEventInput): Promise<unknown> }
  /** Length of a window per source. */
  windowMs: number
  /** Sources tracked at once; beyond it, further sources share one bucket (`*`). */
  maxSources?: number
  now: () => number
  /** A count that could not be recorded (the database down): reported, never thrown at a caller. */
  onError: (error: unknown) => void
}

interface Window {
  start: number
  type: string
  count: number
  /** Refusals counted in this window, by error code. */
  errors: Map<string, number>
}

const DEFAULT_MAX_SOURCES = 10_000

/** Counts refusals per source, writing the first of each window in full and the rest as one counted record. */
export class RefusalAggregator {
  private readonly windows = new Map<string, Window>()
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly options: RefusalAggregatorOptions) {}

  /**
   * Records a refusal from `source`. The first of its window resolves once durable; later ones resolve at once, and
   * are recorded together when the window closes.
   */
  async record(source: string, code: string, input: AuditEventInput): Promise<void> {
    const now = this.options.now()
    const max = this.options.maxSources ?? DEFAULT_MAX_SOURCES
    const key = this.windows.has(source) || this.windows.size < max ? source : '*'
    const open = this.windows.get(key)
    if (open && now < open.start + this.options.windowMs) {
      open.count++
      open.errors.set(code, (open.errors.get(code) ?? 0) + 1)
      return
    }
    if (open) this.close(key, open, now)
    this.windows.set(key, { start: now, type: input.type, count: 0, errors: new Map() })
    this.schedule()
    await this.options.recorder.record({
      ...input,
      details: { ...input.details, source: key, window_seconds: this.options.windowMs / 1000 },
    })
  }

  /** Records every open window's count now (at shutdown). */
  async flush(): Promise<void> {
    const now = this.options.now()
    await Promise.all([...this.windows].map(([key, window]) => this.close(key, window, now)))
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }

  // Windows close on the next refusal from their source, or on this timer: a quiet source's count is still written.
  private schedule(): void {
    if (this.timer) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      const now = this.options.now()
      for (const [key, window] of this.windows)
        if (now >= window.start + this.options.windowMs) void this.close(key, window, now)
      if (this.windows.size > 0) this.schedule()
    }, this.options.windowMs)
    this.timer.unref()
  }

  private async close(key: string, window: Window, now: number): Promise<void> {
    if (this.windows.get(key) === window) this.windows.delete(key)
    if (window.count === 0) return
    await this.options.recorder
      .record({
        type: window.type,
        outcome: 'failure',
        actors: [],
        reason: `${window.count} more refusals from ${key} in this window`,
        details: {
          aggregated: true,
          source: key,
          count: window.count,
          errors: Object.fromEntries(window.errors),
          window_start: new Date(window.start).toISOString(),
          window_end: new Date(Math.max(now, window.start)).toISOString(),
        },
      })
      .catch((error: unknown) => this.options.onError(error))
  }
}
