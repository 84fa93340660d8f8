// Issuing a token once a grant has decided what it carries: its lifetime (every cap at once), its binding, the signed
// token, the response and the audit record. Every grant issues through here, so no grant can miss a cap or a binding.
import type { RecordEffect } from '../audit/audit-batcher.ts'
import type { ActorRef } from '../audit/event.ts'
import type { AuthenticatedClient } from '../authn/client-authentication.ts'
import { InvalidRequest } from '../errors/oauth-error.ts'
import type { TokenAuthorization } from '../policy/token-policy.ts'
import type { ResourceServer, Stored } from '../registry/model.ts'
import type { ActClaim, Confirmation } from '../tokens/access-token.ts'
import { TXN_TOKEN_TYPE } from '../tokens/txn-token.ts'
import type { GrantContext, GrantResult, TokenRequest } from './grants/grant.ts'
import { bindingFor } from './sender-constraint.ts'

/** What a grant decided an access token carries. */
export interface AccessTokenIssue {
  /** The `grant_type`, for the audit record. */
  grantType: string
  client: AuthenticatedClient
  mode: 'autonomous' | 'delegated'
  /** `sub`: the client itself (autonomous) or the human it acts for (delegated). */
  subject: string
  resourceServer: Stored<ResourceServer>
  /** What the policies allowed. */
  allowed: TokenAuthorization
  /** Whether authorization_details were requested: the allowed ones are then carried. */
  detailsRequested: boolean
  act?: ActClaim | undefined
  /** The chain as the audit record names it, the human first. */
  actors: ActorRef[]
  /** Epoch seconds the token must not outlive (the subject token's expiry, for a delegation). */
  notAfter?: number | undefined
  /** The binding of a sender-constrained subject token, proven by this request: the token keeps it. */
  inherited?: Confirmation | undefined
  /** The mandate a delegated token is issued under: carried as `mandate_id`. */
  mandateId?: string | undefined
  /** The mandate's budget spend, committed with the issuance's record or refusing it. */
  effect?: RecordEffect | undefined
  /** RFC 8693 §2.2.1: token exchange names the issued token's type. */
  issuedTokenType?: string | undefined
  /** Facts of the grant for the audit record. */
  auditDetails?: Record<string, unknown>
}

/** What a grant decided a transaction token carries. */
export interface TransactionTokenIssue {
  client: AuthenticatedClient
  /** The human the transaction is for. */
  subject: string
  /** The one action. */
  scope: string
  act?: ActClaim | undefined
  actors: ActorRef[]
  /** Epoch seconds the token must not outlive. */
  notAfter: number
  /** The policies' `@max_ttl`. */
  maxTtlSeconds?: number | undefined
  tctx?: Record<string, unknown> | undefined
  /** The request's environment (`request_context`, and the address Mandate saw). */
  rctx: Record<string, unknown>
  /** Replacing a transaction token: its id, kept. */
  txn?: string | undefined
  /** The binding of the sender-constrained token it is issued from, proven by this request: the token keeps it. */
  inherited?: Confirmation | undefined
  /** The mandate it is issued under: carried as `mandate_id`. */
  mandateId?: string | undefined
  /** The mandate's budget spend, committed with the issuance's record or refusing it. */
  effect?: RecordEffect | undefined
}

// The shortest of every cap, in whole seconds; a token that could not live at all is refused.
function lifetimeOf(caps: ReadonlyArray<number | undefined>): number {
  const seconds = Math.min(...caps.map((cap) => cap ?? Number.POSITIVE_INFINITY))
  if (seconds <= 0) throw new InvalidRequest('subject_token has expired')
  return seconds
}

/**
 * Issues an access token: lifetime capped by the resource server, the node's maximum, the subject token's remaining
 * life and any `@max_ttl`; bound as {@link bindingFor} says; answered with `token_type` DPoP for a DPoP-bound token
 * (RFC 9449 §5) and Bearer otherwise; recorded as `token.issue`.
 */
