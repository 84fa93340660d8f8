// Shared assertions for the HTTP suites: the admin API's error model, and bodies that must leak nothing internal.
import assert from 'node:assert/strict'
import http from 'node:http'
import type { TestNode } from '../support/harness.ts'

/** What `TestNode.call` resolves to. */
export type CallResult = Awaited<ReturnType<TestNode['call']>>

// A stack frame (`at fn (file:1:2)`), a source file with a line number, or a path into the install.
const LEAKS: RegExp[] = [
  /\bat \S+ \(\S+:\d+:\d+\)/,
  /\\n\s+at /,
  /\.(?:ts|js|mjs|cjs):\d+/,
  /node_modules/,
  /file:\/\//,
  /\/packages\/server\//,
]

/** Asserts that a response is not a 500 and, if it is an error, that its body shows no stack trace or file path. */
export function assertNoLeak(res: CallResult): void {
  assert.notEqual(res.status, 500, `unexpected 500: ${res.text}`)
  if (res.status >= 400) {
    for (const leak of LEAKS) assert.doesNotMatch(res.text, leak, `error body leaks internals: ${res.text}`)
  }
}

/** Asserts the admin API's error model: `{error, error_description, fields?}` with the given status and code. */
export function expectError(res: CallResult, status: number, code: string): void {
  assertNoLeak(res)
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`)
  assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/)
  assert.equal(res.json?.error, code, res.text)
  assert.equal(typeof res.json.error_description, 'string')
  assert.ok(res.json.error_description.length > 0, 'error_description is empty')
  if (code === 'validation_failed') {
    assert.ok(
      Array.isArray(res.json.fields) && res.json.fields.length > 0,
      `fields must be a non-empty array: ${res.text}`,
    )
    for (const field of res.json.fields) {
      assert.equal(typeof field.path, 'string')
      assert.ok(field.path.startsWith('/'), `field path ${field.path} is not a JSON Pointer`)
      assert.equal(typeof field.message, 'string')
      assert.ok(field.message.length > 0)
    }
  }
}

/** Asserts a 400 validation_failed whose fields name `path` (exactly) among them. */
export function expectFieldError(res: CallResult, path: string): void {
  expectError(res, 400, 'validation_failed')
  const paths = res.json.fields.map((f: { path: string }) => f.path)
  assert.ok(paths.includes(path), `expected a field error at ${path}, got ${JSON.stringify(res.json.fields)}`)
}

/**
 * Sends a request with node:http, for what fetch would not send as written: a path kept byte for byte, or a body
 * streamed in chunks without a Content-Length.
 */
export function rawRequest(
  baseUrl: string,
  options: { method: string; path: string; headers?: Record<string, string>; chunks?: string[] },
): Promise<CallResult> {
  const url = new URL(baseUrl)
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method,
        path: options.path,
        headers: options.headers ?? {},
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
        })
        res.on('end', () => {
          const headers = new Headers()
          for (const [name, value] of Object.entries(res.headers))
            if (typeof value === 'string') headers.set(name, value)
          let json: unknown
          try {
            json = text ? JSON.parse(text) : undefined
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode ?? 0, headers, json, text })
        })
      },
    )
    // The server may answer (413) and close before the whole body is written.
    req.on('error', reject)
    for (const chunk of options.chunks ?? []) req.write(chunk)
    req.end()
  })
}
