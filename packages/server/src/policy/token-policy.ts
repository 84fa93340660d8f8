// The token service asks the decision point about every scope and authorization detail a token would carry: the
// token carries only what policies allow, lives no longer than any `@max_ttl` says, and waits for a human when a
// policy asks for approval.
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs'
import type { ActorRef } from '../audit/event.ts'
import type { Directory } from '../registry/directory.ts'
import type { ResourceServer, Stored } from '../registry/model.ts'
import { cedarIpAddress, InvalidDecisionRequest, type RequestEntity } from './entities.ts'
import type { Decision, DecisionRequest, PolicyDecisionPoint, RecordedDecision } from './pdp.ts'
import type { ApprovalRule } from './policy-set.ts'

/** What a token would grant, and who asks. */
export interface TokenAuthorizationRequest {
  client: { kind: 'agent' | 'workload'; id: string }
  mode: 'autonomous' | 'delegated'
  /** The human a delegated token acts for. */
  delegator?: string | undefined
  /** The whole chain, the human first, then each agent (`human:alice`, `agent:assistant`). */
  chain: ActorRef[]
  resourceServer: Stored<ResourceServer>
  scopes: readonly string[]
  details: ReadonlyArray<Record<string, unknown>>
  /** The mandate a delegated request is issued under, as policies see it (`context.mandate`). */
  mandate?: MandateFacts | undefined
  clientIp?: string | undefined
  purpose?: string | undefined
  requestId?: string | undefined
  traceparent?: string | undefined
}

/** A mandate as policies see it: its id, expiry, limits and use in the current budget period. */
export interface MandateFacts {
  id: string
  expires_at: string
  period: string
  calls_used: number
  calls_limit?: number | undefined
  sum_used: number
  sum_limit?: number | undefined
}

/** What policies allow of it. */
export interface TokenAuthorization {
  scopes: string[]
  details: Array<Record<string, unknown>>
  /** Scopes and detail types a policy denied. */
  denied: string[]
  /**
   * Set when a policy asks for a human's approval of something requested: who (the first such policy's
   * `@approval`), and the scopes and detail types it is needed for. The approvals module stores the request.
   */
  approval?: { approver: ApprovalRule; for: string[] }
  /** What the request asked that no policy denied: what an approval would grant. */
  undenied: { scopes: string[]; details: Array<Record<string, unknown>> }
  /** The shortest `@max_ttl` of the permits that allowed something. */
  maxTtlSeconds?: number
  /**
   * With `decideForIssuance`: every decision, for the issuance's (or the refusal's) own record, which must be durable
   * before the token is answered.
   */
  decisions?: RecordedDecision[]
}

/** Decides token requests with the policy decision point. */
export class TokenPolicy {
  constructor(private readonly pdp: PolicyDecisionPoint) {}

  /**
   * Decides each scope (action = the scope) and each authorization detail (action = its type) on the resource
   * server; every decision is recorded by the decision point.
   * @example
   * const allowed = await tokenPolicy.authorize({ client: { kind: 'agent', id: 'bot' }, mode: 'autonomous', chain: [{ kind: 'agent', id: 'bot' }], resourceServer, scopes: ['tickets:read'], details: [] })
   */
  async authorize(request: TokenAuthorizationRequest): Promise<TokenAuthorization> {
    const asks = asksOf(request)
    const decisions = await this.pdp.decideAll(
      asks.map((a) => a.request),
      {
        actors: request.chain,
        mode: request.mode,
        requestId: request.requestId,
        traceparent: request.traceparent,
        source: 'token',
      },
    )
    return authorization(request, asks, decisions)
  }

  /**
   * Decides as `authorize` does for a token about to be issued: the decisions are not recorded on their own but
   * returned (`decisions`) for the token's issuance or refusal record, one durable write per token.
   */
  async decideForIssuance(request: TokenAuthorizationRequest): Promise<TokenAuthorization> {
    const asks = asksOf(request)
    const { decisions, recorded } = await this.pdp.decideForRecord(asks.map((a) => a.request))
    return { ...authorization(request, asks, decisions), decisions: recorded }
  }
}

interface Ask {
  name: string
  request: DecisionRequest
}

// One question per scope (action = the scope) and per authorization detail (action = its type).
function asksOf(request: TokenAuthorizationRequest): Ask[] {
  const facts = tokenFacts(request)
  const base = {
    principal: { type: request.client.kind, id: request.client.id },
    resource: { type: 'resource_server', id: request.resourceServer.id },
    also: request.delegator ? [{ type: 'human', id: request.delegator }] : [],
  }
  return [
    ...request.scopes.map((scope) => ({ name: scope, request: { ...base, action: scope, facts } })),
    ...request.details.map((detail) => ({
      name: String(detail.type),
      request: { ...base, action: String(detail.type), facts: { ...facts, ...detailFacts(detail) } },
    })),
  ]
}

