// The client side of consent (OAuth 2.1 §4.1 with PAR, RFC 9126): what an authorization request holds, PKCE (RFC
// 7636, S256 only), and reading the redirect back with the RFC 9207 `iss` check before anything else.

import { createHash, randomBytes } from 'node:crypto'
import type { AuthorizationDetail } from './agent-client.js'
import { isWireErrorCode, MandateOAuthError } from './oauth-errors.js'
import { invalidResponse } from './oauth-http.js'

/**
 * What the agent asks the human for.
 * @example
 * const request: AuthorizationRequestOptions = {
 *   redirectUri: 'https://agent.example.com/callback',
 *   resource: 'https://tickets.example.com/',
 *   scope: 'tickets:read',
 *   maxCalls: 20,
 * }
 */
export interface AuthorizationRequestOptions {
  /** One of the agent's registered `redirect_uris`, exactly. */
  redirectUri: string
  /** The resource server's audience (RFC 8707). */
  resource: string
  scope: string | readonly string[]
  authorizationDetails?: readonly AuthorizationDetail[]
  /** How long the mandate should last, in seconds (the human may shorten it; the node caps it). */
  durationSeconds?: number
  /** The most tokens the mandate should allow (the human may lower it). */
  maxCalls?: number
}

/**
 * A consent under way: send the human to `url`, keep the rest (server-side, per human) until the redirect comes back.
 * `codeVerifier` is a secret: never log it, never send it anywhere but the token endpoint.
 */
export interface PendingAuthorization {
  /** The authorization endpoint URL with `client_id` and the pushed `request_uri`. */
  readonly url: string
  /** The issuer the request was sent to: the redirect's `iss` must be exactly this (RFC 9207 §2.4). */
  readonly issuer: string
  readonly redirectUri: string
  /** Compared with the redirect's `state` (CSRF protection of the redirect). */
  readonly state: string
  /** The PKCE verifier (RFC 7636 §4.1). */
  readonly codeVerifier: string
  /** When the pushed request expires, epoch milliseconds: the human must reach the node before. */
  readonly expiresAt: number
}

/** A fresh PKCE pair: 256 random bits, S256 (RFC 7636 §4.1, §4.2). */
export function newPkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

/** An unguessable `state` (OAuth 2.1 §7.14). */
export function newState(): string {
  return randomBytes(24).toString('base64url')
}

/**
 * Reads the redirect the human's browser brought back: RFC 9207 `iss` first (it must be present and equal the issuer
 * the request went to, before an error is trusted), then `state`, then `error` or `code`. Answers the code.
 * @example
 * const code = codeFromRedirect(request.url, pending)
 */
export function codeFromRedirect(callback: string | URL, pending: PendingAuthorization): string {
  let url: URL
  try {
    url = new URL(String(callback))
  } catch {
    throw new TypeError('the redirect is not a URL')
  }
  if (`${url.origin}${url.pathname}` !== withoutQuery(pending.redirectUri))
    throw new TypeError('the redirect did not come back to the redirect URI of this request')
  const params = url.searchParams
  // RFC 9207 §2.4: simple string comparison, and an absent iss is refused when the node advertises it (Mandate does).
  if (params.getAll('iss').length !== 1 || params.get('iss') !== pending.issuer)
    throw invalidResponse('the redirect does not name the issuer the request was sent to (RFC 9207 iss)', 0)
  if (params.getAll('state').length !== 1 || params.get('state') !== pending.state)
    throw invalidResponse('the redirect carries another state than this request', 0)
  const error = params.get('error')
  if (error !== null) {
    const description = (params.get('error_description') ?? error).slice(0, 500)
    throw new MandateOAuthError(isWireErrorCode(error) ? error : 'invalid_response', description, 0)
  }
  const code = params.get('code')
  if (!code || params.getAll('code').length !== 1) throw invalidResponse('the redirect carries no code', 0)
  return code
}

function withoutQuery(uri: string): string {
  const url = new URL(uri)
  return `${url.origin}${url.pathname}`
}
