// OpenID CIBA Core 1.0 poll mode at the token endpoint (§10.1, §11): the client polls with the `auth_req_id` of a
// backchannel request, or with the `approval_id` a token request answered `approval_required` with (the same stored
// approval). Once approved it gets one access token for exactly the approved action, once: the approval is consumed
// in the same transaction as the issuance's audit record (the record's effect, group-committed).
import { consumeApprovalStep } from '../../approvals/consume-effect.ts'
import type { RecordEffect } from '../../audit/audit-batcher.ts'
import type { ActorRef } from '../../audit/event.ts'
import {
  AccessDenied,
  AuthorizationPending,
  ExpiredToken,
  InvalidGrant,
  InvalidRequest,
  SlowDown,
  UnauthorizedClient,
} from '../../errors/oauth-error.ts'
import type { ActClaim } from '../../tokens/access-token.ts'
import { issueAccessToken } from '../issue.ts'
import { coveringMandate, spendOn } from '../mandate.ts'
import { required } from '../target.ts'
import type { Grant } from './grant.ts'

/** CIBA §10.1 grant type. */
export const CIBA = 'urn:openid:params:grant-type:ciba'

// The act claim of the approved chain: the agents in it, the outermost (the client) on top (RFC 8693 §4.1).
function actOf(chain: readonly ActorRef[]): ActClaim | undefined {
  let act: ActClaim | undefined
  for (const actor of chain)
    if (actor.kind === 'agent') act = act ? { sub: actor.id, act } : { sub: actor.id }
  return act
}

export const ciba: Grant = {
  type: CIBA,
  clientAuthentication: 'required',
  async handle(request, client, ctx) {
    if (!client) throw new UnauthorizedClient('client authentication is required')
    const id = required(request.params, 'auth_req_id')
    // The action is the approved one: nothing in the token request may change it.
    for (const name of ['scope', 'authorization_details'])
      if (request.params[name] !== undefined) throw new InvalidRequest(`${name} is fixed by the approval`)
    if (request.resources.length > 0 || request.audiences.length > 0)
      throw new InvalidRequest('the resource is fixed by the approval')
    const outcome = await ctx.approvals.poll(id, client.id)
    switch (outcome.status) {
      // CIBA §11: invalid, issued to another client, or already redeemed alike.
      case 'unknown':
      case 'used':
        throw new InvalidGrant('auth_req_id is not valid for this client, or was already used')
      case 'denied':
        throw new AccessDenied('the approver denied the request')
      case 'expired':
        throw new ExpiredToken('the approval request has expired; start a new one')
      case 'pending':
        throw new AuthorizationPending('the approver has not decided yet')
      case 'slow_down':
        throw new SlowDown(`polled too soon; poll at most every ${outcome.interval} s`, outcome.interval)
      case 'approved':
        break
    }
    const { action } = outcome
    const target = ctx.directory.resourceServerById(action.resource_server)
    if (target?.audience !== action.resource)
      throw new InvalidGrant('the approved resource server is no longer registered')
    if (action.delegator !== null && ctx.directory.human(action.delegator)?.status !== 'active')
      throw new InvalidGrant('the delegating human is no longer active')
    const nowSeconds = Math.floor(ctx.now() / 1000)
    if (action.not_after !== null && action.not_after <= nowSeconds)
      throw new ExpiredToken('the token the request was made with has expired; start a new one')
    const act = action.mode === 'delegated' ? actOf(action.chain) : undefined
    // A held delegated exchange was covered by a mandate: it must still cover the action (not revoked, expired or
    // used up since), and its budget is spent with the issuance, as for any token issued under it.
    const mandated =
      action.mandate_id !== undefined && action.delegator !== null
        ? await coveringMandate(ctx, {
            human: action.delegator,
            agent: client.id,
            actions: action.scopes,
            resourceServer: target,
            details: action.authorization_details,
            mandateId: action.mandate_id,
          })
        : undefined
    const result = issueAccessToken(request, ctx, {
      grantType: CIBA,
      client,
      mode: action.mode,
      subject: action.subject,
      resourceServer: target,
      allowed: {
        scopes: action.scopes,
        details: action.authorization_details,
        denied: [],
        undenied: { scopes: action.scopes, details: action.authorization_details },
        // Minimal lifetime: one action, now.
        maxTtlSeconds: Math.min(
          action.max_ttl_seconds ?? Number.POSITIVE_INFINITY,
          ctx.approvalTokenLifetimeSeconds,
        ),
      },
      detailsRequested: action.authorization_details.length > 0,
      ...(act ? { act } : {}),
      actors: action.chain,
      ...(action.not_after !== null ? { notAfter: action.not_after } : {}),
      auditDetails: { approval_id: id },
      ...(mandated ? { mandateId: mandated.mandate.id } : {}),
    })
    // The one-time redemption (and the mandate's spend) commits with the issuance's audit record, or the token is
    // never answered. The approval is consumed first, so a lost race spends nothing; a spend refused after it (the
    // mandate revoked or used up in between) leaves the approval used and issues nothing: it fails closed.
    const effect: RecordEffect = [
      consumeApprovalStep(id, client.id),
      ...(mandated ? spendOn(mandated.mandate, mandated.amount) : []),
    ]
    return { ...result, effect }
  },
}
