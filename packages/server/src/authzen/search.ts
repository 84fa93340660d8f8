// AuthZEN search (AuthZEN 1.0 §8): which subjects, resources or actions the policies allow, one page at a time. The
// three searches differ only in what they vary; the decision point gates and decides each candidate, so a subject the
// gates exclude (an inactive agent) or an action beyond a ceiling is never found.
import type { DecisionAudit, PolicyDecisionPoint } from '../policy/pdp.ts'
import {
  type AuthzenAction,
  type AuthzenEntity,
  type AuthzenEvaluation,
  callerErrors,
  toDecisionRequest,
} from './evaluation.ts'
import { nextToken, type PageRequest, pageOf } from './paging.ts'

/** The entity a search varies: its type, without an id. */
export interface SearchedEntity {
  type: string
  properties?: Record<string, unknown> | undefined
}

interface SearchBase {
  context?: Record<string, unknown> | undefined
  page?: PageRequest | undefined
}

/** A search request, by what it searches for. */
export type AuthzenSearch =
  | (SearchBase & {
      kind: 'subject'
      subject: SearchedEntity
      action: AuthzenAction
      resource: AuthzenEntity
    })
  | (SearchBase & {
      kind: 'resource'
      subject: AuthzenEntity
      action: AuthzenAction
      resource: SearchedEntity
    })
  | (SearchBase & { kind: 'action'; subject: AuthzenEntity; resource: AuthzenEntity })

/** A search answer (AuthZEN §8): the results of this page and the token of the next (empty on the last). */
export interface SearchAnswer {
  results: Array<{ type: string; id: string } | { name: string }>
  page: { next_token: string }
}

// What one kind of search varies: its candidates, the evaluation each stands for, and how a found one is answered.
interface SearchPlan {
  candidates: (pdp: PolicyDecisionPoint) => Promise<string[]>
  ask: (candidate: string) => AuthzenEvaluation
  result: (candidate: string) => { type: string; id: string } | { name: string }
  what: string
}

function planOf(query: AuthzenSearch): SearchPlan {
  const context = query.context
  switch (query.kind) {
    case 'subject': {
      const { subject, action, resource } = query
      return {
        candidates: (pdp) => pdp.candidates(subject.type),
        ask: (id) => ({ subject: { ...subject, id }, action, resource, context }),
        result: (id) => ({ type: subject.type, id }),
        what: `search.subject ${subject.type} ${action.name}`,
      }
    }
    case 'resource': {
      const { subject, action, resource } = query
      return {
        candidates: (pdp) => pdp.candidates(resource.type),
        ask: (id) => ({ subject, action, resource: { ...resource, id }, context }),
        result: (id) => ({ type: resource.type, id }),
        what: `search.resource ${resource.type} ${action.name}`,
      }
    }
    case 'action': {
      const { subject, resource } = query
      return {
        // A resource server's own actions only; the gates then leave out those beyond the subject's ceiling.
        candidates: (pdp) => pdp.actionsFor(subject.type, resource),
        ask: (name) => ({ subject, action: { name }, resource, context }),
        result: (name) => ({ name }),
        what: `search.action ${subject.type} ${resource.type}`,
      }
    }
  }
}

/**
 * Answers one page of a subject, resource or action search; the decision point records one summary of it.
 * @example
 * await search(pdp, { kind: 'action', subject: { type: 'agent', id: 'care-scheduler' }, resource: { type: 'resource_server', id: 'scheduling' } }, audit)
 * // { results: [{ name: 'schedule:write' }], page: { next_token: '' } }
 */
export async function search(
  pdp: PolicyDecisionPoint,
  query: AuthzenSearch,
  audit: DecisionAudit,
): Promise<SearchAnswer> {
  const plan = planOf(query)
  const { candidates, limit } = pageOf(await plan.candidates(pdp), query.page)
  const found = await callerErrors(() =>
    pdp.search(candidates, (c) => toDecisionRequest(plan.ask(c)), { ...audit, what: plan.what }, limit),
  )
  return { results: found.results.map(plan.result), page: { next_token: nextToken(found) } }
}
