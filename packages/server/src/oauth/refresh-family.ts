// What the authorization code and refresh token grants share: issuing a delegated access token under a mandate with a
// new refresh token of the same rotation family (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2), and revoking a whole family with
// the access tokens it issued when a code or a refresh token is replayed.
import { randomBytes, randomUUID } from 'node:crypto'
import type { RecordEffect } from '../audit/audit-batcher.ts'
import type { AuthenticatedClient } from '../authn/client-authentication.ts'
import { InvalidGrant, InvalidRequest, InvalidTarget } from '../errors/oauth-error.ts'
import { parseRfc3339 } from '../rfc3339.ts'
import { secretHash } from '../store/authorization-store.ts'
import type { Confirmation } from '../tokens/access-token.ts'
import type { GrantContext, GrantResult, TokenRequest } from './grants/grant.ts'
import { authorizeByPolicy } from './grants/grant.ts'
import { issueAccessToken } from './issue.ts'
import { coveringMandate, mandateFacts, spendOn } from './mandate.ts'
import { openFamilyStep, putRefreshStep } from './refresh-effects.ts'

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
  /**
   * Spends the code or refresh token presented, once every check has passed (a refused request spends nothing);
   * throws when it was spent already, after revoking the family.
   */
  claim: () => Promise<void>
  /** A refresh may ask for less than the grant: this access token carries only these scopes. */
  narrowTo?: string[] | undefined
  familyId: string
}

/**
 * Issues the delegated access token (`sub` the human, `act` the agent, `mandate_id`) and a new refresh token in the
 * family. The mandate must still cover it (active, unexpired, budget left: `mandate_*` errors otherwise), policies
 * decide as for token exchange, and the token carries only what the mandate still grants. The budget spend and the new
 * refresh token commit with the issuance's audit record, or neither does.
 */
export async function issueUnderMandate(
  request: TokenRequest,
  ctx: GrantContext,
  issue: MandateIssue,
): Promise<GrantResult> {
  const binding = familyBinding(request, issue.grant)
  // RFC 8707 §2.2: a resource named at the token endpoint must be the grant's own; a token is never for another.
  const other = request.resources.find((resource) => resource !== issue.grant.resource)
  if (other !== undefined) throw new InvalidTarget(`this grant is for ${issue.grant.resource}, not ${other}`)
  const target = ctx.directory.resourceServer(issue.grant.resource)
  if (!target) throw new InvalidGrant('the resource server of this grant is no longer registered')
  const stored = await ctx.mandates.get(issue.mandateId).catch(() => undefined)
  if (!stored) throw new InvalidGrant('the mandate this grant was issued under does not exist')
  const scopes = issue.grant.scope.filter(
    (s) => stored.actions.includes(s) && target.scopes.includes(s) && (issue.narrowTo?.includes(s) ?? true),
  )
  const details = issue.grant.authorization_details?.filter((d) =>
    (stored.authorization_details_types ?? []).includes(String(d.type)),
  )
  const coverage = await coveringMandate(ctx, {
    human: issue.human,
    agent: issue.client.id,
    actions: scopes,
    resourceServer: target,
    details: details ?? [],
    mandateId: issue.mandateId,
  })
  const mandate = coverage.mandate
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
    mandate: mandateFacts(mandate),
  })
  const notAfter = Math.floor((parseRfc3339(mandate.expires_at) ?? 0) / 1000)
  await issue.claim()
  const refreshToken = `${REFRESH_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`
  // The family keeps the DPoP key its first token was bound to.
  const jkt = binding && 'jkt' in binding ? binding.jkt : request.dpopJkt
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
    notAfter,
    mandateId: issue.mandateId,
    inherited: binding,
    auditDetails: { refresh_family: issue.familyId },
  })
  const minted = result.audit.details as { jti: string; exp: number }
  // The family first: a replay that revoked it meanwhile refuses this issuance (and spends no budget). Then the
  // spend, then the new refresh token: all commit with the issuance's record, or none does.
  const effect: RecordEffect = [
    openFamilyStep(issue.familyId),
    ...spendOn(mandate, coverage.amount),
    putRefreshStep({
      hash: secretHash(refreshToken),
      family_id: issue.familyId,
      client_id: issue.client.id,
      human_id: issue.human,
      mandate_id: issue.mandateId,
      doc: JSON.stringify({ ...issue.grant, ...(jkt !== undefined ? { jkt } : {}) }),
      access_jti: minted.jti,
      access_exp: minted.exp,
      created_at: ctx.now(),
      // A refresh token never outlives its mandate.
      expires_at: notAfter * 1000,
    }),
  ]
  return { ...result, effect, response: { ...result.response, refresh_token: refreshToken } }
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
  const { database, store } = ctx.codeFlow
  const rows = await database.transact((tx) => store.revokeFamily(tx, familyId, ctx.now()))
  for (const row of rows)
    if (row.access_exp * 1000 > ctx.now())
      await ctx.revocations.revoke(
        { kind: 'token', jti: row.access_jti, exp: row.access_exp },
        { actor: { kind: 'agent', id: row.client_id }, reason },
      )
}

/**
 * RFC 9449 §5: a family whose first token was DPoP-bound stays bound to that key: checked before anything is spent.
 */
export function checkFamilyKey(request: TokenRequest, grant: RefreshGrant): void {
  if (grant.jkt !== undefined && request.dpopJkt !== grant.jkt)
    throw new InvalidRequest('this refresh token is bound to a DPoP key: send a proof signed with it')
}

// RFC 9449 §5: a family whose first token was DPoP-bound stays bound to that key; otherwise the request's own proof
// (or certificate) binds the new token, as for any grant.
function familyBinding(request: TokenRequest, grant: RefreshGrant): Confirmation | undefined {
  if (grant.jkt === undefined) return undefined
  checkFamilyKey(request, grant)
  return { jkt: grant.jkt }
}
