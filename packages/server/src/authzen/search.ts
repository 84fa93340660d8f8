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
import { nextToken, type PageRequest, pageOf, pageStart } from './paging.ts'

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

/**
 * Answers one page of a subject, resource or action search; the decision point records one summary of it. Subject
 * and resource searches run over the registry's entities of the type, asking only those the policies' scopes can
 * reach; an action search asks each action the resource offers.
 * @example
 * await search(pdp, { kind: 'action', subject: { type: 'agent', id: 'care-scheduler' }, resource: { type: 'resource_server', id: 'scheduling' } }, audit)
 * // { results: [{ name: 'schedule:write' }], page: { next_token: '' } }
 */
export async function search(
  pdp: PolicyDecisionPoint,
  query: AuthzenSearch,
  audit: DecisionAudit,
): Promise<SearchAnswer> {
  const context = query.context
  switch (query.kind) {
    case 'subject': {
      const { subject, action, resource } = query
      const found = await searchEntities(
        pdp,
        query,
        {
          vary: 'principal',
          type: subject.type,
          ask: (id) => ({ subject: { ...subject, id }, action, resource, context }),
          what: `search.subject ${subject.type} ${action.name}`,
        },
        audit,
      )
      return answer(found, (id) => ({ type: subject.type, id }))
    }
    case 'resource': {
      const { subject, action, resource } = query
      const found = await searchEntities(
        pdp,
        query,
        {
          vary: 'resource',
          type: resource.type,
          ask: (id) => ({ subject, action, resource: { ...resource, id }, context }),
          what: `search.resource ${resource.type} ${action.name}`,
        },
        audit,
      )
      return answer(found, (id) => ({ type: resource.type, id }))
    }
    case 'action': {
      const { subject, resource } = query
      // A resource server's own actions only; the gates then leave out those beyond the subject's ceiling.
      const { candidates, limit } = pageOf(await pdp.actionsFor(subject.type, resource), query.page)
      const found = await callerErrors(() =>
        pdp.search(
          candidates,
          (name) => toDecisionRequest({ subject, action: { name }, resource, context }),
          { ...audit, what: `search.action ${subject.type} ${resource.type}` },
          limit,
        ),
      )
      return answer(found, (name) => ({ name }))
    }
  }
}

function searchEntities(
  pdp: PolicyDecisionPoint,
  query: AuthzenSearch,
  plan: {
    vary: 'principal' | 'resource'
    type: string
    ask: (id: string) => AuthzenEvaluation
    what: string
  },
  audit: DecisionAudit,
): Promise<{ results: string[]; more: boolean }> {
  const { after, limit } = pageStart(query.page)
  return callerErrors(() =>
    pdp.searchEntities(
      { vary: plan.vary, type: plan.type, request: (id) => toDecisionRequest(plan.ask(id)), after, limit },
      { ...audit, what: plan.what },
    ),
  )
}

function answer(
  found: { results: string[]; more: boolean },
  result: (candidate: string) => { type: string; id: string } | { name: string },
): SearchAnswer {
  return { results: found.results.map(result), page: { next_token: nextToken(found) } }
}
