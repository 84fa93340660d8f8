// A JSON body parser that refuses pathological nesting before parsing, so that no later recursion can blow the stack,
// and refuses `__proto__` members, which object spreads and assignments would turn into prototypes.
import { ValidationFailed } from '../errors/mandate-error.ts'

/** Deepest nesting of arrays and objects accepted in a request body. */
export const MAX_JSON_DEPTH = 32

/** Parses JSON text after checking its nesting depth with a single scan that skips string contents. */
export function parseJsonBody(text: string): unknown {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_JSON_DEPTH)
        throw new ValidationFailed([{ path: '/', message: `is nested deeper than ${MAX_JSON_DEPTH} levels` }])
    } else if (c === 0x7d || c === 0x5d) depth--
  }
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
  const poisoned = findProtoMember(value, '')
  if (poisoned !== undefined)
    throw new ValidationFailed([{ path: poisoned, message: 'is not a known field' }])
  return value
}

// JSON.parse keeps `__proto__` as an own member; find it before anything copies the object. Depth is bounded above.
function findProtoMember(value: unknown, path: string): string | undefined {
  if (value === null || typeof value !== 'object') return undefined
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = findProtoMember(item, `${path}/${i}`)
      if (found !== undefined) return found
    }
    return undefined
  }
  for (const [key, item] of Object.entries(value)) {
    const member = `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`
    if (key === '__proto__') return member
    const found = findProtoMember(item, member)
    if (found !== undefined) return found
  }
  return undefined
}
