// Private keys as callers hold them (Node.js KeyObject, Web Crypto CryptoKey, private JWK, PEM text or a key file),
// checked once and turned into a signer with a JWS algorithm a Mandate node accepts.

import { createPrivateKey, createPublicKey, KeyObject, type webcrypto } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { importJWK, type JWK } from 'jose'
import { ASYMMETRIC_ALGORITHMS } from './algorithms.js'

/**
 * A JSON Web Key (RFC 7517): `kty` and the members of its key type (`crv`, `x`, `y`, `n`, `e`, and `d` and the
 * other private members for a private key), optionally `kid` and `alg`.
 * @example
 * const jwk: Jwk = { kty: 'EC', crv: 'P-256', x: '…', y: '…', kid: 'k1' }
 */
export interface Jwk {
  /** Required; optional in the type so that JWKs typed by other libraries (jose's `JWK`) fit. */
  kty?: string
  kid?: string
  alg?: string
  use?: string
  crv?: string
  x?: string
  y?: string
  n?: string
  e?: string
  d?: string
  [member: string]: unknown
}

/**
 * A private key as Node.js, Web Crypto or JOSE holds it: a `KeyObject`, a `CryptoKey`, a private JWK (with `d`), or
 * text: PEM (PKCS #8, SEC 1 `EC PRIVATE KEY` or PKCS #1 `RSA PRIVATE KEY`, not encrypted) or a private JWK as JSON.
 * @example
 * const key: PrivateKeyInput = readFileSync('agent-key.pem', 'utf8')
 */
export type PrivateKeyInput = KeyObject | webcrypto.CryptoKey | Jwk | string

/** A key ready to sign with, and its JWS algorithm. */
export interface Signer {
  alg: string
  /** The key; a JWK is imported on first use. */
  key: () => Promise<KeyObject | webcrypto.CryptoKey>
  /** The public key, when it can be derived (not from a non-extractable CryptoKey). */
  publicJwk: Jwk | undefined
}

const ACCEPTED_ALGORITHMS: ReadonlySet<string> = new Set(ASYMMETRIC_ALGORITHMS)
const EC_ALGORITHMS: Record<string, string> = {
  'P-256': 'ES256',
  prime256v1: 'ES256',
  'P-384': 'ES384',
  secp384r1: 'ES384',
  'P-521': 'ES512',
  secp521r1: 'ES512',
}
// RFC 7638 §3.2: the members of a public key; nothing else of a key is ever sent.
const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
  RSA: ['kty', 'n', 'e'],
}

/**
 * Reads a private key file: PEM or a private JWK as JSON. Throws a TypeError naming `name` and the path (never the
 * contents) when the file cannot be read or holds no private key.
 * @example
 * const key = readPrivateKeyFile('/var/run/secrets/agent-key.pem', 'credential.privateKeyFile')
 */
export function readPrivateKeyFile(path: string, name: string): KeyObject | Jwk {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError(`${name} must be a file path`)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    const code = (error as { code?: unknown }).code
    throw new TypeError(`${name}: cannot read ${path}${typeof code === 'string' ? ` (${code})` : ''}`)
  }
  return parsePrivateKeyText(text, `${name} (${path})`)
}

/**
 * A signer for `input`, checked now: a private key, of a type whose JWS algorithm a Mandate node accepts. `alg`
 * overrides the algorithm read from the key (a JWK's `alg`, else ES256/ES384/ES512 for P-256/P-384/P-521, EdDSA for
 * Ed25519, RS256 for RSA, PS256 for RSA-PSS).
 * @example
 * const signer = signerFor(readFileSync('key.pem', 'utf8'), undefined, 'credential.privateKey')
 */
export function signerFor(input: PrivateKeyInput, alg: string | undefined, name: string): Signer {
  const key = typeof input === 'string' ? parsePrivateKeyText(input, name) : input
  const algorithm = alg ?? algorithmOf(key, name)
  if (!ACCEPTED_ALGORITHMS.has(algorithm))
    throw new TypeError(`${name}: ${algorithm} is not an asymmetric JWS algorithm a Mandate node accepts`)
  if (key instanceof KeyObject) {
    if (key.type !== 'private') throw new TypeError(`${name} must be a private key`)
    return { alg: algorithm, key: async () => key, publicJwk: publicJwkOf(key, name) }
  }
  if (isJwk(key)) {
    if (typeof key.d !== 'string') throw new TypeError(`${name} must be a private JWK (with d)`)
    const publicJwk = publicMembers(key, name)
    let imported: Promise<KeyObject | webcrypto.CryptoKey> | undefined
    return {
      alg: algorithm,
      publicJwk,
      key: () => {
        imported ??= importJWK(key as JWK, algorithm).then((k) => {
          if (k instanceof Uint8Array) throw new TypeError(`${name} must be an asymmetric key`)
          return k as KeyObject | webcrypto.CryptoKey
        })
        return imported
      },
    }
  }
  if (key.type !== 'private') throw new TypeError(`${name} must be a private key`)
  return {
    alg: algorithm,
    key: async () => key,
    publicJwk: key.extractable ? publicJwkOf(KeyObject.from(key), name) : undefined,
  }
}