// What the decisions allow of the request, what would need an approval, and the shortest lifetime they set.
function authorization(
  request: TokenAuthorizationRequest,
  asks: readonly Ask[],
  decisions: readonly Decision[],
): TokenAuthorization {
  const allowed = (i: number) => decisions[i]?.decision === 'allow'
  const denied = (i: number) => decisions[i]?.decision === 'deny'
  const result: TokenAuthorization = {
    scopes: request.scopes.filter((_, i) => allowed(i)),
    details: request.details.filter((_, i) => allowed(request.scopes.length + i)),
    denied: asks.filter((_, i) => denied(i)).map((a) => a.name),
    undenied: {
      scopes: request.scopes.filter((_, i) => !denied(i)),
      details: request.details.filter((_, i) => !denied(request.scopes.length + i)),
    },
  }
  const approvals = decisions
    .map((d, i) => ({ d, name: asks[i]?.name ?? '' }))
    .filter(({ d }) => d.decision === 'approval_required')
  if (approvals.length > 0)
    result.approval = {
      approver: approvals[0]?.d.obligations.approval ?? 'sponsor',
      for: approvals.map((a) => a.name),
    }
  // Permits that ask for approval cap the lifetime of what an approval grants, as allowing ones do.
  const ttl = shortest(decisions.filter((d) => d.decision !== 'deny'))
  if (ttl !== undefined) result.maxTtlSeconds = ttl
  return result
}

/**
 * The context Mandate establishes for a token decision: the mode, the chain, its depth, the delegating human, the
 * resource server's audience, the client's address and the stated purpose.
 */
export function tokenFacts(request: {
  mode: 'autonomous' | 'delegated'
  chain: readonly ActorRef[]
  delegator?: string | undefined
  resourceServer?: { audience: string } | undefined
  clientIp?: string | undefined
  purpose?: string | undefined
  mandate?: MandateFacts | undefined
}): Record<string, CedarValueJson> {
  return {
    ...(request.mandate ? { mandate: mandateFact(request.mandate) } : {}),
    mode: request.mode,
    chain: request.chain.map((a) => `${a.kind}:${a.id}`),
    depth: request.chain.filter((a) => a.kind === 'agent').length,
    ...(request.resourceServer ? { resource_server: request.resourceServer.audience } : {}),
    ...(request.delegator ? { delegator: { __entity: { type: 'human', id: request.delegator } } } : {}),
    ...clientIpFact(request.clientIp),
    ...(request.purpose ? { purpose: request.purpose } : {}),
  }
}

/**
 * A decision request as the token service would ask it, for explaining and testing decisions: with a mode, the
 * principal, the delegating human and the resource server become the facts Mandate sets itself. A delegator the
 * registry does not know is refused (InvalidDecisionRequest at `/delegator`): the token service only ever acts for
 * registered humans.
 */
export function asTokenRequest(
  directory: Directory,
  q: {
    principal: RequestEntity
    action: string
    resource: RequestEntity
    context?: Record<string, unknown> | undefined
    mode?: 'autonomous' | 'delegated' | undefined
    delegator?: string | undefined
  },
): DecisionRequest {
  if (q.delegator !== undefined && !directory.human(q.delegator))
    throw new InvalidDecisionRequest(`delegator names no registered human (${q.delegator})`, '/delegator')
  const actor = q.principal.type === 'agent' || q.principal.type === 'workload' ? q.principal : undefined
  const facts = q.mode
    ? tokenFacts({
        mode: q.mode,
        chain: [
          ...(q.delegator ? [{ kind: 'human' as const, id: q.delegator }] : []),
          ...(actor ? [{ kind: actor.type as 'agent' | 'workload', id: actor.id }] : []),
        ],
        delegator: q.delegator,
        resourceServer:
          q.resource.type === 'resource_server' ? directory.resourceServerById(q.resource.id) : undefined,
      })
    : undefined
  return {
    principal: q.principal,
    action: q.action,
    resource: q.resource,
    context: q.context,
    ...(q.delegator ? { also: [{ type: 'human', id: q.delegator }] } : {}),
    ...(facts ? { facts } : {}),
  }
}

/** A mandate as Cedar's `context.mandate` record; Cedar's Long holds integers, so sums are rounded down. */
export function mandateFact(m: MandateFacts): CedarValueJson {
  return {
    id: m.id,
    expires_at: m.expires_at,
    period: m.period,
    calls_used: m.calls_used,
    ...(m.calls_limit !== undefined ? { calls_limit: m.calls_limit } : {}),
    sum_used: Math.floor(m.sum_used),
    ...(m.sum_limit !== undefined ? { sum_limit: Math.floor(m.sum_limit) } : {}),
  }
}

// An address Cedar cannot hold is left out rather than failing every decision.
function clientIpFact(address: string | undefined): Record<string, CedarValueJson> {
  const ip = address === undefined ? undefined : cedarIpAddress(address)
  return ip === undefined ? {} : { client_ip: { __extn: { fn: 'ip', arg: ip } } }
}

function shortest(decisions: readonly Decision[]): number | undefined {
  let ttl: number | undefined
  for (const d of decisions) {
    const t = d.obligations.maxTtlSeconds
    if (t !== undefined) ttl = Math.min(ttl ?? t, t)
  }
  return ttl
}

// RFC 9396 §2.2 common fields a policy may test: the detail's actions, locations and identifier.
function detailFacts(detail: Record<string, unknown>): Record<string, CedarValueJson> {
  const facts: Record<string, CedarValueJson> = {}
  const strings = (value: unknown) =>
    Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined
  const actions = strings(detail.actions)
  const locations = strings(detail.locations)
  if (actions) facts.detail_actions = actions
  if (locations) facts.detail_locations = locations
  if (typeof detail.identifier === 'string') facts.detail_identifier = detail.identifier
  return facts
}
