// AuthZEN access evaluations (AuthZEN 1.0 §7): a batch with defaults at the top level, per-item errors as denies, and
// the three evaluation semantics (execute_all, deny_on_first_deny, permit_on_first_permit), evaluated in order.
import { ValidationFailed } from '../errors/mandate-error.ts'
import type { DecisionAudit, DecisionRequest, PolicyDecisionPoint } from '../policy/pdp.ts'
import {
  type AuthzenDecision,
  type AuthzenEvaluation,
  callerErrors,
  toAuthzenDecision,
  toDecisionRequest,
} from './evaluation.ts'

/** How a batch is evaluated (AuthZEN §7.1.2). */
export type EvaluationsSemantic = 'execute_all' | 'deny_on_first_deny' | 'permit_on_first_permit'

/** A batch as sent: every part may be omitted at either level; an item is checked once the defaults are merged in. */
export interface AuthzenEvaluations {
  subject?: unknown
  action?: unknown
  resource?: unknown
  context?: unknown
  evaluations?: ReadonlyArray<Record<string, unknown>> | undefined
  options?: { evaluations_semantic?: EvaluationsSemantic | undefined } | undefined
}

type FieldErrors = Array<{ path: string; message: string }>

/**
 * Decides a batch: one answer per item, in order, up to where the semantic stops. Without `evaluations`, or with none,
 * the request is a single evaluation, answered as one (AuthZEN §7.1). An invalid item is a deny with
 * `context.error` (status 400); with deny_on_first_deny nothing after it is evaluated.
 */
export async function evaluateAll(
  pdp: PolicyDecisionPoint,
  batch: AuthzenEvaluations,
  audit: DecisionAudit,
): Promise<AuthzenDecision | { evaluations: AuthzenDecision[] }> {
  if (batch.evaluations === undefined || batch.evaluations.length === 0) {
    const single = checkItem(batch, '')
    if ('error' in single) throw new ValidationFailed(single.error)
    return toAuthzenDecision(await callerErrors(() => pdp.decide(single.request, audit)))
  }
  const items = batch.evaluations.map((item, i) =>
    checkItem(
      {
        subject: item.subject ?? batch.subject,
        action: item.action ?? batch.action,
        resource: item.resource ?? batch.resource,
        context: item.context ?? batch.context,
      },
      `/evaluations/${i}`,
    ),
  )
  const semantic = batch.options?.evaluations_semantic ?? 'execute_all'
  const stop = (allowed: boolean) =>
    (semantic === 'deny_on_first_deny' && !allowed) || (semantic === 'permit_on_first_permit' && allowed)
  const cut = semantic === 'deny_on_first_deny' ? items.findIndex((item) => 'error' in item) : -1
  const considered = cut < 0 ? items : items.slice(0, cut + 1)
  const valid = considered.flatMap((item) => ('request' in item ? [item.request] : []))
  // Item by item, so that the short-circuiting semantics stop where the PEP expects.
  const decisions = await pdp.decideAll(valid, audit, (d) => stop(d.decision === 'allow'))
  const answers: AuthzenDecision[] = []
  let next = 0
  for (const item of items) {
    if ('error' in item) {
      answers.push(itemError(item.error.map((e) => `${e.path} ${e.message}`).join('; ')))
      if (stop(false)) break
      continue
    }
    const decision = decisions[next++]
    if (!decision) break
    answers.push(decision.invalid ? itemError(decision.invalid) : toAuthzenDecision(decision))
    if (stop(decision.decision === 'allow')) break
  }
  return { evaluations: answers }
}

function itemError(message: string): AuthzenDecision {
  return { decision: false, context: { error: { status: 400, message } } }
}

// An item after merging the defaults: the same checks as a single evaluation's schema, reported per item.
function checkItem(
  item: { subject?: unknown; action?: unknown; resource?: unknown; context?: unknown },
  at: string,
): { request: DecisionRequest } | { error: FieldErrors } {
  const errors: FieldErrors = []
  const entity = (value: unknown, name: string) => {
    if (!isObject(value)) {
      errors.push({ path: `${at}/${name}`, message: 'is required' })
      return
    }
    if (typeof value.type !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(value.type))
      errors.push({ path: `${at}/${name}/type`, message: 'must be a Cedar identifier' })
    if (typeof value.id !== 'string' || value.id.length === 0 || value.id.length > 512)
      errors.push({ path: `${at}/${name}/id`, message: 'must be a string of 1 to 512 characters' })
    if (value.properties !== undefined && !isObject(value.properties))
      errors.push({ path: `${at}/${name}/properties`, message: 'must be an object' })
  }
  entity(item.subject, 'subject')
  entity(item.resource, 'resource')
  const action = item.action
  if (
    !isObject(action) ||
    typeof action.name !== 'string' ||
    action.name.length === 0 ||
    action.name.length > 128
  )
    errors.push({ path: `${at}/action/name`, message: 'is required' })
  if (item.context !== undefined && !isObject(item.context))
    errors.push({ path: `${at}/context`, message: 'must be an object' })
  if (errors.length > 0) return { error: errors }
  return { request: toDecisionRequest(item as AuthzenEvaluation) }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
