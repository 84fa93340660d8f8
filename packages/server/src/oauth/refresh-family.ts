// What the authorization code and refresh token grants share: issuing a delegated access token under a mandate with a
// new refresh token of the same rotation family (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2), and revoking a whole family with
// the access tokens it issued when a code or a refresh token is replayed.
import { randomBytes, randomUUID } from 'node:crypto'
import type { AuthenticatedClient } from '../authn/client-authentication.ts'
import { InvalidGrant, InvalidRequest } from '../errors/oauth-error.ts'
import { parseRfc3339 } from '../rfc3339.ts'
import type { Confirmation } from '../tokens/access-token.ts'
import type { GrantContext, GrantResult, TokenRequest } from './grants/grant.ts'
import { authorizeByPolicy } from './grants/grant.ts'
import { issueAccessToken } from './issue.ts'

/** The refresh token's prefix: recognisable in logs and secret scanners. */
export const REFRESH_TOKEN_PREFIX = 'mnd_rt_'

/** What a refresh token carries forward (stored with it, never in it). */
export interface RefreshGrant {
  scope: string[]
  /** The resource server's audience. */
  resource: string
  authorization_details?: Array<Record<string, unknown>>
  /** RFC 9449: the DPoP key the family is bound to, when its first token was; every refresh must prove it. */
  jkt?: string
}

/** Issuing under a mandate: who, for what, in which family. */
export interface MandateIssue {
  grantType: 'authorization_code' | 'refresh_token'
  client: AuthenticatedClient
  human: string
  mandateId: string
  grant: RefreshGrant
  /** A refresh may ask for less than the grant: this access token carries only these scopes. */
  narrowTo?: string[] | undefined
  familyId: string
}

/**
 * The mandate a code or refresh token is bound to, as the grants need it: refused unless active and unexpired; the
 * token never carries more than it grants nor outlives it.
 */
export async function activeMandate(
  ctx: GrantContext,
  id: string,
): Promise<{ actions: string[]; expiresAt: number; detailTypes: string[] }> {
  const mandate = await ctx.codeFlow.mandate(id)
  if (!mandate) throw new InvalidGrant('the mandate this grant was issued under does not exist')
  if (mandate.status !== 'active') throw new InvalidGrant(`mandate ${id} has been revoked`)
  const expiresAt = Math.floor((parseRfc3339(mandate.expires_at) ?? 0) / 1000)
  if (expiresAt <= Math.floor(ctx.now() / 1000)) throw new InvalidGrant(`mandate ${id} has expired`)
  return { actions: mandate.actions, expiresAt, detailTypes: mandate.authorization_details_types ?? [] }
}

/**
 * Issues the delegated access token (`sub` the human, `act` the agent, `mandate_id`) and a new refresh token in the
 * family. Policies decide as for token exchange; the token carries only what the mandate still grants.
 */
export async function issueUnderMandate(
  request: TokenRequest,
  ctx: GrantContext,
  issue: MandateIssue,
): Promise<GrantResult & { refreshToken: string }> {
  const mandate = await activeMandate(ctx, issue.mandateId)
  const binding = familyBinding(request, issue.grant)
  const target = ctx.directory.resourceServer(issue.grant.resource)
  if (!target) throw new InvalidGrant('the resource server of this grant is no longer registered')
  const scopes = issue.grant.scope.filter(
    (s) => mandate.actions.includes(s) && target.scopes.includes(s) && (issue.narrowTo?.includes(s) ?? true),
  )
  const details = issue.grant.authorization_details?.filter((d) => mandate.detailTypes.includes(String(d.type)))
  if (scopes.length === 0 && (details ?? []).length === 0)
    throw new InvalidGrant('the mandate no longer grants anything this grant asked')
  const actors = [
    { kind: 'human' as const, id: issue.human },
    { kind: 'agent' as const, id: issue.client.id },
  ]
  const allowed = await authorizeByPolicy(request, ctx, {
    client: { kind: 'agent', id: issue.client.id },
    mode: 'delegated',
    delegator: issue.human,
    chain: actors,
    resourceServer: target,
    scopes,
    details: details ?? [],
  })
  const result = issueAccessToken(request, ctx, {
    grantType: issue.grantType,
    client: issue.client,
    mode: 'delegated',
    subject: issue.human,
    resourceServer: target,
    allowed,
    detailsRequested: details !== undefined && details.length > 0,
    act: { sub: issue.client.id },
    actors,
    notAfter: mandate.expiresAt,
    mandateId: issue.mandateId,
    inherited: binding,
    auditDetails: { mandate_id: issue.mandateId, refresh_family: issue.familyId },
  })
  const refreshToken = `${REFRESH_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`
  const details_ = result.audit.details as { jti: string; exp: number }
  const nowMs = ctx.now()
  // The family keeps the DPoP key its first token was bound to.
  const jkt = binding && 'jkt' in binding ? binding.jkt : request.dpopJkt
  await ctx.codeFlow.store.putRefresh(ctx.codeFlow.database.db, {
    hash: ctx.codeFlow.hash(refreshToken),
    family_id: issue.familyId,
    client_id: issue.client.id,
    human_id: issue.human,
    mandate_id: issue.mandateId,
    doc: JSON.stringify({ ...issue.grant, ...(jkt !== undefined ? { jkt } : {}) }),
    access_jti: details_.jti,
    access_exp: details_.exp,
    created_at: nowMs,
    // A refresh token never outlives its mandate.
    expires_at: mandate.expiresAt * 1000,
  })
  return {
    ...result,
    response: { ...result.response, refresh_token: refreshToken },
    refreshToken,
  }
}

/** A new family id. */
export function newFamily(): string {
  return randomUUID()
}

/**
 * Revokes a family: its refresh tokens, and every access token issued with one of them (by jti, on every node), each
 * recorded. Used when a spent code or refresh token is presented again (OAuth 2.1 §4.1.3, §4.3.1).
 */
export async function revokeFamily(ctx: GrantContext, familyId: string, reason: string): Promise<void> {
  const rows = await ctx.codeFlow.store.revokeFamily(ctx.codeFlow.database.db, familyId, ctx.now())
  for (const row of rows)
    if (row.access_exp * 1000 > ctx.now())
      await ctx.revocations.revoke(
        { kind: 'token', jti: row.access_jti, exp: row.access_exp },
        { actor: { kind: 'agent', id: row.client_id }, reason },
      )
}

// RFC 9449 §5: a family whose first token was DPoP-bound stays bound to that key; otherwise the request's own proof
// (or certificate) binds the new token, as for any grant.
function familyBinding(request: TokenRequest, grant: RefreshGrant): Confirmation | undefined {
  if (grant.jkt === undefined) return undefined
  if (request.dpopJkt !== grant.jkt)
    throw new InvalidRequest('this refresh token is bound to a DPoP key: send a proof signed with it')
  return { jkt: grant.jkt }
}
