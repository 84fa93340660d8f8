// client_secret_basic (RFC 6749 §2.3.1): legacy shared secret in the Authorization header.
import { InvalidClient } from '../../errors/oauth-error.ts'
import { verifyClientSecret } from './client-secret.ts'
import type { AuthenticatedClient, ClientAuthMethod } from './method.ts'

// RFC 6749 §2.3.1 form-encodes id and secret before Basic encoding; many clients do not. Accept both.
function formDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, '%20'))
  } catch {
    return text
  }
}

/** Parses `Basic base64(id:secret)`; undefined when the header is not Basic. */
export function parseBasic(header: string | undefined): { id: string; secrets: string[] } | undefined {
  const match = header === undefined ? null : /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header.trim())
  if (!match?.[1]) return undefined
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) throw new InvalidClient('malformed Basic credentials', 'Basic')
  const rawSecret = decoded.slice(colon + 1)
  const secret = formDecode(rawSecret)
  return {
    id: formDecode(decoded.slice(0, colon)),
    secrets: secret === rawSecret ? [secret] : [secret, rawSecret],
  }
}

export const clientSecretBasic: ClientAuthMethod = {
  name: 'client_secret_basic',
  advertises: ['client_secret_basic'],
  detect: (request) => /^Basic /i.test(request.authorization?.trim() ?? ''),
  async authenticate(request, ctx): Promise<AuthenticatedClient> {
    const credentials = parseBasic(request.authorization)
    if (!credentials) throw new InvalidClient('malformed Basic credentials', 'Basic')
    if (request.params.client_id !== undefined && request.params.client_id !== credentials.id) {
      throw new InvalidClient('client_id does not match the Basic credentials', 'Basic')
    }
    const client = ctx.directory.client(credentials.id)
    if (!verifyClientSecret(client, credentials.secrets, ctx.now()))
      throw new InvalidClient('client authentication failed', 'Basic')
    return { id: credentials.id, client, method: 'client_secret_basic' }
  },
}
