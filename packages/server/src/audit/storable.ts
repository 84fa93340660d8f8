// What can be stored exactly as it is hashed and recorded: no U+0000 (PostgreSQL text cannot hold it), no lone UTF-16
// surrogate (UTF-8 cannot encode one; JSON's \ud800 escape yields one), no number JSON cannot write (1e400 parses as
// Infinity, which serializes as null). The HTTP edge, the OAuth endpoints' JSON parameters, external tokens' claims
// and the audit log itself all check with this one function.
//
// It runs on every request body and every audit record, and almost always finds nothing: the walk allocates nothing
// (no key list, no path string); the JSON Pointer is built only for the value that fails, on the way back up.

/** Where the first value that cannot be stored as given is, and what is wrong with it. */
export interface Unstorable {
  /** JSON Pointer into the value (`/subject/id`); object keys are checked too. */
  path: string
  message: string
}

/** Nesting beyond which a value is refused rather than walked (request bodies are limited to 32 levels before this). */
const MAX_DEPTH = 64

const NUL = 'must not contain U+0000 (NUL)'
const LONE_SURROGATE = 'must not contain a lone UTF-16 surrogate (invalid Unicode)'
const NOT_FINITE = 'must be a finite number'
const TOO_DEEP = 'is nested too deeply'

/** A problem found by the walk: the keys from the root to it are collected innermost first, as the walk unwinds. */
interface Found {
  message: string
  keys: string[]
}

/** Finds the first string (value or key) or number in `value` that cannot be stored as given. */
export function findUnstorable(value: unknown, path = '', depth = 0): Unstorable | undefined {
  const found = walk(value, depth)
  if (!found) return undefined
  let at = path
  for (let i = found.keys.length - 1; i >= 0; i--) at += `/${pointerToken(found.keys[i] as string)}`
  return { path: at || '/', message: found.message }
}

function stringProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return NUL
  if (!text.isWellFormed()) return LONE_SURROGATE
  return undefined
}

function walk(value: unknown, depth: number): Found | undefined {
  if (typeof value === 'string') {
    const message = stringProblem(value)
    return message ? { message, keys: [] } : undefined
  }
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : { message: NOT_FINITE, keys: [] }
  if (value === null || typeof value !== 'object') return undefined
  if (depth > MAX_DEPTH) return { message: TOO_DEEP, keys: [] }
  if (Array.isArray(value)) {
    // Index keys ("0", "1", ...) are always storable; holes hold nothing to check.
    for (let i = 0; i < value.length; i++) {
      const found = walk(value[i], depth + 1)
      if (found) {
        found.keys.push(String(i))
        return found
      }
    }
    return undefined
  }
  const record = value as Record<string, unknown>
  // Own enumerable string keys, in the order Object.entries gives them.
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue
    const keyMessage = stringProblem(key)
    const found = keyMessage ? { message: keyMessage, keys: [] } : walk(record[key], depth + 1)
    if (found) {
      found.keys.push(key)
      return found
    }
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
