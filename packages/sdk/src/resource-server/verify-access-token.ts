// verifyAccessToken: what a resource server checks before it serves a request carrying a Mandate access token —
// RFC 9068 §4 (typ at+jwt, signature with the issuer's keys, iss, aud, exp), the token's binding (RFC 9449 §7 DPoP,
// RFC 8705 §3 client certificate) and the scopes the operation needs (RFC 6750 §3.1) — in that order.

import { createHash, X509Certificate } from 'node:crypto'
import { errors, jwtVerify } from 'jose'
import type { AuthorizationDetail } from '../agent-client.js'
import { ASYMMETRIC_ALGORITHMS } from '../algorithms.js'
import { isObject } from '../oauth-http.js'
import { AccessTokenError, type AccessTokenErrorCode, type PresentedScheme } from './access-token-error.js'
import { type DpopNonceSource, DpopProofRefused, verifyDpopProof } from './dpop-proof.js'
import { MandateIssuer } from './mandate-issuer.js'

/**
 * A request as the resource server received it, whatever the framework: see `requestFromNode` for node:http,
 * Express and Fastify (`request.raw`).
 * @example
 * const request: ProtectedResourceRequest = {
 *   method: 'GET',
 *   url: 'https://tickets.example.com/tickets/42',
 *   headers: { authorization: 'DPoP eyJ…', dpop: 'eyJ…' },
 * }
 */
export interface ProtectedResourceRequest {
  /** The HTTP method, as received. */
  method: string
  /**
   * The absolute URL the client addressed, as the client saw it (behind a proxy: the public URL). DPoP proofs name it
   * (`htu`); query and fragment do not count.
   */
  url: string | URL
  /** The request headers: a Fetch `Headers`, or a record with lower-case names such as Node.js's `request.headers`. */
  headers: Headers | Readonly<Record<string, string | readonly string[] | undefined>>
  /**
   * RFC 8705: the client certificate of the TLS connection, when the client presented one: an `X509Certificate`, its
   * DER bytes, or PEM (e.g. as a TLS-terminating proxy forwards it). Needed only for certificate-bound tokens.
   */
  clientCertificate?: X509Certificate | Uint8Array | string | undefined
}

/**
 * What `verifyAccessToken` checks the token against.
 * @example
 * const options: VerifyAccessTokenOptions = { issuer, audience: 'https://tickets.example.com/', scopes: ['tickets:read'] }
 */
export interface VerifyAccessTokenOptions {
  /** The trusted issuer, created once. */
  issuer: MandateIssuer
  /** This resource server's audience: the `resource` agents ask their tokens for (RFC 8707). */
  audience: string
  /** Scopes the operation needs, all of them; space-delimited or as a list. Default: none. */
  scopes?: string | readonly string[]
  /** The `realm` of the challenges. */
  realm?: string
  /** RFC 9449 §9: nonces this resource server requires in DPoP proofs. Default: none required. */
  dpopNonce?: DpopNonceSource
}

/**
 * The claims of a Mandate access token (RFC 9068 §2.2): every required one is present and of its type.
 * @example
 * const actor = claims.act?.sub ?? claims.sub // the agent acting, on behalf of claims.sub when delegated
 */
export interface AccessTokenClaims {
  iss: string
  /** The agent (autonomous) or the human it acts for (delegated). */
  sub: string
  aud: string | string[]
  exp: number
  iat: number
  jti: string
  client_id: string
  scope?: string
  /** RFC 8693 §4.1: the acting agent (and its parents, nested), when delegated. */
  act?: { sub: string; act?: unknown }
  cnf?: { jkt?: string; 'x5t#S256'?: string }
  authorization_details?: AuthorizationDetail[]
  [claim: string]: unknown
}

/**
 * An accepted access token.
 * @example
 * const { claims, scopes, binding } = await verifyAccessToken(request, { issuer, audience })
 */
export interface VerifiedAccessToken {
  /** The token as presented. */
  token: string
  claims: AccessTokenClaims
  /** The token's scopes. */
  scopes: string[]
  /** How the caller proved it holds the token: with its DPoP key, with its client certificate, or not at all. */
  binding: 'bearer' | 'dpop' | 'mtls'
}

