// Canonical JSON (RFC 8785 for the values Mandate writes): object keys sorted by UTF-16 code units, no whitespace.

/** Serializes a JSON value canonically, so that equal values always hash equally. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    // RFC 8785 §3.2.2.3: numbers serialize as ECMAScript's Number.prototype.toString, which JSON.stringify uses.
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new TypeError('canonical JSON has no Infinity or NaN')
    return JSON.stringify(value) ?? 'null'
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}
