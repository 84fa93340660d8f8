// Canonical JSON (RFC 8785 for the values Mandate writes): object keys sorted by UTF-16 code units, no whitespace.

/** Serializes a JSON value canonically, so that equal values always hash equally. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    // RFC 8785 §3.2.2.3: numbers serialize as ECMAScript's Number.prototype.toString, which JSON.stringify uses.
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new TypeError('canonical JSON has no Infinity or NaN')
    return JSON.stringify(value) ?? 'null'
  }
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i])
    return `${out}]`
  }
  const record = value as Record<string, unknown>
  // The default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 asks for.
  const keys = Object.keys(record).sort()
  let out = '{'
  for (const key of keys) {
    const item = record[key]
    if (item === undefined) continue
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(item)}`
  }
  return `${out}}`
}