// A Mandate token is well under 4 KiB; the bound keeps oversized input away from the parser and the signature check.
const MAX_TOKEN_LENGTH = 16_384
// RFC 6750 §2.1 and RFC 9449 §7.1: the scheme, case-insensitive, then a token68.
const AUTHORIZATION = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i
const CONFIRMATION_METHODS = new Set(['jkt', 'x5t#S256'])

/**
 * Verifies the access token of a request to a resource server protected by Mandate, and returns it with its claims.
 * Checks, in order: the `Authorization` header (`Bearer` or `DPoP`); RFC 9068 §4: `typ` `at+jwt`, the signature
 * with the issuer's published keys (asymmetric algorithms only), `iss`, `aud` containing `audience`, `exp`, and the
 * required claims; the binding: a DPoP-bound token (`cnf.jkt`) only with the DPoP scheme and a valid proof of its key
 * for this method and URL (RFC 9449 §4.3, §7.1: `ath`, `htm`, `htu`, `iat` window, `jti` not seen before, the nonce
 * when `dpopNonce` is given), a certificate-bound token (`cnf["x5t#S256"]`) only over a connection presenting that
 * certificate (RFC 8705 §3); then that the token has every scope in `scopes`.
 *
 * Refusals are {@link AccessTokenError} with a stable code, the status and the `WWW-Authenticate` challenge to
 * answer with. When the issuer's keys cannot be had (unreachable, not JSON) the token can be neither accepted nor
 * refused, and the error is a MandateOAuthError (`network_error` or `invalid_response`): answer 503. Revocation is not
 * checked here: Mandate tokens live minutes; a resource server that must see a revocation at once introspects.
 * @example
 * const issuer = new MandateIssuer('https://mandate.example.com')
 * const server = createServer(async (req, res) => {
 *   try {
 *     const { claims } = await verifyAccessToken(requestFromNode(req, { baseUrl: 'https://tickets.example.com' }), {
 *       issuer,
 *       audience: 'https://tickets.example.com/',
 *       scopes: 'tickets:read',
 *     })
 *     res.end(JSON.stringify({ hello: claims.sub }))
 *   } catch (error) {
 *     if (!(error instanceof AccessTokenError)) throw error
 *     res.writeHead(error.status, error.headers).end()
 *   }
 * })
 */
export async function verifyAccessToken(
  request: ProtectedResourceRequest,
  options: VerifyAccessTokenOptions,
): Promise<VerifiedAccessToken> {
  const { issuer, audience, realm } = checkOptions(options)
  const required = scopeList(options.scopes, 'scopes')
  const refuse = (code: AccessTokenErrorCode, description: string, scheme: PresentedScheme, nonce?: string) =>
    new AccessTokenError(code, description, { scheme, realm, nonce, scope: required.join(' ') || undefined })

  const { scheme, token } = presentedToken(request, refuse)
  const claims = await verifyJwt(token, issuer, audience, (description) =>
    refuse('invalid_token', description, scheme),
  )
  const binding = await checkBinding(request, token, claims, scheme, issuer, options.dpopNonce, refuse)
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter((s) => s.length > 0) : []
  const missing = required.filter((s) => !scopes.includes(s))
  if (missing.length > 0)
    throw refuse('insufficient_scope', `the access token lacks the scope ${missing.join(' ')}`, scheme)
  return { token, claims, scopes, binding }
}

type Refuse = (
  code: AccessTokenErrorCode,
  description: string,
  scheme: PresentedScheme,
  nonce?: string,
) => Error

