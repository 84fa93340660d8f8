// A JSON body parser that refuses pathological nesting before parsing, so that no later recursion can blow the stack,
// and refuses `__proto__` members, which object spreads and assignments would turn into prototypes.
//
// Every request body passes here, so the common case is made cheap: text without a backslash has no escapes, so its
// strings are exactly what lies between its quotes. Then the nesting check reads only the text outside strings (it
// jumps from quote to quote), a `__proto__` member is possible only if the text holds that very word (no walk
// otherwise), and the parsed value can be vouched storable (see `parsedStorable`) from the text alone.
import { ValidationFailed } from '../errors/mandate-error.ts'

/** Deepest nesting of arrays and objects accepted in a request body. */
export const MAX_JSON_DEPTH = 32

// Parsed values (objects and arrays) whose text held no escape, no exponent and no over-long number: every string in
// them (keys included) is as well formed as the text, and every number finite.
const storable = new WeakSet<object>()

/**
 * Whether `value` is an object this parser returned from text that cannot yield an unstorable value (U+0000, a lone
 * surrogate, a number JSON cannot write): its callers may then skip `findUnstorable` on it. Only valid as long as the
 * value is not changed after parsing (Fastify hands it to the `preValidation` hooks as parsed).
 */
export function parsedStorable(value: unknown): boolean {
  return typeof value === 'object' && value !== null && storable.has(value)
}

/** Parses JSON text after checking its nesting depth with a single scan that skips string contents. */
export function parseJsonBody(text: string): unknown {
  const escaped = text.includes('\\')
  const numbers = escaped ? checkDepthEscaped(text) : checkDepth(text)
  if (text.length === 0) return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new ValidationFailed(
      [{ path: '/', message: 'is not valid JSON' }],
      'the request body is not valid JSON',
    )
  }
  // Without escapes, a `__proto__` key is the word itself in the text; with them, it may be spelled `\u005f_proto__`.
  if (escaped || text.includes('__proto__')) {
    const poisoned = findProtoMember(value)
    if (poisoned !== undefined)
      throw new ValidationFailed([{ path: pointer(poisoned), message: 'is not a known field' }])
  }
  if (!escaped && numbers === 'finite' && typeof value === 'object' && value !== null && text.isWellFormed())
    storable.add(value)
  return value
}

function tooDeep(): ValidationFailed {
  return new ValidationFailed([{ path: '/', message: `is nested deeper than ${MAX_JSON_DEPTH} levels` }])
}

// The nesting check for text with escapes: every character is read, `\` skips the next one inside strings.
function checkDepthEscaped(text: string): 'unknown' {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) throw tooDeep()
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return 'unknown'
}

/** Digits a number may have before the point and still be finite whatever follows (10^308 < Number.MAX_VALUE). */
const FINITE_DIGITS = 308

// The nesting check for text without escapes: strings end at the next quote, so they are skipped by `indexOf`, and
// only the text between them (punctuation, numbers, literals) is read. Says whether every number is surely finite: no
// exponent (`1e400` parses as Infinity) and no run of digits long enough to overflow.
function checkDepth(text: string): 'finite' | 'unknown' {
  let depth = 0
  let digits = 0
  let numbers: 'finite' | 'unknown' = 'finite'
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      const close = text.indexOf('"', i + 1)
      if (close === -1) break // an unterminated string: JSON.parse refuses the text
      i = close
      digits = 0
    } else if (c >= 0x30 && c <= 0x39) {
      if (++digits > FINITE_DIGITS) numbers = 'unknown'
    } else {
      // `e` after a digit is an exponent (`true` and `false` have theirs after a letter).
      if ((c === 0x65 || c === 0x45) && digits > 0) numbers = 'unknown'
      digits = 0
      if (c === 0x7b || c === 0x5b) {
        if (++depth > MAX_JSON_DEPTH) throw tooDeep()
      } else if (c === 0x7d || c === 0x5d) depth--
    }
  }
  return numbers
}

// JSON.parse keeps `__proto__` as an own member; find it before anything copies the object. Depth is bounded above.
// Answers the keys and indexes leading to it; the JSON Pointer is made only then.
function findProtoMember(value: unknown): Array<string | number> | undefined {
  if (value === null || typeof value !== 'object') return undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findProtoMember(value[i])
      if (found !== undefined) {
        found.push(i)
        return found
      }
    }
    return undefined
  }
  for (const key of Object.keys(value)) {
    if (key === '__proto__') return [key]
    const found = findProtoMember((value as Record<string, unknown>)[key])
    if (found !== undefined) {
      found.push(key)
      return found
    }
  }
  return undefined
}

// The path found (innermost first) as a JSON Pointer (RFC 6901).
function pointer(reversed: Array<string | number>): string {
  let path = ''
  for (let i = reversed.length - 1; i >= 0; i--)
    path += `/${String(reversed[i]).replaceAll('~', '~0').replaceAll('/', '~1')}`
  return path
}
