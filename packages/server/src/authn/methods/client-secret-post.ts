// client_secret_post (RFC 6749 §2.3.1): legacy shared secret in the request body.
import { InvalidClient } from '../../errors/oauth-error.ts'
import { verifyClientSecret } from './client-secret.ts'
import type { AuthenticatedClient, ClientAuthMethod } from './method.ts'

export const clientSecretPost: ClientAuthMethod = {
  name: 'client_secret_post',
  advertises: ['client_secret_post'],
  detect: (request) => request.params.client_secret !== undefined,
  async authenticate(request, ctx): Promise<AuthenticatedClient> {
    const id = request.params.client_id
    const secret = request.params.client_secret
    if (id === undefined || secret === undefined)
      throw new InvalidClient('client_id and client_secret are required')
    const client = ctx.directory.client(id)
    if (!verifyClientSecret(client, [secret], ctx.now()))
      throw new InvalidClient('client authentication failed')
    return { id, client, method: 'client_secret_post' }
  },
}
