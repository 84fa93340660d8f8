// The policy decision point: decides (principal, action, resource, context) with the loaded Cedar policies, turns
// permit annotations into obligations, fails closed on any evaluation error, and records every decision in the audit
// log itself, so that no caller can skip the record.
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs'
import type { AuditBatcher } from '../audit/audit-batcher.ts'
import type { ActorRef } from '../audit/event.ts'
import type { Directory } from '../registry/directory.ts'
import type { EntityType, ResourceServer } from '../registry/model.ts'
import {
  contextToCedar,
  EntitySlicer,
  type RequestEntity,
  type TypedContext,
  UnrepresentableValue,
} from './entities.ts'
import { EngineFailure, type EntityRef, type Evaluation, type PolicyEvaluator } from './evaluator.ts'
import { tokenActions } from './policy-check.ts'
import { type CompiledPolicy, type Obligations, splitPolicySet } from './policy-set.ts'
import { buildSchema, MANDATE_ONLY_CONTEXT } from './schema.ts'

/** One question for the decision point. */
export interface DecisionRequest {
  principal: RequestEntity
  action: string
  resource: RequestEntity
  /** Request context (JSON); Mandate adds `time` and `risk`, and an agent principal's classification, sponsor and model. */
  context?: Record<string, unknown> | undefined
  /** Other entities the policies may read (the delegating human). */
  also?: readonly EntityRef[]
  /** Context Mandate established itself (mode, chain, client IP), already in Cedar form; callers cannot override it. */
  facts?: Record<string, CedarValueJson>
}

/** The answer: the outcome, why, and what it obliges. */
export interface Decision {
  decision: 'allow' | 'deny' | 'approval_required'
  /** The policies that determined the outcome. */
  determining: string[]
  /** Policies that failed during evaluation; any makes the decision a deny. */
  errors: Array<{ policy: string; message: string }>
  obligations: Obligations
  /** Set (with a deny) when the request itself cannot be evaluated: a value Cedar cannot hold. */
  invalid?: string
}

/** Who asked, for the audit record. */
export interface DecisionAudit {
  actors: ActorRef[]
  requestId?: string | undefined
  traceparent?: string | undefined
  mode?: 'autonomous' | 'delegated' | undefined
  /** Where the question came from: `authzen`, `token`. */
  source: string
}

interface Loaded {
  key: string
  policies: Map<string, CompiledPolicy>
  /** The schema's actions, with the principal and resource types each applies to. */
  actions: Map<string, { principalTypes: string[]; resourceTypes: string[]; context: TypedContext }>
  slicer: EntitySlicer
  /** Decisions already made against this view, by request. */
  decisions: Map<string, Decision>
  /** Set when an enabled policy set cannot be loaded: every decision is then a deny (fail closed). */
  broken?: string
}

export interface PdpOptions {
  directory: Directory
  recorder: AuditBatcher
  evaluator: PolicyEvaluator
  /** Decisions kept per loaded view (0: none). */
  cacheSize?: number
  now?: () => number
}

/** Decisions kept per loaded view before the cache starts over, unless configured. */
const MAX_CACHED_DECISIONS = 10_000

const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday']

/** Decides requests against the policies in the registry, reloading them when the registry changes. */
export class PolicyDecisionPoint {
  private loaded: Loaded | undefined
  private loadedAt = ''
  private readonly now: () => number

  constructor(private readonly options: PdpOptions) {
    this.now = options.now ?? Date.now
  }

  /**
   * Decides one request and records the decision; resolves once the record is durable.
   * @example
   * const { decision } = await pdp.decide(
   *   { principal: { type: 'agent', id: 'support-bot' }, action: 'tickets:read', resource: { type: 'resource_server', id: 'tickets' } },
   *   { actors: [{ kind: 'agent', id: 'support-bot' }], source: 'token' },
   * )
   */
  async decide(request: DecisionRequest, audit: DecisionAudit): Promise<Decision> {
    const decision = await this.evaluate(request)
    await this.record(request, decision, audit)
    return decision
  }

