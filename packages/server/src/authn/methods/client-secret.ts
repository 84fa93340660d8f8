// The shared check of both client_secret methods: constant-time comparison against every live secret hash.
import { clientSecretMatches, hashClientSecret } from '../../registry/credentials.ts'
import type { Client } from '../../registry/directory.ts'
import { parseRfc3339 } from '../../rfc3339.ts'

// Compared when the client is unknown, so that an unknown id costs the same as a wrong secret.
const DUMMY_HASH = hashClientSecret('mandate-unknown-client')

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
    if (hashes.length === 0) clientSecretMatches(secret, DUMMY_HASH)
    for (const hash of hashes) if (clientSecretMatches(secret, hash)) matched = true
  }
  return matched && client !== undefined
}
