// The shape every grant shares: what it reads from the request, what it needs, what it returns.
import type { AuditEventInput } from '../../audit/event.ts'
import type { AuthenticatedClient, ClientAuthContext } from '../../authn/client-authentication.ts'
import type { Directory } from '../../registry/directory.ts'
import type { JwksFetcher } from '../../registry/jwks-fetcher.ts'
import type { AccessTokenMinter } from '../../tokens/access-token.ts'
import type { Revocations } from '../../tokens/revocations.ts'
import type { TokenVerifier } from '../../tokens/token-verifier.ts'

/** A token request after parsing: single-valued parameters plus the repeatable ones. */
export interface TokenRequest {
  params: Readonly<Record<string, string | undefined>>
  /** RFC 8707 `resource`, repeatable. */
  resources: string[]
  /** RFC 8693 `audience`, repeatable. */
  audiences: string[]
  /** RFC 9449: the thumbprint of the key a valid DPoP proof on this request demonstrated; the token is bound to it. */
  dpopJkt?: string | undefined
}

/** What grants need. */
export interface GrantContext {
  directory: Directory
  minter: AccessTokenMinter
  /** This deployment's issuer identifier. */
  issuer: () => string
  /** Verifies tokens this deployment issued (subject and actor tokens of an exchange). */
  verifier: TokenVerifier
  /** Revoked subject and actor tokens are refused. */
  revocations: Revocations
  /** Fetches trusted issuers' key sets. */
  jwks: JwksFetcher
  /** Audiences an external token may name when its issuer registers none: this server's issuer and token endpoint. */
  audiences: () => readonly string[]
  maxTokenLifetimeSeconds: number
  /** The deepest act chain a token may carry (RFC 8693 §4.1). */
  maxDelegationDepth: number
  clockSkewSeconds: number
  now: () => number
  /** Client authentication, for grants whose assertion identifies the client (jwt-bearer). */
  clientAuth: ClientAuthContext
}

/** The token endpoint's successful answer (RFC 6749 §5.1, RFC 8693 §2.2.1). */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer' | 'DPoP' | 'N_A'
  expires_in: number
  scope?: string
  issued_token_type?: string
  authorization_details?: Array<Record<string, unknown>>
}

/** A grant's result: the response and the audit record that must be durable before it is sent. */
export interface GrantResult {
  response: TokenResponse
  audit: AuditEventInput
}

/** One grant type, in one file, registered in grants/index.ts. */
export interface Grant {
  /** The `grant_type` value. */
  type: string
  /** Whether the client must authenticate (RFC 7523 §2.1's jwt-bearer grant authenticates by its assertion). */
  clientAuthentication: 'required' | 'none'
  handle(
    request: TokenRequest,
    client: AuthenticatedClient | undefined,
    ctx: GrantContext,
  ): Promise<GrantResult>
}

/** The confirmation claim of a token for this request (RFC 7800): the DPoP key (RFC 9449 §6), else the client's certificate (RFC 8705 §3). */
export function boundTo(
  request: TokenRequest,
  client: AuthenticatedClient,
): { cnf?: { jkt: string } | { 'x5t#S256': string } } {
  if (request.dpopJkt) return { cnf: { jkt: request.dpopJkt } }
  if (client.certificateThumbprint) return { cnf: { 'x5t#S256': client.certificateThumbprint } }
  return {}
}
