// DPoP proofs (RFC 9449): verifies the proof a client sends in the `DPoP` header, following the checklist of §4.3,
// and issues the stateless server nonces of §8 that every node accepts.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, errors, type JWK, jwtVerify } from 'jose'
import { InvalidDpopProof, UseDpopNonce } from '../errors/oauth-error.ts'
import { ASYMMETRIC_ALGORITHMS } from './algorithms.ts'
import type { ReplayCache } from './replay-cache.ts'

/**
 * Asymmetric algorithms accepted for proofs (RFC 9449 §4.3 step 5): never `none`, never HMAC, since the key that
 * verifies a proof travels inside it. Also the value of `dpop_signing_alg_values_supported`.
 * @example
 * const metadata = { dpop_signing_alg_values_supported: DPOP_ALGORITHMS }
 */
export const DPOP_ALGORITHMS: readonly string[] = ASYMMETRIC_ALGORITHMS

/** The request a proof must match, and what else the server requires of it. */
export interface DpopCheck {
  /** Every value of the DPoP header on the request (exactly one is allowed). */
  proofs: readonly string[]
  /** HTTP method and the request URL (query and fragment are ignored when comparing htu, RFC 9449 §4.3 step 9). */
  method: string
  url: string
  /** At a resource server: the access token the proof must be bound to via `ath` (base64url SHA-256, §4.3 step 10/§7.1). */
  accessToken?: string
  /** When the server requires a nonce: the nonces it currently accepts; a proof without one of them gets UseDpopNonce with a fresh nonce. */
  nonce?: { accepted: (value: string) => boolean; issue: () => string }
}

/** What verification depends on: the replay cache shared by every node, the clock, and the `iat` window. */
export interface DpopContext {
  replay: ReplayCache
  /** Epoch milliseconds. */
  now: () => number
  /** seconds a proof's iat may differ from now */
  iatWindowSeconds: number
}

/** A verified proof: its key, that key's RFC 7638 thumbprint (the `cnf.jkt` of a bound token), and its `jti`. */
export interface VerifiedDpop {
  jkt: string
  jwk: JWK
  jti: string
}

// A proof carries one public key and a handful of claims; 8 KiB holds an RSA-4096 proof with room to spare and keeps
// oversized headers from reaching the JSON parser and the signature check.
const MAX_PROOF_LENGTH = 8192
const MAX_JTI_LENGTH = 256

// RFC 7517 §9.2 and RFC 7518 §6: members that only a private or symmetric key has; a proof's jwk must have none.
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth', 'priv']

// The key type (and curve) each algorithm needs (RFC 7518 §3, RFC 8037 §3.1); jose verifies EdDSA with Ed25519 only.
const KEY_TYPES: Record<string, { kty: string; crv?: string }> = {
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
}

/**
 * RFC 7638 thumbprint (SHA-256, base64url) of a public JWK: the `jkt` a DPoP-bound token carries in `cnf`.
 * @example
 * const jkt = await jwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' })
 * // 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k'
 */
export async function jwkThumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(jwk, 'sha256')
}

/**
 * Verifies a DPoP proof per RFC 9449 §4.3 and returns its key's RFC 7638 thumbprint (for cnf.jkt).
 * Every refusal is an InvalidDpopProof saying what is wrong, except a missing or stale nonce when the server requires
 * one, which is a UseDpopNonce carrying a fresh nonce for the `DPoP-Nonce` header. The proof's `jti` is claimed in
 * the shared replay cache last, so a proof refused for another reason can be corrected and sent again.
 * @example
 * const { jkt } = await verifyDpopProof(
 *   { proofs: headerValues(request, 'dpop'), method: 'POST', url: 'https://as.example.com/token', nonce: nonces },
 *   { replay, now: Date.now, iatWindowSeconds: 60 },
 * )
 * // bind the issued access token to the key: cnf: { jkt }
 */
export async function verifyDpopProof(check: DpopCheck, ctx: DpopContext): Promise<VerifiedDpop> {
  const proof = singleProof(check.proofs)
  const { alg, jwk } = checkProofHeader(proof)
  const claims = await verifySignature(proof, ctx)
  const jti = checkJti(claims.jti)
  checkHtm(claims.htm, check.method)
  checkHtu(claims.htu, check.url)
  const iat = checkIat(claims.iat, ctx)
  if (check.accessToken !== undefined) checkAth(claims.ath, check.accessToken)
  if (check.nonce !== undefined) checkNonce(claims.nonce, check.nonce)

  let jkt: string
  try {
    jkt = await jwkThumbprint(jwk)
  } catch {
    throw new InvalidDpopProof(`the DPoP proof jwk is not a valid ${alg} public key`)
  }
  // RFC 9449 §11.1: a jti is accepted once per key, on every node, for as long as its iat is inside the window. The
  // extra second covers the window's inclusive edge, where the entry would otherwise already count as expired.
  // Whole milliseconds: the store keeps expiry as a bigint, and iat may be fractional.
  const expiresAt = Math.ceil((iat + ctx.iatWindowSeconds + 1) * 1000)
  const fresh = await ctx.replay.claim(`dpop:${jkt}`, jti, expiresAt)
  if (!fresh) throw new InvalidDpopProof('the DPoP proof was already used')
  return { jkt, jwk, jti }
}

