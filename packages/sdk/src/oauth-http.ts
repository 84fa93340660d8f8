// JSON over HTTP to a Mandate node's OAuth endpoints: one way to send, and one way to turn an answer that is not a
// success into a MandateOAuthError that never carries a secret or a token of the request.

import { isWireErrorCode, MandateOAuthError } from './oauth-errors.js'

/** An answer read to its end: status, headers and the parsed JSON body (undefined when empty). */
export interface JsonResponse {
  status: number
  headers: Headers
  json: unknown
}

const MAX_DESCRIPTION_LENGTH = 500

/**
 * Sends one request and reads its JSON answer. An unreachable node is `network_error` (status 0); an answer that is
 * not JSON is `invalid_response`.
 * @example
 * const { status, json } = await sendJson(fetch, 'https://mandate.example.com/.well-known/jwks.json', { method: 'GET' })
 */
export async function sendJson(fetcher: typeof fetch, url: string, init: RequestInit): Promise<JsonResponse> {
  const origin = new URL(url).origin
  let response: Response
  let text: string
  try {
    response = await fetcher(url, init)
    text = await response.text()
  } catch (error) {
    throw new MandateOAuthError('network_error', `cannot reach ${origin}: ${networkReason(error)}`, 0)
  }
  let json: unknown
  try {
    json = text ? JSON.parse(text) : undefined
  } catch {
    throw invalidResponse(`${origin} answered HTTP ${response.status} with non-JSON content`, response.status)
  }
  return { status: response.status, headers: response.headers, json }
}

/**
 * The error an OAuth answer stands for: its RFC error code, or `invalid_response` for a code Mandate never sends.
 * The description is cleaned of every value in `redact` and of anything shaped like a JWT.
 * @example
 * if (response.status !== 200) throw errorFrom(response, [clientSecret])
 */
export function errorFrom(response: JsonResponse, redact: readonly string[]): MandateOAuthError {
  const body = isObject(response.json) ? response.json : {}
  const description =
    typeof body.error_description === 'string' && body.error_description.length > 0
      ? sanitize(body.error_description, redact)
      : `HTTP ${response.status}`
  if (isWireErrorCode(body.error)) {
    // The approval to wait for: the node sends its id, who must approve and how to poll (docs/delegation.md).
    const seconds = (value: unknown) =>
      typeof value === 'number' && Number.isInteger(value) && value > 0 && value < 1e7 ? value : undefined
    const approval =
      body.error === 'approval_required' &&
      typeof body.approval_id === 'string' &&
      typeof body.approver === 'string'
        ? {
            approvalId: sanitize(body.approval_id, redact),
            approver: sanitize(body.approver, redact),
            ...(seconds(body.expires_in) ? { expiresIn: seconds(body.expires_in) } : {}),
            ...(seconds(body.interval) ? { interval: seconds(body.interval) } : {}),
          }
        : body.error === 'slow_down' && seconds(body.interval)
          ? { interval: seconds(body.interval) }
          : {}
    return new MandateOAuthError(body.error, description, response.status, approval)
  }
  const named = typeof body.error === 'string' && /^[a-z0-9_]{1,64}$/.test(body.error) ? ` ${body.error}` : ''
  return invalidResponse(
    `the node answered HTTP ${response.status} with an unknown error${named}: ${description}`,
    response.status,
  )
}

/**
 * An `invalid_response` error: the node answered with something that is not what the protocol promises.
 * @example
 * throw invalidResponse('the token response has no access_token', 200)
 */
export function invalidResponse(description: string, status: number): MandateOAuthError {
  return new MandateOAuthError('invalid_response', description, status)
}

/**
 * Server text made safe to show: printable, short, and without any secret or token of the request.
 * @example
 * sanitize('bad secret s3cr3t-value', ['s3cr3t-value']) // 'bad secret [redacted]'
 */
export function sanitize(text: string, redact: readonly string[]): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to remove them
  let clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ')
  for (const value of redact) if (value.length >= 4) clean = clean.split(value).join('[redacted]')
  clean = clean.replace(/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, '[redacted]')
  return clean.length > MAX_DESCRIPTION_LENGTH ? `${clean.slice(0, MAX_DESCRIPTION_LENGTH)}…` : clean
}

/**
 * Why a fetch failed: fetch reports "fetch failed"; the useful code is on its cause, or on the first of several
 * (IPv4 and IPv6) attempts.
 * @example
 * networkReason(error) // 'ECONNREFUSED'
 */
export function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; errors?: Array<{ code?: string }> } }).cause
  return cause?.code ?? cause?.errors?.[0]?.code ?? (error instanceof Error ? error.message : 'unknown error')
}

/**
 * RFC 6749 Appendix B: application/x-www-form-urlencoded, which escapes more than encodeURIComponent does.
 * @example
 * formEncode("a b!") // 'a+b%21'
 */
export function formEncode(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
}

/**
 * Whether `value` parses as an http: or https: URL.
 * @example
 * isHttpUrl('https://mandate.example.com') // true
 */
export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || url.protocol === 'http:'
  } catch {
    return false
  }
}

/**
 * Whether `value` is a plain JSON object (not null, not an array).
 * @example
 * isObject({}) // true
 */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
