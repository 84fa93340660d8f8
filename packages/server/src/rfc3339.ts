// RFC 3339 times as Mandate reads them: a leap second (23:59:60), which JSON Schema's date-time accepts but
// Date.parse does not, counts as the first instant of the next minute.

/** Epoch milliseconds of an RFC 3339 time, or undefined when it is not one. */
export function parseRfc3339(text: string): number | undefined {
  const time = Date.parse(text)
  if (!Number.isNaN(time)) return time
  const leap = Date.parse(text.replace(/:60(?=(\.\d+)?(Z|[+-]\d{2}:\d{2})$)/i, ':59'))
  return Number.isNaN(leap) ? undefined : leap + 1000
}

/** The canonical stored form (`toISOString`, UTC) of an RFC 3339 time, or undefined when it is not one. */
export function normalizeRfc3339(text: string): string | undefined {
  const time = parseRfc3339(text)
  return time === undefined ? undefined : new Date(time).toISOString()
}
