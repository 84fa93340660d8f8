// The shape every grant shares: what it reads from the request, what it needs, what it returns.
import { ApprovalRefused, type Approvals } from '../../approvals/approvals.ts'
import type { RecordEffect } from '../../audit/audit-batcher.ts'
import type { AuditEventInput } from '../../audit/event.ts'
import type { AuthenticatedClient, ClientAuthContext } from '../../authn/client-authentication.ts'
import type { TrustedTokenVerifier } from '../../authn/trusted-token.ts'
import {
  AccessDenied,
  ApprovalRequired,
  InvalidAuthorizationDetails,
  InvalidRequest,
  InvalidScope,
} from '../../errors/oauth-error.ts'
import type { Mandates } from '../../mandates/mandates.ts'
import type { RecordedDecision } from '../../policy/pdp.ts'
import type { TokenAuthorization, TokenAuthorizationRequest, TokenPolicy } from '../../policy/token-policy.ts'
import type { Directory } from '../../registry/directory.ts'
import { beyondCeiling } from '../../registry/gates.ts'
import type { HumanIdentities } from '../../registry/human-identities.ts'
import type { ResourceServer } from '../../registry/model.ts'
import type { AuthorizationStore } from '../../store/authorization-store.ts'
import type { Database } from '../../store/database.ts'
import type { AccessTokenMinter } from '../../tokens/access-token.ts'
import type { Revocations } from '../../tokens/revocations.ts'
import type { TokenVerifier } from '../../tokens/token-verifier.ts'
import type { TransactionTokenClaims, TransactionTokenGrant } from '../../tokens/txn-token.ts'

/** A token request after parsing: single-valued parameters plus the repeatable ones. */
export interface TokenRequest {
  params: Readonly<Record<string, string | undefined>>
  /** RFC 8707 `resource`, repeatable. */
  resources: string[]
  /** RFC 8693 `audience`, repeatable. */
  audiences: string[]
  /** RFC 9449: the thumbprint of the key a valid DPoP proof on this request demonstrated; the token is bound to it. */
  dpopJkt?: string | undefined
  /**
   * RFC 8705 §3.1: the thumbprint of the client certificate the TLS connection presented, whether or not the client
   * authenticated with it (a certificate-bound subject token needs it).
   */
  certificateThumbprint?: string | undefined
  /** Where the request came from, for policies (`context.client_ip`) and the audit record. */
  clientIp?: string | undefined
  requestId?: string | undefined
  traceparent?: string | undefined
  /**
   * The policy decisions made for this request, set when they are made: the token endpoint writes them into the
   * issuance's or the refusal's record (one durable write per token).
   */
  decisions?: RecordedDecision[] | undefined
}

/** What grants need. */
export interface GrantContext {
  directory: Directory
  /** Which registered human a human IdP's token names (binding on a first login matched by verified email). */
  humans: Pick<HumanIdentities, 'resolve'>
  minter: AccessTokenMinter
  /** This deployment's issuer identifier. */
  issuer: () => string
  /** Verifies tokens this deployment issued (subject and actor tokens of an exchange). */
  verifier: TokenVerifier
  /** Revoked subject and actor tokens are refused. */
  revocations: Revocations
  /** Verifies tokens of trusted issuers (a human's token from the company IdP). */
  trustedTokens: TrustedTokenVerifier
  maxTokenLifetimeSeconds: number
  /** The deepest act chain a token may carry (RFC 8693 §4.1). */
  maxDelegationDepth: number
  clockSkewSeconds: number
  now: () => number
  /** Client authentication, for grants whose assertion identifies the client (jwt-bearer). */
  clientAuth: ClientAuthContext
  /** The policy decisions every scope and authorization detail needs (a token's are carried in its own record). */
  policy: Pick<TokenPolicy, 'authorize' | 'decideForIssuance'>
  /** Approval requests: opened when a policy asks for one, polled and redeemed with the CIBA grant. */
  approvals: Pick<Approvals, 'open' | 'poll'>
  /** The longest a token issued on an approval lives (seconds). */
  approvalTokenLifetimeSeconds: number
  /** CIBA §7.3 `interval` of a new approval request (seconds). */
  pollIntervalSeconds: number
  /** Delegated exchanges need a mandate covering them; issuing spends its budget (the record's effect). */
  mandates: Pick<Mandates, 'cover' | 'get'>
  /** The authorization code flow: codes, refresh token families, and the mandates they are bound to. */
  codeFlow: CodeFlowContext
  /** Transaction tokens: the trust domain, their lifetime, and minting with the ring's key. */
  txn: {
    trustDomain: () => string
    lifetimeSeconds: number
    mint: (grant: TransactionTokenGrant) => { token: string; claims: TransactionTokenClaims }
  }
}

