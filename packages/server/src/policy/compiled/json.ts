// A strict JSON parser that keeps whole numbers exact: Cedar's Long is 64-bit, and `JSON.parse` silently rounds any
// integer beyond 2^53 (2^62 arrives as 4611686018427388000). Integers outside the safe range come back as bigint;
// everything else is what `JSON.parse` gives.

/** A JSON value as `parseJson` returns it: like `JSON.parse`, but with bigint for integers beyond 2^53. */
export type ExactJson = null | boolean | number | bigint | string | ExactJson[] | { [key: string]: ExactJson }

/** Malformed JSON text. */
export class JsonSyntaxError extends SyntaxError {}

/**
 * Parses JSON text (RFC 8259) keeping integers exact.
 *
 * @example
 * parseJson('{"n": 9223372036854775807}') // { n: 9223372036854775807n }
 */
export function parseJson(text: string): ExactJson {
  const parser = new Parser(text)
  parser.skipSpace()
  const value = parser.value()
  parser.skipSpace()
  if (parser.at < text.length) parser.fail('unexpected text after the value')
  return value
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y
// JSON forbids raw control characters (U+0000 to U+001F) in strings: the run of plain characters stops at them.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const PLAIN = /[^"\\\u0000-\u001f]*/y
const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
}

class Parser {
  at = 0
  constructor(private readonly text: string) {}

  fail(why: string): never {
    throw new JsonSyntaxError(`invalid JSON at offset ${this.at}: ${why}`)
  }

  skipSpace(): void {
    const { text } = this
    let c = text.charCodeAt(this.at)
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++this.at)
  }

  value(): ExactJson {
    const c = this.text[this.at]
    if (c === '{') return this.object()
    if (c === '[') return this.array()
    if (c === '"') return this.string()
    if (c === 't') return this.word('true', true)
    if (c === 'f') return this.word('false', false)
    if (c === 'n') return this.word('null', null)
    return this.number()
  }

  private word<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.at)) this.fail('unexpected character')
    this.at += word.length
    return value
  }

  private number(): number | bigint {
    NUMBER.lastIndex = this.at
    const match = NUMBER.exec(this.text)
    if (!match) this.fail('expected a value')
    this.at = NUMBER.lastIndex
    const n = Number(match[0])
    if (match[1] === undefined && match[2] === undefined && !Number.isSafeInteger(n)) return BigInt(match[0])
    return n
  }

  private string(): string {
    const { text } = this
    this.at++
    let out = ''
    for (;;) {
      PLAIN.lastIndex = this.at
      PLAIN.exec(text)
      out += text.slice(this.at, PLAIN.lastIndex)
      this.at = PLAIN.lastIndex
      const c = text[this.at]
      if (c === '"') {
        this.at++
        return out
      }
      if (c !== '\\') this.fail(c === undefined ? 'unterminated string' : 'control character in a string')
      const e = text[this.at + 1] ?? ''
      if (e === 'u') {
        const hex = text.slice(this.at + 2, this.at + 6)
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape')
        out += String.fromCharCode(Number.parseInt(hex, 16))
        this.at += 6
      } else {
        const replacement = ESCAPES[e]
        if (replacement === undefined) this.fail('bad escape')
        out += replacement
        this.at += 2
      }
    }
  }

  private array(): ExactJson[] {
    this.at++
    const out: ExactJson[] = []
    this.skipSpace()
    if (this.text[this.at] === ']') {
      this.at++
      return out
    }
    for (;;) {
      this.skipSpace()
      out.push(this.value())
      this.skipSpace()
      const c = this.text[this.at++]
      if (c === ']') return out
      if (c !== ',') this.fail("expected ',' or ']'")
    }
  }

  private object(): { [key: string]: ExactJson } {
    this.at++
    // A null prototype: a key named __proto__ is data, as in JSON.parse.
    const out: { [key: string]: ExactJson } = Object.create(null)
    this.skipSpace()
    if (this.text[this.at] === '}') {
      this.at++
      return out
    }
    for (;;) {
      this.skipSpace()
      if (this.text[this.at] !== '"') this.fail('expected a key')
      const key = this.string()
      this.skipSpace()
      if (this.text[this.at++] !== ':') this.fail("expected ':'")
      this.skipSpace()
      out[key] = this.value()
      this.skipSpace()
      const c = this.text[this.at++]
      if (c === '}') return out
      if (c !== ',') this.fail("expected ',' or '}'")
    }
  }
}
