// A mandate's limits read at a moment: which budget period it is in (UTC), whether a time window is open, and how
// much of a sum budget a request spends.
import type { Budget, TimeWindow } from './model.ts'

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const

/**
 * The budget period `now` falls in: `total`, or the first day of the UTC day, ISO week (Monday) or month.
 * @example
 * periodOf('week', new Date('2026-12-03T10:00:00Z')) // '2026-11-30'
 */
export function periodOf(period: Budget['period'], now: Date): string {
  if (period === 'total') return 'total'
  const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()))
  if (period === 'week') day.setUTCDate(day.getUTCDate() - ((day.getUTCDay() + 6) % 7))
  if (period === 'month') day.setUTCDate(1)
  return day.toISOString().slice(0, 10)
}

/** Whether `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return true
  } catch {
    return false
  }
}

/**
 * Whether `now` lies in one of the windows (no windows: always). A window holds from `start` (inclusive) to `end`
 * (exclusive) on its weekdays, read in its time zone; an unknown zone never matches (fail closed).
 */
export function withinWindows(windows: readonly TimeWindow[] | undefined, now: Date): boolean {
  if (!windows) return true
  return windows.some((window) => {
    if (!isTimeZone(window.time_zone)) return false
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone: window.time_zone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).formatToParts(now)
    const part = (type: string) => parts.find((p) => p.type === type)?.value ?? ''
    const day = part('weekday').toLowerCase() as (typeof DAYS)[number]
    const time = `${part('hour')}:${part('minute')}`
    return (window.days as readonly string[]).includes(day) && window.start <= time && time < window.end
  })
}

/**
 * What a request spends of a sum budget: the sum of the budget's argument over its `authorization_details`.
 * Undefined when a detail lacks it or holds something other than a non-negative finite number: the request cannot be
 * counted, so it is refused (a request that names no amount must not escape the budget).
 */
export function amountOf(
  argument: string,
  details: ReadonlyArray<Record<string, unknown>>,
): number | undefined {
  if (details.length === 0) return undefined
  let total = 0
  for (const detail of details) {
    const value = detail[argument]
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return undefined
    total += value
  }
  return total
}