/** What the authorization_code and refresh_token grants need: where codes and refresh token families are kept. */
export interface CodeFlowContext {
  database: Database
  store: AuthorizationStore
}

/** The token endpoint's successful answer (RFC 6749 §5.1, RFC 8693 §2.2.1). */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer' | 'DPoP' | 'N_A'
  expires_in: number
  scope?: string
  issued_token_type?: string
  authorization_details?: Array<Record<string, unknown>>
  /** OAuth 2.1 §4.3: issued with delegated tokens of the code flow, rotated on every use. */
  refresh_token?: string
}

/** A grant's result: the response and the audit record that must be durable before it is sent. */
export interface GrantResult {
  response: TokenResponse
  audit: AuditEventInput
  /**
   * Conditional writes (a mandate's budget spend, an approval's redemption, a refresh token's rotation), as data,
   * that commit with the audit record or refuse the issuance.
   */
  effect?: RecordEffect | undefined
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

/**
 * Applies the policy decisions to a token request: the token carries only what was allowed; nothing allowed is
 * `invalid_scope`; a required approval stops the request with a stored approval request bound to exactly this action
 * (what no policy denied), whose id the client redeems with the CIBA grant once it is approved.
 */
export async function authorizeByPolicy(
  request: TokenRequest,
  ctx: GrantContext,
  ask: Omit<TokenAuthorizationRequest, 'clientIp' | 'purpose' | 'requestId' | 'traceparent'>,
  hold: { notAfter?: number | undefined } = {},
): Promise<TokenAuthorization> {
  const purpose = request.params.purpose
  if (purpose !== undefined && (purpose.length === 0 || purpose.length > 200))
    throw new InvalidRequest('purpose must be 1 to 200 characters')
  const decided = await ctx.policy.decideForIssuance({
    ...ask,
    clientIp: request.clientIp,
    purpose,
    requestId: request.requestId,
    traceparent: request.traceparent,
  })
  request.decisions = [...(request.decisions ?? []), ...(decided.decisions ?? [])]
  if (decided.approval) {
    const client = ctx.directory.client(ask.client.id)
    if (!client) throw new AccessDenied(`client ${ask.client.id} is not registered`)
    const opened = await ctx.approvals
      .open({
        origin: 'token',
        client: { ...client, id: ask.client.id },
        mode: ask.mode,
        delegator: ask.delegator,
        chain: ask.chain,
        resourceServer: ask.resourceServer,
        scopes: decided.undenied.scopes,
        details: decided.undenied.details,
        for: decided.approval.for,
        rule: decided.approval.approver,
        notAfter: hold.notAfter,
        maxTtlSeconds: decided.maxTtlSeconds,
        mandateId: ask.mandate?.id,
        requestId: request.requestId,
        traceparent: request.traceparent,
      })
      .catch((error: unknown) => {
        if (error instanceof ApprovalRefused)
          throw new AccessDenied(`approval required, but ${error.message}`)
        throw error
      })
    throw new ApprovalRequired(
      `a policy requires the ${opened.action.approver.rule}'s approval for ${decided.approval.for.join(' ')}`,
      {
        id: opened.id,
        approver: opened.action.approver.rule,
        expiresIn: Math.max(1, Math.round((Date.parse(opened.expires_at) - ctx.now()) / 1000)),
        interval: ctx.pollIntervalSeconds,
      },
    )
  }
  if (decided.scopes.length === 0 && decided.details.length === 0)
    throw new InvalidScope(`denied by policy: ${decided.denied.join(' ')}`)
  return decided
}

/**
 * RFC 9396 §5: an authorization_details type beyond the client's ceiling is invalid_authorization_details, before any
 * policy is asked (a ceiling bounds detail types as it bounds scopes).
 */
export function checkDetailsCeiling(
  client: AuthenticatedClient,
  details: ReadonlyArray<Record<string, unknown>> | undefined,
  target: ResourceServer,
): void {
  const beyond = beyondCeiling(
    client.client.principal,
    (details ?? []).map((d) => String(d.type)),
    target,
  )
  if (beyond.length > 0)
    throw new InvalidAuthorizationDetails(`beyond the ceiling of ${client.id}: ${beyond.join(' ')}`)
}
