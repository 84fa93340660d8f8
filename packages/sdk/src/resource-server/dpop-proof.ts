// DPoP proofs at a resource server (RFC 9449 §4.3 and §7.1): the checklist a proof must pass before a DPoP-bound
// access token is accepted with it, in the order the RFC gives, the replay check last so that a proof refused for
// another reason can be corrected and sent again.

import { createHash } from 'node:crypto'
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, errors, type JWK, jwtVerify } from 'jose'
import { ASYMMETRIC_ALGORITHMS } from '../algorithms.js'

/**
 * Nonces a resource server hands out and accepts (RFC 9449 §9). With one, every proof must carry a nonce it
 * accepts, and a proof without one is refused with `use_dpop_nonce` and a fresh nonce.
 * @example
 * let current = randomUUID()
 * setInterval(() => { current = randomUUID() }, 300_000).unref()
 * const dpopNonce: DpopNonceSource = { issue: () => current, accepts: (nonce) => nonce === current }
 */
export interface DpopNonceSource {
  /** A nonce to send in `DPoP-Nonce`. */
  issue(): string
  /** Whether a proof's nonce is one this server currently accepts. */
  accepts(nonce: string): boolean
}

/** What a proof is checked against. */
export interface DpopProofCheck {
  /** Every `DPoP` header value of the request. */
  proofs: readonly string[]
  method: string
  url: string
  accessToken: string
  /** The `cnf.jkt` of the access token: the proof must be signed by that key. */
  jkt: string
  nonce: DpopNonceSource | undefined
  windowSeconds: number
  replay: { claim(key: string, expiresAt: number): boolean | Promise<boolean> }
}

/** A refused proof: `use_dpop_nonce` when only the nonce is missing or stale, with the nonce to use. */
export class DpopProofRefused extends Error {
  constructor(
    message: string,
    readonly nonce?: string,
  ) {
    super(message)
  }
}

// A proof carries one public key and a handful of claims; 8 KiB holds an RSA-4096 proof with room to spare.
const MAX_PROOF_LENGTH = 8192
const MAX_JTI_LENGTH = 256
const ALGORITHMS: readonly string[] = ASYMMETRIC_ALGORITHMS
// RFC 7517 §9.2 and RFC 7518 §6: members only a private or symmetric key has; a proof's jwk must have none.
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth', 'priv']
// The key type (and curve) each algorithm needs (RFC 7518 §3, RFC 8037 §3.1).
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
 * Verifies the DPoP proof of a request carrying a DPoP-bound access token; throws DpopProofRefused saying why.
 * @example
 * await verifyDpopProof({ proofs, method: 'GET', url, accessToken, jkt: claims.cnf.jkt, nonce: undefined, windowSeconds: 90, replay })
 */
export async function verifyDpopProof(check: DpopProofCheck): Promise<void> {
  const proof = singleProof(check.proofs)
  const jwk = checkHeader(proof)
  const claims = await verifySignature(proof, check.windowSeconds)
  const jti = checkJti(claims.jti)
  if (claims.htm !== check.method)
    throw new DpopProofRefused('the DPoP proof htm does not match the request method')
  checkHtu(claims.htu, check.url)
  const iat = checkIat(claims.iat, check.windowSeconds)
  // §7.1: at a resource, the proof names the access token it goes with.
  const ath = createHash('sha256').update(check.accessToken).digest('base64url')
  if (claims.ath !== ath) throw new DpopProofRefused('the DPoP proof ath does not match the access token')
  // §9: a nonce this server accepts, when it requires one.
  if (check.nonce && (typeof claims.nonce !== 'string' || !check.nonce.accepts(claims.nonce)))
    throw new DpopProofRefused('a DPoP nonce is required', check.nonce.issue())
  let jkt: string
  try {
    jkt = await calculateJwkThumbprint(jwk, 'sha256')
  } catch {
    throw new DpopProofRefused('the DPoP proof jwk is not a valid public key')
  }
  if (jkt !== check.jkt)
    throw new DpopProofRefused('the DPoP proof is signed by a key the token is not bound to')
  // §11.1: accepted once per key while its iat is inside the window; the extra second covers the window's edge.
  const expiresAt = Math.ceil((iat + check.windowSeconds + 1) * 1000)
  if (!(await check.replay.claim(`${jkt}:${jti}`, expiresAt)))
    throw new DpopProofRefused('the DPoP proof was already used')
}

