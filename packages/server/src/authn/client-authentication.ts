// Client authentication at the token endpoint: one method per file under methods/, chosen by what the request
// carries; using more than one method in a request is refused (RFC 6749 §2.3).
import { InvalidClient, InvalidRequest } from '../errors/oauth-error.ts'
import { lifecycleBlock } from '../registry/gates.ts'
import { clientSecretBasic } from './methods/client-secret-basic.ts'
import { clientSecretPost } from './methods/client-secret-post.ts'
import type {
  AuthenticatedClient,
  ClientAuthContext,
  ClientAuthMethod,
  ClientAuthRequest,
} from './methods/method.ts'
import { privateKeyJwt } from './methods/private-key-jwt.ts'
import { tlsClientAuth } from './methods/tls-client-auth.ts'

export type {
  AuthenticatedClient,
  ClientAuthContext,
  ClientAuthMethod,
  ClientAuthMethodName,
  ClientAuthRequest,
  ClientCertificate,
} from './methods/method.ts'

/** The registered methods, in the order metadata lists them. */
export const clientAuthMethods: readonly ClientAuthMethod[] = [
  privateKeyJwt,
  tlsClientAuth,
  clientSecretBasic,
  clientSecretPost,
]

/** Finds the one method the request uses and runs it. Lifecycle checks come after, once the client is proven. */
export async function authenticateClient(
  request: ClientAuthRequest,
  ctx: ClientAuthContext,
): Promise<AuthenticatedClient> {
  const used = clientAuthMethods.filter((method) => method.detect(request))
  if (used.length > 1)
    throw new InvalidRequest(
      `more than one client authentication method used (${used.map((m) => m.name).join(', ')})`,
    )
  const method = used[0]
  if (!method) throw new InvalidClient('client authentication is required')
  return method.authenticate(request, ctx)
}

/** Whether the request carries any client credentials at all (the jwt-bearer grant must carry none). */
export function carriesClientCredentials(request: ClientAuthRequest): boolean {
  return clientAuthMethods.some((method) => method.detect(request))
}

/**
 * Authenticates the client and checks that it may act now: suspended, retired or expired clients, agents whose
 * sponsor is inactive and sub-agents whose parent or any ancestor is any of these get invalid_client (only once they
 * have proven who they are, so status is not disclosed).
 */
export async function authenticateActiveClient(
  request: ClientAuthRequest,
  ctx: ClientAuthContext,
): Promise<AuthenticatedClient> {
  const client = await authenticateClient(request, ctx)
  checkClientLifecycle(client, ctx)
  return client
}

/** The lifecycle check of authenticateActiveClient, for callers that authenticated otherwise (the same gate policies run behind). */
export function checkClientLifecycle(
  client: AuthenticatedClient,
  ctx: Pick<ClientAuthContext, 'directory' | 'now'>,
): void {
  const block = lifecycleBlock(ctx.directory, client.client, new Date(ctx.now()))
  if (block)
    throw new InvalidClient(`${client.client.kind} ${client.id} cannot authenticate: ${block.message}`)
}