/**
 * The public members of a JWK (RFC 7638 §3.2), or a TypeError when it is not an EC, OKP or RSA key.
 * @example
 * publicMembers({ kty: 'OKP', crv: 'Ed25519', x: '…', d: '…' }, 'key') // { kty: 'OKP', crv: 'Ed25519', x: '…' }
 */
export function publicMembers(jwk: Jwk, name: string): Jwk {
  const members = typeof jwk.kty === 'string' ? PUBLIC_MEMBERS[jwk.kty] : undefined
  if (!members) throw new TypeError(`${name} must be an EC, OKP or RSA key`)
  const result: Jwk = {}
  for (const member of members) {
    if (typeof jwk[member] !== 'string') throw new TypeError(`${name} has no ${member}`)
    result[member] = jwk[member]
  }
  return result
}

/**
 * Whether `value` looks like a JWK: an object with a string `kty` that is not a KeyObject.
 * @example
 * isJwk({ kty: 'EC' }) // true
 */
export function isJwk(value: unknown): value is Jwk {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof KeyObject) &&
    typeof (value as { kty?: unknown }).kty === 'string'
  )
}

/**
 * The JWS algorithm a key signs with by default; a TypeError when it cannot be told.
 * @example
 * algorithmOf({ kty: 'EC', crv: 'P-384' }, 'key') // 'ES384'
 */
export function algorithmOf(input: KeyObject | webcrypto.CryptoKey | Jwk, name: string): string {
  let found: string | undefined
  if (input instanceof KeyObject) {
    const type = input.asymmetricKeyType
    if (type === 'ec') found = EC_ALGORITHMS[String(input.asymmetricKeyDetails?.namedCurve)]
    else if (type === 'ed25519') found = 'EdDSA'
    else if (type === 'rsa') found = 'RS256'
    else if (type === 'rsa-pss') found = 'PS256'
  } else if (isJwk(input)) {
    if (typeof input.alg === 'string') found = input.alg
    else if (input.kty === 'EC') found = EC_ALGORITHMS[String(input.crv)]
    else if (input.kty === 'OKP' && input.crv === 'Ed25519') found = 'EdDSA'
    else if (input.kty === 'RSA') found = 'RS256'
  } else {
    const algorithm = input.algorithm as { name: string; namedCurve?: unknown; hash?: { name?: unknown } }
    const bits = String(algorithm.hash?.name ?? '').replace('SHA-', '')
    if (algorithm.name === 'ECDSA') found = EC_ALGORITHMS[String(algorithm.namedCurve)]
    else if (algorithm.name === 'Ed25519') found = 'EdDSA'
    else if (algorithm.name === 'RSASSA-PKCS1-v1_5') found = `RS${bits}`
    else if (algorithm.name === 'RSA-PSS') found = `PS${bits}`
  }
  if (!found) throw new TypeError(`${name}: cannot tell its JWS algorithm; pass alg`)
  return found
}

// PEM, or a JWK as JSON (what an environment variable or a secrets mount usually holds). Errors never quote the text.
function parsePrivateKeyText(text: string, name: string): KeyObject | Jwk {
  const trimmed = text.trim()
  if (trimmed.startsWith('{')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(trimmed)
    } catch {
      throw new TypeError(`${name} is neither PEM nor a JWK in JSON`)
    }
    if (!isJwk(parsed)) throw new TypeError(`${name} is JSON but not a JWK`)
    if (typeof parsed.d !== 'string') throw new TypeError(`${name} must be a private JWK (with d)`)
    return parsed
  }
  if (!trimmed.startsWith('-----BEGIN ')) throw new TypeError(`${name} is neither PEM nor a JWK in JSON`)
  if (/-----BEGIN (RSA |EC )?PUBLIC KEY-----|-----BEGIN CERTIFICATE-----/.test(trimmed))
    throw new TypeError(`${name} is a public key or certificate; the private key is needed`)
  if (trimmed.includes('ENCRYPTED')) throw new TypeError(`${name} is encrypted; give the key unencrypted`)
  try {
    return createPrivateKey({ key: trimmed, format: 'pem' })
  } catch {
    throw new TypeError(`${name} is not a private key in PEM`)
  }
}

function publicJwkOf(key: KeyObject, name: string): Jwk | undefined {
  const jwk = createPublicKey(key).export({ format: 'jwk' }) as Jwk
  return typeof jwk.kty === 'string' && PUBLIC_MEMBERS[jwk.kty] ? publicMembers(jwk, name) : undefined
}