  /**
   * Decides several requests; each decision is recorded. Stops early when `stopWhen` returns true for a decision
   * (AuthZEN's deny_on_first_deny and permit_on_first_permit); the rest are not evaluated.
   */
  async decideAll(
    requests: readonly DecisionRequest[],
    audit: DecisionAudit,
    stopWhen?: (decision: Decision) => boolean,
  ): Promise<Decision[]> {
    const decisions: Decision[] = []
    for (const request of requests) {
      let decision: Decision
      try {
        decision = await this.evaluate(request)
      } catch (error) {
        // One unrepresentable request among several is that request's deny, not the batch's failure.
        if (!(error instanceof UnrepresentableValue)) throw error
        decision = { decision: 'deny', determining: [], errors: [], obligations: {}, invalid: error.message }
      }
      decisions.push(decision)
      if (stopWhen?.(decision)) break
    }
    await Promise.all(decisions.map((d, i) => this.record(requests[i] as DecisionRequest, d, audit)))
    return decisions
  }

  /**
   * Which candidates the policies allow, in the order given, up to `limit`; `more` says whether candidates were left
   * unexamined. Records one summary of the search (candidates examined, results), not one record per candidate.
   */
  async search<T>(
    candidates: readonly T[],
    requestFor: (candidate: T) => DecisionRequest,
    audit: DecisionAudit & { what: string },
    limit = Number.POSITIVE_INFINITY,
  ): Promise<{ results: T[]; more: boolean }> {
    const results: T[] = []
    let examined = 0
    for (const candidate of candidates) {
      if (results.length >= limit) break
      examined++
      const decision = await this.evaluate(requestFor(candidate))
      if (decision.decision === 'allow') results.push(candidate)
    }
    await this.options.recorder.record({
      type: 'policy.search',
      outcome: 'success',
      actors: audit.actors,
      action: audit.what,
      ...(audit.requestId ? { requestId: audit.requestId } : {}),
      ...(audit.traceparent ? { traceparent: audit.traceparent } : {}),
      details: { source: audit.source, examined, results: results.length },
    })
    return { results, more: examined < candidates.length }
  }