function checkOptions(options: VerifyAccessTokenOptions): {
  issuer: MandateIssuer
  audience: string
  realm: string | undefined
} {
  if (!isObject(options)) throw new TypeError('options are required')
  if (!(options.issuer instanceof MandateIssuer))
    throw new TypeError('options.issuer must be a MandateIssuer')
  if (typeof options.audience !== 'string' || options.audience.length === 0)
    throw new TypeError('options.audience must be a non-empty string')
  if (options.realm !== undefined && typeof options.realm !== 'string')
    throw new TypeError('options.realm must be a string')
  const nonce = options.dpopNonce
  if (nonce !== undefined && (typeof nonce.issue !== 'function' || typeof nonce.accepts !== 'function'))
    throw new TypeError('options.dpopNonce must have issue and accepts methods')
  return { issuer: options.issuer, audience: options.audience, realm: options.realm }
}

function scopeList(scopes: string | readonly string[] | undefined, name: string): string[] {
  if (scopes === undefined) return []
  const list = typeof scopes === 'string' ? [scopes] : Array.isArray(scopes) ? scopes : undefined
  if (!list || list.some((s) => typeof s !== 'string'))
    throw new TypeError(`options.${name} must be a string or a list of strings`)
  return [...new Set(list.flatMap((s) => s.split(/\s+/)).filter((s) => s.length > 0))]
}

// RFC 6750 §3.1: without any token the challenge carries no error code; a token in a shape we cannot read is
// invalid_token.
function presentedToken(
  request: ProtectedResourceRequest,
  refuse: Refuse,
): { scheme: 'bearer' | 'dpop'; token: string } {
  const values = headerValues(request.headers, 'authorization')
  if (values.length === 0 || values.every((v) => v.trim() === ''))
    throw refuse('invalid_token', 'an access token is required', 'none')
  if (values.length > 1) throw refuse('invalid_token', 'only one Authorization header may be sent', 'bearer')
  const value = values[0] ?? ''
  const scheme = /^\s*dpop\s/i.test(value) ? 'dpop' : 'bearer'
  if (!/^\s*(bearer|dpop)\s/i.test(value))
    throw refuse('invalid_token', 'an access token is required', 'none')
  const match = AUTHORIZATION.exec(value.trim())
  const token = match?.[2]
  if (!token)
    throw refuse(
      'invalid_token',
      'the Authorization header must be "Bearer <token>" or "DPoP <token>"',
      scheme,
    )
  if (token.length > MAX_TOKEN_LENGTH) throw refuse('invalid_token', 'the access token is too large', scheme)
  return { scheme, token }
}

// RFC 9068 §4: typ, signature (never none or HMAC), iss, aud, exp, and the claims every access token has.
async function verifyJwt(
  token: string,
  issuer: MandateIssuer,
  audience: string,
  invalid: (description: string) => Error,
): Promise<AccessTokenClaims> {
  let payload: Record<string, unknown>
  try {
    const keys = await issuer.keySet()
    ;({ payload } = await jwtVerify(token, keys, {
      issuer: issuer.issuer,
      audience,
      typ: 'at+jwt',
      algorithms: [...ASYMMETRIC_ALGORITHMS],
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
      clockTolerance: issuer.clockToleranceSeconds,
    }))
  } catch (error) {
    const unavailable = MandateIssuer.unavailable(error)
    if (unavailable !== error) throw unavailable
    throw invalid(describeJwtError(error))
  }
  const { sub, jti, client_id, iat, exp, scope, cnf, act } = payload
  if (typeof sub !== 'string' || typeof jti !== 'string' || typeof client_id !== 'string')
    throw invalid('the access token sub, jti and client_id must be strings')
  if (typeof iat !== 'number' || typeof exp !== 'number')
    throw invalid('the access token iat and exp must be numbers')
  if (scope !== undefined && typeof scope !== 'string')
    throw invalid('the access token scope must be a string')
  if (act !== undefined && !(isObject(act) && typeof act.sub === 'string'))
    throw invalid('the access token act must name its actor')
  if (cnf !== undefined) {
    if (!isObject(cnf) || Object.keys(cnf).length === 0) throw invalid('the access token cnf is malformed')
    // A binding this verifier does not know cannot be checked, so the token is not accepted.
    const unknown = Object.keys(cnf).filter((m) => !CONFIRMATION_METHODS.has(m))
    if (unknown.length > 0)
      throw invalid(`the access token is bound by ${unknown.join(', ')}, which is not supported`)
    if (Object.values(cnf).some((v) => typeof v !== 'string'))
      throw invalid('the access token cnf is malformed')
  }
  return payload as AccessTokenClaims
}

