// What can be stored exactly as it is hashed and recorded: no U+0000 (PostgreSQL text cannot hold it), no lone UTF-16
// surrogate (UTF-8 cannot encode one; JSON's \ud800 escape yields one), no number JSON cannot write (1e400 parses as
// Infinity, which serializes as null). The HTTP edge, the OAuth endpoints' JSON parameters, external tokens' claims
// and the audit log itself all check with this one function.

/** Where the first value that cannot be stored as given is, and what is wrong with it. */
export interface Unstorable {
  /** JSON Pointer into the value (`/subject/id`); object keys are checked too. */
  path: string
  message: string
}

/** Nesting beyond which a value is refused rather than walked (request bodies are limited to 32 levels before this). */
const MAX_DEPTH = 64

/** Finds the first string (value or key) or number in `value` that cannot be stored as given. */
export function findUnstorable(value: unknown, path = '', depth = 0): Unstorable | undefined {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return { path: path || '/', message: 'must not contain U+0000 (NUL)' }
    if (!value.isWellFormed())
      return { path: path || '/', message: 'must not contain a lone UTF-16 surrogate (invalid Unicode)' }
    return undefined
  }
  if (typeof value === 'number')
    return Number.isFinite(value) ? undefined : { path: path || '/', message: 'must be a finite number' }
  if (value === null || typeof value !== 'object') return undefined
  if (depth > MAX_DEPTH) return { path: path || '/', message: 'is nested too deeply' }
  for (const [key, item] of Object.entries(value)) {
    const at = `${path}/${pointerToken(key)}`
    const problem = findUnstorable(key, at, depth) ?? findUnstorable(item, at, depth + 1)
    if (problem) return problem
  }
  return undefined
}

// RFC 6901 §3: `~` and `/` are escaped in a JSON Pointer token; control characters and surrogates are shown as escapes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is escaped
const UNPRINTABLE = /[\u0000-\u001f\ud800-\udfff]/g

function pointerToken(key: string): string {
  return key
    .replaceAll('~', '~0')
    .replaceAll('/', '~1')
    .replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
