// A JSON body parser that refuses pathological nesting before parsing, so that no later recursion can blow the stack.

/** Deepest nesting of arrays and objects accepted in a request body. */
export const MAX_JSON_DEPTH = 32

/** Thrown for a body that is not JSON or is nested deeper than MAX_JSON_DEPTH; the error handler answers 400. */
export class InvalidJsonBody extends Error {
  readonly statusCode = 400
  readonly code = 'FST_ERR_CTP_INVALID_JSON_BODY'
}

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
      if (++depth > MAX_JSON_DEPTH) throw new InvalidJsonBody(`JSON nested deeper than ${MAX_JSON_DEPTH}`)
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  try {
    return text.length === 0 ? undefined : JSON.parse(text)
  } catch {
    throw new InvalidJsonBody('invalid JSON')
  }
}
