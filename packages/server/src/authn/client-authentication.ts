// Client authentication at the token endpoint: one method per file under methods/, chosen by what the request
// carries; using more than one method in a request is refused (RFC 6749 §2.3).
import type { X509Certificate } from 'node:crypto'
import { InvalidClient, InvalidRequest } from '../oauth/errors.ts'
import type { Client, Directory } from '../registry/directory.ts'
import type { JwksFetcher } from '../registry/jwks-fetcher.ts'
import { authenticationBlock } from '../registry/lifecycle.ts'
import type { ReplayCache } from '../tokens/replay-cache.ts'
import { clientSecretBasic } from './methods/client-secret-basic.ts'
import { clientSecretPost } from './methods/client-secret-post.ts'
import { privateKeyJwt } from './methods/private-key-jwt.ts'
import { tlsClientAuth } from './methods/tls-client-auth.ts'

/** Client authentication methods, as named in RFC 8414 `token_endpoint_auth_methods_supported`. */
export type ClientAuthMethodName =
  | 'client_secret_basic'
  | 'client_secret_post'
  | 'private_key_jwt'
  | 'federated_assertion'
  | 'tls_client_auth'
  | 'self_signed_tls_client_auth'

/** What client authentication reads from a token endpoint request. */
export interface ClientAuthRequest {
  /** Form parameters, each present once. */
  params: Readonly<Record<string, string | undefined>>
  /** The `Authorization` header. */
  authorization?: string | undefined
  /** The client certificate of the TLS connection (RFC 8705), when the node serves HTTPS and the client sent one. */
  certificate?: ClientCertificate | undefined
}

/** A TLS client certificate as the connection presented it. */
export interface ClientCertificate {
  x509: X509Certificate
  /** Whether it chains to the configured client CA (RFC 8705 §2.1 needs this; §2.2 does not). */
  authorized: boolean
}

/** A client that proved who it is. */
export interface AuthenticatedClient {
  id: string
  client: Client
  method: ClientAuthMethodName
  /** RFC 8705 §3: the thumbprint of the client certificate it authenticated with, to bind its tokens to. */
  certificateThumbprint?: string
}

/** What the methods need. */
export interface ClientAuthContext {
  directory: Directory
  replay: ReplayCache
  jwks: JwksFetcher
  /** The issuer and token endpoint, which an assertion's `aud` must name (RFC 7523 §3). */
  audiences: () => readonly string[]
  clockSkewSeconds: number
  now: () => number
}

/** One client authentication method. */
export interface ClientAuthMethod {
  name: ClientAuthMethodName
  /** The names metadata advertises for this method (RFC 8414 token_endpoint_auth_methods_supported). */
  advertises: readonly ClientAuthMethodName[]
  /** Whether the method needs the node to serve HTTPS with client certificates. */
  needsTls?: boolean
  /** Whether the request carries this method's credentials. */
  detect(request: ClientAuthRequest): boolean
  /** Proves the client or throws InvalidClient. */
  authenticate(request: ClientAuthRequest, ctx: ClientAuthContext): Promise<AuthenticatedClient>
}

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
 * Authenticates the client and checks that it may act now: suspended, retired or expired clients, and agents whose
 * sponsor is inactive, get invalid_client (only once they have proven who they are, so status is not disclosed).
 */
export async function authenticateActiveClient(
  request: ClientAuthRequest,
  ctx: ClientAuthContext,
): Promise<AuthenticatedClient> {
  const client = await authenticateClient(request, ctx)
  checkClientLifecycle(client, ctx)
  return client
}

/** The lifecycle check of authenticateActiveClient, for callers that authenticated otherwise. */
export function checkClientLifecycle(
  client: AuthenticatedClient,
  ctx: Pick<ClientAuthContext, 'directory' | 'now'>,
): void {
  const sponsor =
    client.client.kind === 'agent' ? ctx.directory.human(client.client.principal.sponsor) : undefined
  const block = authenticationBlock(client.client.principal, new Date(ctx.now()), sponsor)
  if (block)
    throw new InvalidClient(
      `${client.client.kind} ${client.id} cannot authenticate: ${block.replaceAll('_', ' ')}`,
    )
}
