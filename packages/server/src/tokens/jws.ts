// Compact JWS signing (RFC 7515 §7.1) with node:crypto: measured here at about twice jose's speed for ES256, which
// matters on the token endpoint. Verification stays with jose.
import { sign } from 'node:crypto'
import type { SigningKey } from './key-ring.ts'

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

// The encoded protected header of each key and `typ`: the same few on every token, so encoded once.
const headers = new WeakMap<SigningKey, Map<string, string>>()

function headerOf(key: SigningKey, typ: string): string {
  let byTyp = headers.get(key)
  if (!byTyp) {
    byTyp = new Map()
    headers.set(key, byTyp)
  }
  let header = byTyp.get(typ)
  if (header === undefined) {
    header = encode({ alg: key.alg, kid: key.kid, typ })
    byTyp.set(typ, header)
  }
  return header
}

/**
 * Signs `payload` with the ring's key, with `typ` in the protected header.
 * @example
 * const jwt = signJws(keyRing.signingKey(), 'at+jwt', { iss, sub, aud, exp, iat, jti })
 */
export function signJws(key: SigningKey, typ: string, payload: Record<string, unknown>): string {
  const input = `${headerOf(key, typ)}.${encode(payload)}`
  const data = Buffer.from(input)
  // ES256 signatures in JWS are the raw r||s concatenation (RFC 7518 §3.4), which ieee-p1363 produces.
  const signature =
    key.alg === 'ES256'
      ? sign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
      : key.alg === 'EdDSA'
        ? sign(null, data, key.privateKey)
        : sign('sha256', data, key.privateKey)
  return `${input}.${signature.toString('base64url')}`
}
