// The shared check of both client_secret methods: constant-time comparison against every live secret hash. The
// presented secret is hashed once, and compared as its 32-byte SHA-256 digest with each stored digest (decoded once per
// stored hash and kept): the same answer as comparing the `sha256:<hex>` forms, with less work per request.
import { createHash, timingSafeEqual } from 'node:crypto'
import { clientSecretMatches, hashClientSecret } from '../../registry/credentials.ts'
import type { Client } from '../../registry/directory.ts'
import { parseRfc3339 } from '../../rfc3339.ts'

// Compared when the client is unknown, so that an unknown id costs the same as a wrong secret.
const DUMMY_HASH = hashClientSecret('mandate-unknown-client')

const STORED = /^sha256:[0-9a-f]{64}$/
// The digest a stored hash holds, or undefined when it is not of the form hashClientSecret writes.
function storedDigest(stored: string): Buffer | undefined {
  return STORED.test(stored) ? Buffer.from(stored.slice(7), 'hex') : undefined
}

function matches(secret: string, presented: Buffer, stored: string): boolean {
  const digest = storedDigest(stored)
  return digest ? timingSafeEqual(presented, digest) : clientSecretMatches(secret, stored)
}

/** Whether one of `secrets` matches a live client_secret binding of `client`. Constant time per comparison. */
export function verifyClientSecret(
  client: Client | undefined,
  secrets: readonly string[],
  now: number,
): client is Client {
  const hashes = (client?.principal.credentials ?? []).flatMap((c) =>
    c.type === 'client_secret' &&
    c.secret_hash !== undefined &&
    (c.expires_at === undefined || (parseRfc3339(c.expires_at) ?? 0) > now)
      ? [c.secret_hash]
      : [],
  )
  let matched = false
  for (const secret of secrets) {
    const presented = createHash('sha256').update(secret).digest()
    if (hashes.length === 0) matches(secret, presented, DUMMY_HASH)
    for (const hash of hashes) if (matches(secret, presented, hash)) matched = true
  }
  return matched && client !== undefined
}