  /** Ids of the known entities of a type (registry principals, or declared application entities), in id order. */
  async candidates(type: string): Promise<string[]> {
    const d = this.options.directory
    const sorted = (ids: Iterable<string>) => [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    switch (type) {
      case 'human':
        return sorted([...d.humans()].map((h) => h.id))
      case 'agent':
      case 'workload':
        return sorted([...d.clients()].filter((c) => c.kind === type).map((c) => c.principal.id))
      case 'resource_server':
        return sorted([...d.resourceServers()].map((r) => r.id))
      default:
        // Sorted here, not by the store: pages compare ids the same way (PostgreSQL collations may order otherwise).
        return sorted(d.entityIdsOfType(type).map((uid) => uid.slice(type.length + 1)))
    }
  }

  /** The actions the schema lets a principal of one type take on a resource of another, by name. */
  async actionsFor(principalType: string, resourceType: string): Promise<string[]> {
    const loaded = await this.current()
    return [...loaded.actions]
      .filter(([, a]) => a.principalTypes.includes(principalType) && a.resourceTypes.includes(resourceType))
      .map(([name]) => name)
      .sort()
  }

  /** Evaluates without recording: for explaining a decision to an admin, never for enforcing one. */
  async evaluate(request: DecisionRequest): Promise<Decision> {
    const loaded = await this.current()
    if (loaded.broken) return failed('policies', loaded.broken)
    const callerContext = contextToCedar(request.context ?? {}, loaded.actions.get(request.action)?.context)
    for (const name of MANDATE_ONLY_CONTEXT) delete callerContext[name]
    const context = { ...callerContext, ...request.facts, ...this.mandateContext(request.principal) }
    // Cedar is deterministic: the same request against the same policies and registry (the loaded view) gets the same
    // answer. The key holds everything the evaluation reads, the time to the minute included.
    const cacheSize = this.options.cacheSize ?? MAX_CACHED_DECISIONS
    const key =
      cacheSize > 0
        ? JSON.stringify([request.principal, request.action, request.resource, request.also ?? [], context])
        : ''
    const cached = cacheSize > 0 ? loaded.decisions.get(key) : undefined
    if (cached) return cached
    let evaluation: Evaluation
    try {
      evaluation = this.options.evaluator.evaluate({
        principal: { type: request.principal.type, id: request.principal.id },
        action: request.action,
        resource: { type: request.resource.type, id: request.resource.id },
        context,
        entities: loaded.slicer.slice(request.principal, request.resource, request.also),
      })
    } catch (error) {
      // A value the caller sent that Cedar cannot hold is the caller's error, for the surface to answer.
      if (error instanceof UnrepresentableValue) throw error
      if (error instanceof EngineFailure) return failed('request', error.message)
      throw error
    }
    const decision = Object.freeze(this.outcome(evaluation, loaded))
    if (cacheSize > 0) {
      if (loaded.decisions.size >= cacheSize) loaded.decisions.clear()
      loaded.decisions.set(key, decision)
    }
    return decision
  }

  // Cedar's answer as Mandate's decision: evaluation errors deny, permits' annotations become obligations.
  private outcome(evaluation: Evaluation, loaded: Loaded): Decision {
    // Cedar skips a policy that errors, forbids included: a failed forbid must never let a request through.
    if (evaluation.errors.length > 0)
      return {
        decision: 'deny',
        determining: evaluation.determining,
        errors: evaluation.errors,
        obligations: {},
      }
    if (evaluation.decision === 'deny')
      return { decision: 'deny', determining: evaluation.determining, errors: [], obligations: {} }
    const obligations: Obligations = {}
    for (const id of evaluation.determining) {
      const policy = loaded.policies.get(id)
      if (!policy) continue
      if (policy.obligations.approval) obligations.approval ??= policy.obligations.approval
      const ttl = policy.obligations.maxTtlSeconds
      if (ttl !== undefined) obligations.maxTtlSeconds = Math.min(obligations.maxTtlSeconds ?? ttl, ttl)
    }
    return {
      decision: obligations.approval ? 'approval_required' : 'allow',
      determining: evaluation.determining,
      errors: [],
      obligations,
    }
  }

  /**
   * Explains a decision to an admin: the outcome and the text of the policies that determined it. Recorded as an
   * explanation (`policy.explain`), since nothing is enforced on it.
   */
  async explain(
    request: DecisionRequest,
    audit: DecisionAudit,
  ): Promise<{ decision: Decision; policies: CompiledPolicy[] }> {
    const decision = await this.evaluate(request)
    const loaded = await this.current()
    await this.options.recorder.record({
      type: 'policy.explain',
      outcome: 'success',
      actors: audit.actors,
      subjects: [`${request.principal.type}:${request.principal.id}`],
      action: request.action,
      resource: `${request.resource.type}:${request.resource.id}`,
      ...(audit.requestId ? { requestId: audit.requestId } : {}),
      details: { source: audit.source, decision: decision.decision, determining: decision.determining },
    })
    return { decision, policies: decision.determining.flatMap((id) => loaded.policies.get(id) ?? []) }
  }

  /** Ids and obligations of the loaded policies (for `mandate policy explain`). */
  async policies(): Promise<ReadonlyMap<string, CompiledPolicy>> {
    return (await this.current()).policies
  }

  // What Mandate knows about every decision, which callers cannot override.
  private mandateContext(principal: RequestEntity): Record<string, CedarValueJson> {
    const now = new Date(this.now())
    const context: Record<string, CedarValueJson> = {
      risk: 0,
      time: {
        hour: now.getUTCHours(),
        minute: now.getUTCMinutes(),
        weekday: WEEKDAYS[now.getUTCDay()] ?? 'sunday',
        date: now.toISOString().slice(0, 10),
      },
    }
    if (principal.type === 'agent') {
      const client = this.options.directory.client(principal.id)
      if (client?.kind === 'agent') {
        const agent = client.principal
        context.classification = agent.classification
        context.sponsor = { __entity: { type: 'human', id: agent.sponsor } }
        if (agent.model) {
          context.model_provider = agent.model.provider
          context.model_name = agent.model.name
        }
      }
    }
    return context
  }

  // The loaded policy set follows the registry: reloaded only when a policy set or an entity type changed.
  private async current(): Promise<Loaded> {
    // The directory follows the registry by itself (local writes reload it before they answer; other nodes' writes
    // within its polling interval).
    const directory = this.options.directory
    if (this.loaded && this.loadedAt === directory.version) return this.loaded
    const types = [...directory.entityTypes()]
    const servers = [...directory.resourceServers()]
    const sets = directory.policies().filter((p) => p.enabled)
    const key = JSON.stringify([
      sets.map((p) => [p.id, p.version]),
      types.map((t) => [t.id, t.version]),
      servers.map((r) => [r.id, r.version]),
    ])
    if (this.loaded?.key !== key) this.loaded = this.load(key, sets, types, servers)
    else
      this.loaded = {
        ...this.loaded,
        slicer: new EntitySlicer(directory, declarations(types)),
        decisions: new Map(),
      }
    this.loadedAt = directory.version
    return this.loaded
  }

  private load(
    key: string,
    sets: ReadonlyArray<{ id: string; policies: string }>,
    types: EntityType[],
    servers: ResourceServer[],
  ): Loaded {
    const slicer = new EntitySlicer(this.options.directory, declarations(types))
    const { schema } = buildSchema(types, tokenActions(servers))
    const actions = new Map(
      Object.entries(schema['']?.actions ?? {}).map(([name, action]) => [
        name,
        {
          principalTypes: action.appliesTo?.principalTypes ?? [],
          resourceTypes: action.appliesTo?.resourceTypes ?? [],
          context: typedContext(action.appliesTo?.context),
        },
      ]),
    )
    const policies = new Map<string, CompiledPolicy>()
    const loaded: Loaded = { key, policies, actions, slicer, decisions: new Map() }
    for (const set of sets) {
      const { policies: split, problems } = splitPolicySet(set)
      if (problems.length > 0)
        return { ...loaded, broken: `policy set ${set.id} does not parse: ${problems[0]?.message}` }
      for (const policy of split) policies.set(policy.id, policy)
    }
    try {
      this.options.evaluator.load(new Map([...policies].map(([id, p]) => [id, p.text])))
    } catch (error) {
      return { ...loaded, broken: (error as Error).message }
    }
    return loaded
  }

  private async record(request: DecisionRequest, decision: Decision, audit: DecisionAudit): Promise<void> {
    const resource = `${request.resource.type}:${request.resource.id}`
    await this.options.recorder.record({
      type: 'policy.decision',
      outcome: decision.decision === 'allow' ? 'success' : 'deny',
      actors: audit.actors,
      subjects: [`${request.principal.type}:${request.principal.id}`],
      ...(audit.mode ? { mode: audit.mode } : {}),
      action: request.action,
      resource,
      ...(decision.errors.length > 0
        ? { reason: 'evaluation_error' }
        : decision.invalid
          ? { reason: 'invalid_request' }
          : {}),
      ...(audit.requestId ? { requestId: audit.requestId } : {}),
      ...(audit.traceparent ? { traceparent: audit.traceparent } : {}),
      details: {
        source: audit.source,
        decision: decision.decision,
        determining: decision.determining,
        ...(decision.errors.length > 0 ? { errors: decision.errors } : {}),
        ...(Object.keys(decision.obligations).length > 0 ? { obligations: decision.obligations } : {}),
      },
    })
  }
}

// The context attributes of an action that JSON cannot give directly: entity references and IP addresses.
function typedContext(context: unknown): TypedContext {
  const attributes = (
    context as { attributes?: Record<string, { type?: string; name?: string }> } | undefined
  )?.attributes
  const typed: TypedContext = {}
  for (const [name, type] of Object.entries(attributes ?? {})) {
    if (type.type === 'Entity' && type.name) typed[name] = { entityType: type.name }
    else if (type.type === 'Extension' && type.name === 'ipaddr') typed[name] = { ip: true }
  }
  return typed
}

function declarations(types: readonly EntityType[]): Map<string, EntityType> {
  return new Map(types.map((t) => [t.id, t]))
}

function failed(policy: string, message: string): Decision {
  return { decision: 'deny', determining: [], errors: [{ policy, message }], obligations: {} }
}