export function issueAccessToken(
  request: TokenRequest,
  ctx: GrantContext,
  issue: AccessTokenIssue,
): GrantResult {
  const { client, allowed, resourceServer } = issue
  const granted = allowed.scopes
  const details = issue.detailsRequested && allowed.details.length > 0 ? allowed.details : undefined
  const nowSeconds = Math.floor(ctx.now() / 1000)
  const lifetimeSeconds = lifetimeOf([
    resourceServer.token_lifetime_seconds,
    ctx.maxTokenLifetimeSeconds,
    issue.notAfter === undefined ? undefined : issue.notAfter - nowSeconds,
    allowed.maxTtlSeconds,
  ])
  const cnf = bindingFor(request, client, issue.inherited)
  const minted = ctx.minter.mint({
    sub: issue.subject,
    client_id: client.id,
    aud: resourceServer.audience,
    scope: granted,
    ...(issue.act ? { act: issue.act } : {}),
    ...(details ? { authorization_details: details } : {}),
    lifetimeSeconds,
    ...(cnf ? { cnf } : {}),
    ...(issue.mandateId ? { mandate_id: issue.mandateId } : {}),
  })
  return {
    effect: issue.effect,
    response: {
      access_token: minted.token,
      ...(issue.issuedTokenType ? { issued_token_type: issue.issuedTokenType } : {}),
      token_type: cnf && 'jkt' in cnf ? 'DPoP' : 'Bearer',
      expires_in: lifetimeSeconds,
      ...(granted.length > 0 ? { scope: granted.join(' ') } : {}),
      ...(details ? { authorization_details: details } : {}),
    },
    audit: {
      type: 'token.issue',
      outcome: 'success',
      actors: issue.actors,
      mode: issue.mode,
      action: granted.join(' '),
      resource: resourceServer.audience,
      details: {
        grant_type: issue.grantType,
        jti: minted.jti,
        exp: minted.exp,
        client_auth: client.method,
        ...(issue.mandateId ? { mandate_id: issue.mandateId } : {}),
        ...issue.auditDetails,
        ...(allowed.denied.length > 0 ? { denied_by_policy: allowed.denied } : {}),
      },
    },
  }
}

/**
 * Issues a transaction token for a decided exchange: lifetime capped by the node's transaction token lifetime, the
 * subject's remaining life and any `@max_ttl`; `cnf` only when it is issued from a sender-constrained token (a
 * transaction token travels between the workloads of a transaction, so the requester's own DPoP key does not bind
 * it); `token_type` N_A, never refreshable.
 */
export function issueTransactionToken(ctx: GrantContext, issue: TransactionTokenIssue): GrantResult {
  const { client } = issue
  const lifetimeSeconds = lifetimeOf([
    ctx.txn.lifetimeSeconds,
    issue.notAfter - Math.floor(ctx.now() / 1000),
    issue.maxTtlSeconds,
  ])
  const { token, claims } = ctx.txn.mint({
    aud: ctx.txn.trustDomain(),
    sub: issue.subject,
    req_wl: client.id,
    scope: issue.scope,
    ...(issue.tctx ? { tctx: issue.tctx } : {}),
    rctx: issue.rctx,
    ...(issue.act ? { act: issue.act } : {}),
    ...(issue.inherited ? { cnf: issue.inherited } : {}),
    ...(issue.txn ? { txn: issue.txn } : {}),
    ...(issue.mandateId ? { mandate_id: issue.mandateId } : {}),
    lifetimeSeconds,
  })
  return {
    effect: issue.effect,
    // RFC 8693 §2.2.1: token_type N_A, for a token that is not an access token; no refresh token.
    response: {
      access_token: token,
      issued_token_type: TXN_TOKEN_TYPE,
      token_type: 'N_A',
      expires_in: lifetimeSeconds,
      scope: issue.scope,
    },
    audit: {
      type: 'token.issue',
      outcome: 'success',
      actors: issue.actors,
      mode: 'delegated',
      action: issue.scope,
      resource: claims.aud,
      details: {
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        token_type: 'txn_token',
        txn: claims.txn,
        exp: claims.exp,
        client_auth: client.method,
        ...(issue.mandateId ? { mandate_id: issue.mandateId } : {}),
        ...(issue.txn ? { replaces: true } : {}),
      },
    },
  }
}
