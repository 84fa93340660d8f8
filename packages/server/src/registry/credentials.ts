// Checks credential bindings on write and issues legacy client secrets, of which only a SHA-256 hash is kept.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { importJWK } from 'jose'
import { canonicalJson } from '../audit/canonical-json.ts'
import type { FieldError } from '../errors/mandate-error.ts'
import { normalizeRfc3339 } from '../rfc3339.ts'
import { type JwksFetcher, PRIVATE_KEY_MEMBERS } from './jwks-fetcher.ts'
import type { CredentialBinding } from './model.ts'

/** The smallest RSA modulus accepted, in bits (RFC 7518 §3.3 requires 2048 for RS256). */
const MIN_RSA_BITS = 2048

/**
 * Checks that every key is a public, importable signing key (RSA at least 2048 bits), as registered key sets must be.
 * Returns one field error per bad key, under `path`.
 */
export async function checkPublicJwks(
  keys: ReadonlyArray<Record<string, unknown>>,
  path: string,
): Promise<FieldError[]> {
  const fields: FieldError[] = []
  for (const [k, key] of keys.entries()) {
    const at = `${path}/${k}`
    if (PRIVATE_KEY_MEMBERS.some((member) => member in key)) {
      fields.push({ path: at, message: 'must be a public key (private key members are refused)' })
      continue
    }
    if (
      key.kty === 'RSA' &&
      (typeof key.n !== 'string' || Buffer.from(key.n, 'base64url').length * 8 < MIN_RSA_BITS)
    ) {
      fields.push({ path: at, message: `must be an RSA key of at least ${MIN_RSA_BITS} bits` })
      continue
    }
    try {
      await importJWK(
        key as Parameters<typeof importJWK>[0],
        typeof key.alg === 'string' ? key.alg : defaultAlg(key as { kty: string; crv?: unknown }),
      )
    } catch {
      fields.push({ path: at, message: 'is not a valid public JWK' })
    }
  }
  return fields
}

/** A client secret shown once to whoever created it. */
export interface IssuedSecret {
  credential: string
  client_secret: string
}

/** Hashes a client secret for storage and comparison: secrets are 256-bit random, so SHA-256 suffices (no password hash). */
export function hashClientSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret).digest('hex')}`
}

/** Compares a presented secret with a stored hash in constant time. */
export function clientSecretMatches(secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashClientSecret(secret))
  const stored = Buffer.from(storedHash)
  return presented.length === stored.length && timingSafeEqual(presented, stored)
}

/**
 * Checks and completes the bindings of a workload or agent: keys must be public and importable, URLs safe, federated
 * issuers trusted; client secrets keep their hash from `previous` or get a new secret, returned once in `issued`.
 */
export async function prepareCredentials(
  bindings: CredentialBinding[],
  previous: CredentialBinding[],
  deps: { jwks: Pick<JwksFetcher, 'validateUri'>; trustedWorkloadIssuers: Set<string> },
): Promise<{ bindings: CredentialBinding[]; issued: IssuedSecret[]; fields: FieldError[] }> {
  const fields: FieldError[] = []
  const issued: IssuedSecret[] = []
  const secretIds = new Set<string>()
  const prepared: CredentialBinding[] = []
  for (const [index, binding] of bindings.entries()) {
    const path = `/credentials/${index}`
    switch (binding.type) {
      case 'jwks':
        fields.push(...(await checkPublicJwks(binding.jwks.keys, `${path}/jwks/keys`)))
        prepared.push(binding)
        break
      case 'jwks_uri':
        try {
          deps.jwks.validateUri(binding.jwks_uri)
        } catch (error) {
          fields.push({ path: `${path}/jwks_uri`, message: (error as Error).message })
        }
        prepared.push(binding)
        break
      case 'certificate':
        if ((binding.subject_dn === undefined) === (binding['x5t#S256'] === undefined)) {
          fields.push({ path, message: 'must name exactly one of subject_dn or x5t#S256' })
        }
        prepared.push(binding)
        break
      case 'federated':
        // Only new bindings are checked, so that a principal stays writable (e.g. retirable) after its issuer is gone.
        if (
          !deps.trustedWorkloadIssuers.has(binding.issuer) &&
          !previous.some((p) => canonicalJson(p) === canonicalJson(binding))
        ) {
          fields.push({
            path: `${path}/issuer`,
            message: 'is not a registered TrustedIssuer of kind workload',
          })
        }
        prepared.push(binding)
        break
      case 'client_secret': {
        if (secretIds.has(binding.id))
          fields.push({ path: `${path}/id`, message: 'names another client_secret of this client' })
        secretIds.add(binding.id)
        const kept = previous.find(
          (p): p is typeof binding => p.type === 'client_secret' && p.id === binding.id,
        )
        // The hash is Mandate's to set: a caller may only hand back the one already stored.
        if (binding.secret_hash !== undefined && binding.secret_hash !== kept?.secret_hash) {
          fields.push({ path: `${path}/secret_hash`, message: 'is set by Mandate; omit it' })
        }
        const expires =
          binding.expires_at === undefined
            ? {}
            : { expires_at: normalizeRfc3339(binding.expires_at) ?? binding.expires_at }
        if (kept?.secret_hash !== undefined) {
          prepared.push({ ...binding, ...expires, secret_hash: kept.secret_hash })
        } else {
          const secret = `mnd_cs_${randomBytes(32).toString('base64url')}`
          issued.push({ credential: binding.id, client_secret: secret })
          prepared.push({ ...binding, ...expires, secret_hash: hashClientSecret(secret) })
        }
        break
      }
    }
  }
  return { bindings: prepared, issued, fields }
}

function defaultAlg(key: { kty: string; crv?: unknown }): string {
  if (key.kty === 'RSA') return 'RS256'
  if (key.kty === 'OKP') return 'EdDSA'
  if (key.crv === 'P-384') return 'ES384'
  if (key.crv === 'P-521') return 'ES512'
  return 'ES256'
}