function describeJwtError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the access token has expired'
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'typ') return 'the token is not an access token (typ must be at+jwt)'
    if (error.claim === 'aud') return 'the access token is for another audience'
    if (error.claim === 'iss') return 'the access token is from another issuer'
    return `the access token ${error.claim} claim is not acceptable`
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return 'the access token is signed with an algorithm not accepted'
  if (error instanceof errors.JWKSNoMatchingKey)
    return 'the access token is not signed by a key of the issuer'
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return 'the access token signature does not verify'
  return 'the access token is not a valid signed JWT'
}

// RFC 9449 §7.1 and RFC 8705 §3: a bound token is accepted only with the proof its binding asks for, and a bearer
// token only as a bearer token.
async function checkBinding(
  request: ProtectedResourceRequest,
  token: string,
  claims: AccessTokenClaims,
  scheme: 'bearer' | 'dpop',
  issuer: MandateIssuer,
  nonce: DpopNonceSource | undefined,
  refuse: Refuse,
): Promise<VerifiedAccessToken['binding']> {
  const jkt = claims.cnf?.jkt
  const x5t = claims.cnf?.['x5t#S256']
  const proofs = headerValues(request.headers, 'dpop')
  if (jkt === undefined && scheme === 'dpop')
    throw refuse(
      'invalid_token',
      'the access token is not DPoP-bound: present it with the Bearer scheme',
      scheme,
    )
  if (jkt === undefined && proofs.length > 0)
    throw refuse('invalid_token', 'a DPoP proof came with a Bearer token', scheme)
  if (jkt !== undefined) {
    // §7.2: a DPoP-bound token presented as a bearer token is refused, or anyone who saw it could use it.
    if (scheme !== 'dpop')
      throw refuse(
        'invalid_token',
        'the access token is DPoP-bound: present it with the DPoP scheme and a proof',
        scheme,
      )
    try {
      await verifyDpopProof({
        proofs,
        method: request.method,
        url: String(request.url),
        accessToken: token,
        jkt,
        nonce,
        windowSeconds: issuer.dpopWindowSeconds,
        replay: issuer.dpopReplay,
      })
    } catch (error) {
      if (!(error instanceof DpopProofRefused)) throw error
      if (error.nonce !== undefined) throw refuse('use_dpop_nonce', error.message, 'dpop', error.nonce)
      throw refuse('invalid_dpop_proof', error.message, 'dpop')
    }
  }
  if (x5t !== undefined) {
    const presented = certificateThumbprint(request.clientCertificate)
    if (presented !== x5t)
      throw refuse(
        'invalid_token',
        'the access token is bound to a client certificate this request did not present',
        scheme,
      )
  }
  if (jkt !== undefined) return 'dpop'
  return x5t !== undefined ? 'mtls' : 'bearer'
}

// RFC 8705 §3.1: base64url SHA-256 of the DER certificate.
function certificateThumbprint(
  certificate: ProtectedResourceRequest['clientCertificate'],
): string | undefined {
  if (certificate === undefined) return undefined
  let der: Uint8Array
  try {
    if (certificate instanceof X509Certificate) der = certificate.raw
    else if (typeof certificate === 'string') der = new X509Certificate(certificate).raw
    else if (certificate instanceof Uint8Array) der = certificate
    else return undefined
  } catch {
    return undefined
  }
  return createHash('sha256').update(der).digest('base64url')
}

function headerValues(headers: ProtectedResourceRequest['headers'], name: string): string[] {
  if (headers instanceof Headers) {
    const value = headers.get(name)
    return value === null ? [] : [value]
  }
  if (!isObject(headers)) return []
  const values: string[] = []
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue
    if (typeof value === 'string') values.push(value)
    else if (Array.isArray(value)) values.push(...value.filter((v): v is string => typeof v === 'string'))
  }
  return values
}
