// The shape every client authentication method shares: what it reads from a token endpoint request, what it needs,
// and the client it proves.
import type { X509Certificate } from 'node:crypto'
import type { Client, Directory } from '../../registry/directory.ts'
import type { KeySets } from '../../registry/key-sets.ts'
import type { ReplayCache } from '../../tokens/replay-cache.ts'
import type { TrustedTokenVerifier } from '../trusted-token.ts'

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
  /** Clients' registered keys (inline and jwks_uri), for private_key_jwt. */
  keySets: KeySets
  /** Workload tokens from trusted issuers, for federated assertions. */
  trustedTokens: TrustedTokenVerifier
  /** The issuer and token endpoint, one of which a self-signed assertion's `aud` must be (RFC 7523 §3). */
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
