// One AuthZEN access evaluation (AuthZEN 1.0 §6) as a question for the decision point, and the decision as AuthZEN's
// answer. The decision point gates, decides and records; this module only maps.
import { ValidationFailed } from '../errors/mandate-error.ts'
import { InvalidDecisionRequest } from '../policy/entities.ts'
import type { Decision, DecisionAudit, DecisionRequest, PolicyDecisionPoint } from '../policy/pdp.ts'

/** An AuthZEN subject or resource: `type` is a Cedar entity type, `properties` are attributes. */
export interface AuthzenEntity {
  type: string
  id: string
  properties?: Record<string, unknown> | undefined
}

/** An AuthZEN action: `name` is the Cedar action. */
export interface AuthzenAction {
  name: string
  properties?: Record<string, unknown> | undefined
}

/** One access evaluation request (AuthZEN §6.1). */
export interface AuthzenEvaluation {
  subject: AuthzenEntity
  action: AuthzenAction
  resource: AuthzenEntity
  context?: Record<string, unknown> | undefined
}

/** One access evaluation response (AuthZEN §6.2): the decision and why, in the context. */
export interface AuthzenDecision {
  decision: boolean
  context: Record<string, unknown>
}

/**
 * Decides one evaluation; the decision point records it. `facts` are context attributes Mandate set itself (the
 * mandate a request names).
 * @example
 * await evaluate(pdp, { subject: { type: 'agent', id: 'fraud-watch' }, action: { name: 'payments:read' }, resource: { type: 'resource_server', id: 'risk' }, context: { mode: 'autonomous' } }, audit)
 * // { decision: true, context: { determining_policies: ['agents/autonomous.own-authority'] } }
 */
export async function evaluate(
  pdp: PolicyDecisionPoint,
  request: AuthzenEvaluation,
  audit: DecisionAudit,
  facts?: DecisionRequest['facts'],
): Promise<AuthzenDecision> {
  const question = toDecisionRequest(request)
  if (facts) question.facts = facts
  try {
    return toAuthzenDecision(await pdp.decide(question, audit))
  } catch (error) {
    throw asCallerError(error)
  }
}

/** An AuthZEN evaluation as the decision point's question. */
export function toDecisionRequest(request: AuthzenEvaluation): DecisionRequest {
  return {
    principal: { type: request.subject.type, id: request.subject.id, properties: request.subject.properties },
    action: request.action.name,
    resource: {
      type: request.resource.type,
      id: request.resource.id,
      properties: request.resource.properties,
    },
    context: request.context,
  }
}

/**
 * A decision as AuthZEN's answer. AuthZEN has allow or deny: approval_required, a gate (`agent_inactive`,
 * `workload_inactive`, `beyond_ceiling`, `unknown_action`) and evaluation errors are denies with `context.reason`.
 */
export function toAuthzenDecision(decision: Decision): AuthzenDecision {
  const context: Record<string, unknown> = { determining_policies: decision.determining }
  if (decision.gate) context.reason = decision.gate.reason
  if (decision.decision === 'approval_required') {
    context.reason = 'approval_required'
    context.approval = decision.obligations.approval
  }
  if (decision.obligations.maxTtlSeconds !== undefined) context.max_ttl = decision.obligations.maxTtlSeconds
  // Which policies failed, not why: the messages (entity ids, attribute names) stay in the audit record.
  if (decision.errors.length > 0) {
    context.reason = 'evaluation_error'
    context.errors = decision.errors.map((e) => ({ policy: e.policy }))
  }
  return { decision: decision.decision === 'allow', context }
}

/**
 * Runs `work`; a request the decision point cannot evaluate as sent (a value Cedar cannot hold, an entity the
 * registry does not know) is the caller's error: 400 with the field named.
 */
export async function callerErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    throw asCallerError(error)
  }
}

// An InvalidDecisionRequest as the caller's error (400 naming the field); any other error as it is.
function asCallerError(error: unknown): unknown {
  if (error instanceof InvalidDecisionRequest)
    return new ValidationFailed([{ path: error.path, message: error.message }])
  return error
}