// §4.3 steps 1 and 2: exactly one header holding one JWT. A compact JWS has no comma, so a comma means several values
// folded into one line (RFC 9110 §5.3).
function singleProof(proofs: readonly string[]): string {
  const [proof, ...others] = proofs
  if (proof === undefined || proof.trim() === '') throw new DpopProofRefused('a DPoP proof is required')
  if (others.length > 0 || proof.includes(',')) throw new DpopProofRefused('only one DPoP proof may be sent')
  if (proof.length > MAX_PROOF_LENGTH) throw new DpopProofRefused('the DPoP proof is too large')
  return proof.trim()
}

// §4.3 steps 4, 5 and 7, checked on the header before any signature work.
function checkHeader(proof: string): JWK {
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    if (proof.split('.').length !== 3) throw new TypeError('not a compact JWS')
    header = decodeProtectedHeader(proof)
  } catch {
    throw new DpopProofRefused('the DPoP proof is not a JWT in compact form')
  }
  if (header.typ !== 'dpop+jwt') throw new DpopProofRefused('the DPoP proof typ must be dpop+jwt')
  const alg = header.alg
  if (typeof alg !== 'string' || !ALGORITHMS.includes(alg))
    throw new DpopProofRefused('the DPoP proof alg must be an asymmetric algorithm')
  const jwk: unknown = header.jwk
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk))
    throw new DpopProofRefused('the DPoP proof header must carry the public key as jwk')
  const members = jwk as Record<string, unknown>
  if (PRIVATE_JWK_MEMBERS.some((name) => name in members))
    throw new DpopProofRefused('the DPoP proof jwk must be a public key')
  const expected = KEY_TYPES[alg]
  if (
    !expected ||
    members.kty !== expected.kty ||
    (expected.crv !== undefined && members.crv !== expected.crv)
  )
    throw new DpopProofRefused(`the DPoP proof alg ${alg} does not match its jwk`)
  return members as JWK
}

// §4.3 step 6: the signature verifies with the key the proof carries; iat is checked again below, both ways.
async function verifySignature(proof: string, windowSeconds: number): Promise<Record<string, unknown>> {
  try {
    const { payload } = await jwtVerify(proof, EmbeddedJWK, {
      algorithms: [...ALGORITHMS],
      typ: 'dpop+jwt',
      clockTolerance: windowSeconds,
    })
    return payload
  } catch (error) {
    if (error instanceof errors.JWSSignatureVerificationFailed)
      throw new DpopProofRefused('the DPoP proof signature does not verify with its jwk')
    throw new DpopProofRefused('the DPoP proof is not a valid signed JWT')
  }
}

function checkJti(jti: unknown): string {
  if (typeof jti !== 'string' || jti.length === 0) throw new DpopProofRefused('the DPoP proof needs a jti')
  if (jti.length > MAX_JTI_LENGTH) throw new DpopProofRefused('the DPoP proof jti is too long')
  return jti
}

// §4.3 step 9: compared without query and fragment, after the normalization the WHATWG URL parser applies.
function checkHtu(htu: unknown, url: string): void {
  if (typeof htu !== 'string') throw new DpopProofRefused('the DPoP proof needs an htu')
  const claimed = normalizeHtu(htu)
  if (claimed === undefined || claimed !== normalizeHtu(url))
    throw new DpopProofRefused('the DPoP proof htu does not match the request URL')
}

function normalizeHtu(value: string): string | undefined {
  try {
    const url = new URL(value)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
    return `${url.protocol}//${url.host}${url.pathname}`
  } catch {
    return undefined
  }
}

// §4.3 step 11 and §11.1: made recently, by a clock no further off than the window.
function checkIat(iat: unknown, windowSeconds: number): number {
  if (typeof iat !== 'number' || !Number.isFinite(iat))
    throw new DpopProofRefused('the DPoP proof needs an iat')
  const skew = iat - Date.now() / 1000
  if (skew > windowSeconds) throw new DpopProofRefused('the DPoP proof was issued in the future')
  if (skew < -windowSeconds) throw new DpopProofRefused('the DPoP proof is too old')
  return iat
}