// RFC 9449 §4.3 steps 1 and 2: exactly one header value, holding one JWT. A JWS in compact form has no comma, so a
// comma means several values folded into one line (RFC 9110 §5.3).
function singleProof(proofs: readonly string[]): string {
  const [proof, ...others] = proofs
  if (proof === undefined) throw new InvalidDpopProof('a DPoP proof is required')
  if (others.length > 0 || proof.includes(',')) throw new InvalidDpopProof('only one DPoP proof may be sent')
  if (proof.length > MAX_PROOF_LENGTH) throw new InvalidDpopProof('the DPoP proof is too large')
  return proof.trim()
}

// RFC 9449 §4.3 steps 4, 5 and 7, checked on the header before any signature work.
function checkProofHeader(proof: string): { alg: string; jwk: JWK } {
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    if (proof.split('.').length !== 3) throw new TypeError('not a compact JWS')
    header = decodeProtectedHeader(proof)
  } catch {
    throw new InvalidDpopProof('the DPoP proof is not a JWT in compact form')
  }
  if (header.typ !== 'dpop+jwt') throw new InvalidDpopProof('the DPoP proof typ must be dpop+jwt')
  const alg = header.alg
  if (typeof alg !== 'string' || !DPOP_ALGORITHMS.includes(alg))
    throw new InvalidDpopProof('the DPoP proof alg must be one of the asymmetric algorithms accepted')
  const jwk: unknown = header.jwk
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk))
    throw new InvalidDpopProof('the DPoP proof header must carry the public key as jwk')
  const members = jwk as Record<string, unknown>
  const leaked = PRIVATE_JWK_MEMBERS.filter((name) => name in members)
  if (leaked.length > 0)
    throw new InvalidDpopProof(`the DPoP proof jwk must be a public key; it has ${leaked.join(', ')}`)
  const expected = KEY_TYPES[alg]
  if (
    !expected ||
    members.kty !== expected.kty ||
    (expected.crv !== undefined && members.crv !== expected.crv)
  ) {
    const needed = expected?.crv ? `${expected.kty} ${expected.crv}` : expected?.kty
    throw new InvalidDpopProof(`the DPoP proof alg ${alg} needs a ${needed} key`)
  }
  return { alg, jwk: members as JWK }
}

// RFC 9449 §4.3 step 6: the signature verifies with the key the proof carries.
async function verifySignature(proof: string, ctx: DpopContext): Promise<Record<string, unknown>> {
  try {
    const { payload } = await jwtVerify(proof, EmbeddedJWK, {
      algorithms: [...DPOP_ALGORITHMS],
      typ: 'dpop+jwt',
      currentDate: new Date(ctx.now()),
      clockTolerance: ctx.iatWindowSeconds,
    })
    return payload
  } catch (error) {
    if (error instanceof errors.JWSSignatureVerificationFailed)
      throw new InvalidDpopProof('the DPoP proof signature does not verify with its jwk')
    if (error instanceof errors.JWTExpired || error instanceof errors.JWTClaimValidationFailed)
      throw new InvalidDpopProof(`the DPoP proof ${error.claim} claim is not acceptable now`)
    throw new InvalidDpopProof('the DPoP proof is not a valid signed JWT')
  }
}

function checkJti(jti: unknown): string {
  if (typeof jti !== 'string' || jti.length === 0) throw new InvalidDpopProof('the DPoP proof needs a jti')
  if (jti.length > MAX_JTI_LENGTH)
    throw new InvalidDpopProof(`the DPoP proof jti is longer than ${MAX_JTI_LENGTH} characters`)
  // PostgreSQL text cannot hold NUL; control characters have no place in an identifier anyway.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find them
  if (/[\u0000-\u001f\u007f]/.test(jti))
    throw new InvalidDpopProof('the DPoP proof jti has control characters')
  return jti
}

// RFC 9449 §4.3 step 8. Methods are case-sensitive (RFC 9110 §9.1).
function checkHtm(htm: unknown, method: string): void {
  if (typeof htm !== 'string') throw new InvalidDpopProof('the DPoP proof needs an htm')
  if (htm !== method) throw new InvalidDpopProof('the DPoP proof htm does not match the request method')
}

// RFC 9449 §4.3 step 9: compared without query and fragment, after the URL normalization of RFC 3986 §6.2.2 and
// §6.2.3 that the WHATWG parser applies (case of scheme and host, default port, dot segments).
function checkHtu(htu: unknown, url: string): void {
  if (typeof htu !== 'string') throw new InvalidDpopProof('the DPoP proof needs an htu')
  const claimed = normalizeHtu(htu)
  if (claimed === undefined) throw new InvalidDpopProof('the DPoP proof htu is not an http(s) URL')
  if (claimed !== normalizeHtu(url))
    throw new InvalidDpopProof('the DPoP proof htu does not match the request URL')
}

