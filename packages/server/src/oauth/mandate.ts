// The token endpoint's side of mandates: the covering mandate of a delegated request or the OAuth error that says why
// there is none, the mandate as policies see it, and the budget spend that commits with the issuance's record.
import type { RecordEffect } from '../audit/audit-batcher.ts'
import {
  InvalidRequest,
  InvalidScope,
  MandateExhausted,
  MandateExpired,
  MandateRevoked,
  type OAuthError,
} from '../errors/oauth-error.ts'
import type { CoverRequest } from '../mandates/mandates.ts'
import type { Mandate, MandateRefusal, MandateWithUse } from '../mandates/model.ts'
import { spendStep } from '../mandates/spend-effect.ts'
import type { MandateFacts } from '../policy/token-policy.ts'
import type { GrantContext } from './grants/grant.ts'

function refusal(cause: MandateRefusal, message: string, mandateId: string): OAuthError {
  switch (cause) {
    case 'mandate_exhausted':
      return new MandateExhausted(message, mandateId)
    case 'mandate_expired':
      return new MandateExpired(message, mandateId)
    case 'mandate_revoked':
      return new MandateRevoked(message, mandateId)
  }
}

/**
 * The mandate that covers a delegated request, with what the request spends of its sum budget. None:
 * `invalid_scope` ("no mandate covers ..."); one that would but is revoked, expired or used up: `mandate_revoked`,
 * `mandate_expired`, `mandate_exhausted`; outside its time windows, or a sum budget the request does not state its
 * amount for: `invalid_request`.
 */
export async function coveringMandate(
  ctx: GrantContext,
  request: CoverRequest,
): Promise<{ mandate: MandateWithUse; amount: number }> {
  const coverage = await ctx.mandates.cover(request)
  if (coverage.covered) return coverage
  const { cause, message, mandate } = coverage
  if (cause === 'none') throw new InvalidScope(message)
  if (cause === 'outside_windows' || cause === 'uncountable' || !mandate) throw new InvalidRequest(message)
  throw refusal(cause, message, mandate.id)
}

/** The mandate as policies see it (`context.mandate`). */
export function mandateFacts(mandate: MandateWithUse): MandateFacts {
  return {
    id: mandate.id,
    expires_at: mandate.expires_at,
    period: mandate.usage.period,
    calls_used: mandate.usage.calls,
    calls_limit: mandate.budget?.calls,
    sum_used: mandate.usage.sum,
    sum_limit: mandate.budget?.sum?.limit,
  }
}

/**
 * The spend of one call and `amount` on the mandate, run in the transaction that records the issuance: the token is
 * answered only if the spend and the record commit together; a spend the guard refuses answers its mandate_* error.
 */
export function spendOn(mandate: Mandate, amount: number): RecordEffect {
  return [spendStep(mandate, amount)]
}
