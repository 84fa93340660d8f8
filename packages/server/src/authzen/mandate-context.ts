// A delegated AuthZEN request may name the mandate the agent acts under (`context.mandate_id`): the decision then sees
// that mandate, its limits and use, as `context.mandate`, exactly as on the token path. The caller cannot set
// `context.mandate` itself (Mandate sets it); a named mandate that is unknown, another agent's, revoked or expired
// is the caller's error, so that no decision is made on a grant that does not stand.
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs'
import { ValidationFailed } from '../errors/mandate-error.ts'
import type { Mandates } from '../mandates/mandates.ts'
import { mandateFact } from '../policy/token-policy.ts'
import type { AuthzenEvaluation } from './evaluation.ts'

const PATH = '/context/mandate_id'

/**
 * The mandate facts of an evaluation that names a mandate, and its context without `mandate_id`; the request as it is
 * when it names none.
 */
export async function withNamedMandate(
  mandates: Pick<Mandates, 'get'>,
  request: AuthzenEvaluation,
  now: number,
): Promise<{ request: AuthzenEvaluation; facts?: Record<string, CedarValueJson> }> {
  const id = request.context?.mandate_id
  if (id === undefined) return { request }
  const { mandate_id: _named, ...context } = request.context ?? {}
  if (typeof id !== 'string') throw new ValidationFailed([{ path: PATH, message: 'must be a string' }])
  const mandate = await mandates.get(id).catch(() => undefined)
  if (!mandate) throw new ValidationFailed([{ path: PATH, message: `names no mandate (${id})` }])
  if (request.subject.type !== 'agent' || request.subject.id !== mandate.agent)
    throw new ValidationFailed([{ path: PATH, message: `${id} is not a mandate of this subject` }])
  if (mandate.status !== 'active')
    throw new ValidationFailed([{ path: PATH, message: `${id} has been revoked` }])
  if (Date.parse(mandate.expires_at) <= now)
    throw new ValidationFailed([{ path: PATH, message: `${id} has expired` }])
  const fact = mandateFact({
    id: mandate.id,
    expires_at: mandate.expires_at,
    period: mandate.usage.period,
    calls_used: mandate.usage.calls,
    calls_limit: mandate.budget?.calls,
    sum_used: mandate.usage.sum,
    sum_limit: mandate.budget?.sum?.limit,
  })
  return { request: { ...request, context }, facts: { mandate: fact } }
}
