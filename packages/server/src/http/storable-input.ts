// Every string a caller sends must be storable exactly as it is hashed and recorded: U+0000 (PostgreSQL text cannot
// hold it) and lone UTF-16 surrogates (UTF-8 cannot encode them; JSON's \ud800 escape yields one) are refused at the
// edge, for every body, query and path parameter, with the field named.

/** Where the first unstorable string of a request part is, and what is wrong with it. */
export interface UnstorableString {
  /** JSON Pointer into the part (`/subject/id`); object keys are checked too. */
  path: string
  message: string
}

/** Finds the first string (value or key) in `value` that cannot be stored as sent. */
export function findUnstorable(value: unknown, path = ''): UnstorableString | undefined {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return { path: path || '/', message: 'must not contain U+0000 (NUL)' }
    if (!value.isWellFormed())
      return { path: path || '/', message: 'must not contain a lone UTF-16 surrogate (invalid Unicode)' }
    return undefined
  }
  if (value === null || typeof value !== 'object') return undefined
  // Request bodies are nesting-limited before they are parsed, so this recursion is bounded.
  for (const [key, item] of Object.entries(value)) {
    const at = `${path}/${pointerToken(key)}`
    const problem = findUnstorable(key, at) ?? findUnstorable(item, at)
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