function normalizeHtu(value: string): string | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
  return `${url.protocol}//${url.host}${url.pathname}`
}

// RFC 9449 §4.3 step 11 and §11.1: the proof was created recently, by a clock no further off than the window.
function checkIat(iat: unknown, ctx: DpopContext): number {
  if (typeof iat !== 'number' || !Number.isFinite(iat))
    throw new InvalidDpopProof('the DPoP proof needs an iat')
  const skew = iat - ctx.now() / 1000
  if (skew > ctx.iatWindowSeconds) throw new InvalidDpopProof('the DPoP proof was issued in the future')
  if (skew < -ctx.iatWindowSeconds) throw new InvalidDpopProof('the DPoP proof is too old')
  return iat
}

// RFC 9449 §4.3 step 12 and §7.1: at a resource, the proof names the access token it accompanies.
function checkAth(ath: unknown, accessToken: string): void {
  if (typeof ath !== 'string') throw new InvalidDpopProof('the DPoP proof needs an ath for the access token')
  const expected = createHash('sha256').update(accessToken).digest('base64url')
  if (ath !== expected) throw new InvalidDpopProof('the DPoP proof ath does not match the access token')
}

// RFC 9449 §4.3 step 10 and §8: without a nonce the server accepts, the client is told which one to use.
function checkNonce(nonce: unknown, nonces: NonNullable<DpopCheck['nonce']>): void {
  if (typeof nonce !== 'string' || !nonces.accepted(nonce)) throw new UseDpopNonce(nonces.issue())
}

const BUCKET_BYTES = 8
// 128 bits of HMAC: forging one takes 2^128 guesses, and the nonce stays short (32 characters).
const MAC_BYTES = 16
const NONCE_LENGTH = Math.ceil(((BUCKET_BYTES + MAC_BYTES) * 4) / 3)

/** Options of a DpopNonces source. */
export interface DpopNoncesOptions {
  /** Seconds a nonce is issued for; it is accepted for at least this long and at most twice. Default 300. */
  lifetimeSeconds?: number
  /** Epoch milliseconds. Default Date.now. */
  now?: () => number
}

/**
 * A nonce source (RFC 9449 §8): HMAC-based stateless nonces valid for a window, shared by every node through a key
 * (e.g. derived from the master key). A nonce is the time bucket it was issued in followed by a truncated
 * HMAC-SHA256 of that bucket; the current and the previous bucket are accepted.
 * @example
 * const nonces = new DpopNonces(masterKey.derive('dpop-nonce'), { lifetimeSeconds: 300 })
 * await verifyDpopProof({ proofs, method, url, nonce: nonces }, ctx) // UseDpopNonce carries nonces.issue()
 */
export class DpopNonces {
  readonly #key: Buffer
  readonly #lifetimeMs: number
  readonly #now: () => number

  constructor(key: Buffer, options: DpopNoncesOptions = {}) {
    // Below 128 bits the HMAC no longer keeps nonces unforgeable.
    if (key.length < 16) throw new RangeError('a DPoP nonce key needs at least 16 bytes')
    const lifetimeSeconds = options.lifetimeSeconds ?? 300
    if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds < 1)
      throw new RangeError('lifetimeSeconds must be a positive whole number')
    this.#key = Buffer.from(key)
    this.#lifetimeMs = lifetimeSeconds * 1000
    this.#now = options.now ?? Date.now
  }

  /**
   * A nonce for the current time bucket, for the `DPoP-Nonce` header.
   * @example
   * reply.header('dpop-nonce', nonces.issue())
   */
  issue(): string {
    const bucket = this.#bucketBytes(this.#currentBucket())
    return Buffer.concat([bucket, this.#mac(bucket)]).toString('base64url')
  }

  /**
   * Answers whether `value` was issued with this key in the current or the previous time bucket.
   * @example
   * nonces.accepted(nonces.issue()) // true
   */
  accepted(value: string): boolean {
    if (value.length !== NONCE_LENGTH || !/^[A-Za-z0-9_-]+$/.test(value)) return false
    const bytes = Buffer.from(value, 'base64url')
    const bucket = bytes.subarray(0, BUCKET_BYTES)
    const current = this.#currentBucket()
    const issued = bucket.readBigUInt64BE()
    if (issued !== current && issued !== current - 1n) return false
    return timingSafeEqual(bytes.subarray(BUCKET_BYTES), this.#mac(bucket))
  }

  #currentBucket(): bigint {
    return BigInt(Math.floor(this.#now() / this.#lifetimeMs))
  }

  #bucketBytes(bucket: bigint): Buffer {
    const bytes = Buffer.alloc(BUCKET_BYTES)
    bytes.writeBigUInt64BE(bucket)
    return bytes
  }

  #mac(bucket: Buffer): Buffer {
    return createHmac('sha256', this.#key)
      .update('mandate dpop nonce\u0000')
      .update(bucket)
      .digest()
      .subarray(0, MAC_BYTES)
  }
}
