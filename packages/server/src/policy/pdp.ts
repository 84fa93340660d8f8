// The policy decision point: stops what the registry's gates exclude (lifecycle, sponsor, ancestors, ceiling) before
// any policy is asked, decides the rest with the loaded Cedar policies, turns permit annotations into obligations,
// fails closed on any evaluation error, and records every decision in the audit log itself, so that no caller can skip
// the gates or the record.
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs'
import type { AuditRecorder } from '../audit/audit-batcher.ts'
import type { ActorRef } from '../audit/event.ts'
import type { Directory } from '../registry/directory.ts'
import { decisionGate, type GateDenial } from '../registry/gates.ts'
import type { EntityType, ResourceServer } from '../registry/model.ts'
import {
  contextToCedar,
  EntitySlicer,
  InvalidDecisionRequest,
  type RequestEntity,
  type TypedContext,
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
  /** Set (with a deny) when the request itself cannot be evaluated: a value Cedar cannot hold, an unknown entity. */
  invalid?: string
  /** Set (with a deny) when a gate stopped the request before any policy was asked. */
  gate?: GateDenial
}

/** Who asked, for the audit record. */
export interface DecisionAudit {
  actors: ActorRef[]
  requestId?: string | undefined
  traceparent?: string | undefined
  /** The mode decided on; when unset, the request's `mode` context attribute if it names one. */
  mode?: 'autonomous' | 'delegated' | undefined
  /** Where the question came from: `authzen`, `token`. */
  source: string
}

// A request made ready for Cedar: its context as Cedar reads it and the other entities it names.
interface Prepared {
  context: Record<string, CedarValueJson>
  also: EntityRef[]
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
  recorder: AuditRecorder
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
    const { decision, prepared } = await this.run(request)
    await this.record(request, decision, audit, prepared)
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
    const runs: Array<{ decision: Decision; prepared?: Prepared }> = []
    for (const request of requests) {
      try {
        runs.push(await this.run(request))
      } catch (error) {
        // One invalid request among several is that request's deny, not the batch's failure.
        if (!(error instanceof InvalidDecisionRequest)) throw error
        runs.push({
          decision: {
            decision: 'deny',
            determining: [],
            errors: [],
            obligations: {},
            invalid: error.message,
          },
        })
      }
      const last = runs.at(-1)
      if (last && stopWhen?.(last.decision)) break
    }
    await Promise.all(
      runs.map((r, i) => this.record(requests[i] as DecisionRequest, r.decision, audit, r.prepared)),
    )
    return runs.map((r) => r.decision)
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
    let asked: Prepared | undefined
    for (const candidate of candidates) {
      if (results.length >= limit) break
      examined++
      // Gated candidates (an inactive agent, an action beyond the ceiling) are denies like any other.
      const { decision, prepared } = await this.run(requestFor(candidate))
      asked ??= prepared
      if (decision.decision === 'allow') results.push(candidate)
    }
    const on = decidedOn(asked, audit)
    await this.options.recorder.record({
      type: 'policy.search',
      outcome: 'success',
      actors: audit.actors,
      ...(on.mode ? { mode: on.mode } : {}),
      ...(on.delegator ? { subjects: [`human:${on.delegator}`] } : {}),
      action: audit.what,
      ...(audit.requestId ? { requestId: audit.requestId } : {}),
      ...(audit.traceparent ? { traceparent: audit.traceparent } : {}),
      details: {
        source: audit.source,
        examined,
        results: results.length,
        ...(on.delegator ? { delegator: on.delegator } : {}),
      },
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

  /**
   * The actions the schema lets a principal of one type take on a resource, by name. On a resource server, only the
   * actions it offers (its scopes and authorization_details types), not those of every server.
   */
  async actionsFor(principalType: string, resource: { type: string; id: string }): Promise<string[]> {
    const loaded = await this.current()
    const server =
      resource.type === 'resource_server' ? this.options.directory.resourceServerById(resource.id) : undefined
    const offered =
      resource.type === 'resource_server'
        ? new Set([...(server?.scopes ?? []), ...(server?.authorization_details_types ?? [])])
        : undefined
    return [...loaded.actions]
      .filter(
        ([name, a]) =>
          a.principalTypes.includes(principalType) &&
          a.resourceTypes.includes(resource.type) &&
          (offered === undefined || offered.has(name)),
      )
      .map(([name]) => name)
      .sort()
  }

  /**
   * Evaluates without recording (what `npm run bench:pdp` measures), never for enforcing a decision: enforcing paths
   * use `decide`. The gates apply as on every path. Throws InvalidDecisionRequest when the request cannot be evaluated
   * as sent.
   */
  async evaluate(request: DecisionRequest): Promise<Decision> {
    return (await this.run(request)).decision
  }

  // The gates, then Cedar: a gated request never reaches a policy, so no policy can allow what a gate excludes.
  private async run(request: DecisionRequest): Promise<{ decision: Decision; prepared: Prepared }> {
    const loaded = await this.current()
    const prepared = this.prepare(request, loaded)
    const gate = decisionGate(this.options.directory, request, new Date(this.now()))
    if (gate) return { decision: gated(gate), prepared }
    if (loaded.broken) return { decision: failed('policies', loaded.broken), prepared }
    const { context, also } = prepared
    // Cedar is deterministic: the same request against the same policies and registry (the loaded view) gets the same
    // answer. The key holds everything the evaluation reads, the time to the minute included.
    const cacheSize = this.options.cacheSize ?? MAX_CACHED_DECISIONS
    const key =
      cacheSize > 0
        ? JSON.stringify([request.principal, request.action, request.resource, also, context])
        : ''
    const cached = cacheSize > 0 ? loaded.decisions.get(key) : undefined
    if (cached) return { decision: cached, prepared }
    let evaluation: Evaluation
    try {
      evaluation = this.options.evaluator.evaluate({
        principal: { type: request.principal.type, id: request.principal.id },
        action: request.action,
        resource: { type: request.resource.type, id: request.resource.id },
        context,
        entities: loaded.slicer.slice(request.principal, request.resource, also),
      })
    } catch (error) {
      if (error instanceof EngineFailure) return { decision: failed('request', error.message), prepared }
      // A value the caller sent that Cedar cannot hold (InvalidDecisionRequest) is the caller's error, for the surface.
      throw error
    }
    const decision = Object.freeze(this.outcome(evaluation, loaded))
    if (cacheSize > 0) {
      if (loaded.decisions.size >= cacheSize) loaded.decisions.clear()
      loaded.decisions.set(key, decision)
    }
    return { decision, prepared }
  }

  // The context as Cedar reads it, and the entities it names: every context attribute the action declares as an
  // entity (the delegating human, an approver...) is loaded from the registry with its ancestors, like the principal.
  // An entity the caller names that the registry does not know is the caller's error, not an evaluation error.
  private prepare(request: DecisionRequest, loaded: Loaded): Prepared {
    const typed = loaded.actions.get(request.action)?.context ?? {}
    // Whatever a caller sends under the names only Mandate sets is dropped before it is read, whatever its shape.
    const sent = Object.entries(request.context ?? {}).filter(
      ([name]) => !MANDATE_ONLY_CONTEXT.includes(name),
    )
    const callerContext = contextToCedar(Object.fromEntries(sent), typed)
    const context = { ...callerContext, ...request.facts, ...this.mandateContext(request.principal) }
    const also = [...(request.also ?? [])]
    for (const [name, kind] of Object.entries(typed)) {
      const value = context[name]
      if (!('entityType' in kind) || !isEntityReference(value)) continue
      const ref = value.__entity
      if (value === callerContext[name] && !loaded.slicer.registered(ref))
        throw new InvalidDecisionRequest(
          `context.${name} names no registered ${ref.type} (${ref.id})`,
          `/context/${name}`,
        )
      if (!also.some((a) => a.type === ref.type && a.id === ref.id)) also.push(ref)
    }
    return { context, also }
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
    const { decision, prepared } = await this.run(request)
    const loaded = await this.current()
    const on = decidedOn(prepared, audit)
    await this.options.recorder.record({
      type: 'policy.explain',
      outcome: 'success',
      actors: audit.actors,
      subjects: subjectsOf(request, on),
      ...(on.mode ? { mode: on.mode } : {}),
      action: request.action,
      resource: `${request.resource.type}:${request.resource.id}`,
      ...(decision.gate ? { reason: decision.gate.reason } : {}),
      ...(audit.requestId ? { requestId: audit.requestId } : {}),
      details: {
        source: audit.source,
        decision: decision.decision,
        determining: decision.determining,
        ...gateDetails(decision),
        ...(on.delegator ? { delegator: on.delegator } : {}),
      },
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

  private async record(
    request: DecisionRequest,
    decision: Decision,
    audit: DecisionAudit,
    prepared: Prepared | undefined,
  ): Promise<void> {
    const resource = `${request.resource.type}:${request.resource.id}`
    const on = decidedOn(prepared, audit)
    await this.options.recorder.record({
      type: 'policy.decision',
      outcome: decision.decision === 'allow' ? 'success' : 'deny',
      actors: audit.actors,
      subjects: subjectsOf(request, on),
      ...(on.mode ? { mode: on.mode } : {}),
      action: request.action,
      resource,
      ...(decision.gate
        ? { reason: decision.gate.reason }
        : decision.errors.length > 0
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
        ...gateDetails(decision),
        ...(on.delegator ? { delegator: on.delegator } : {}),
        ...(decision.errors.length > 0 ? { errors: decision.errors } : {}),
        ...(Object.keys(decision.obligations).length > 0 ? { obligations: decision.obligations } : {}),
      },
    })
  }
}

// The mode and the delegating human a decision was made on: the token service's facts, else the caller's context.
function decidedOn(
  prepared: Prepared | undefined,
  audit: DecisionAudit,
): { mode?: 'autonomous' | 'delegated'; delegator?: string } {
  const mode = audit.mode ?? prepared?.context.mode
  const delegator = prepared?.context.delegator
  return {
    ...(mode === 'autonomous' || mode === 'delegated' ? { mode } : {}),
    ...(isEntityReference(delegator) && delegator.__entity.type === 'human'
      ? { delegator: delegator.__entity.id }
      : {}),
  }
}

// The principal, and the human it acted for, so that the audit trail of either finds the decision.
function subjectsOf(request: DecisionRequest, on: { delegator?: string }): string[] {
  return [
    `${request.principal.type}:${request.principal.id}`,
    ...(on.delegator ? [`human:${on.delegator}`] : []),
  ]
}

// The finer cause of a gated decision stays in the record; callers get only the reason.
function gateDetails(decision: Decision): Record<string, string> {
  return decision.gate ? { cause: decision.gate.cause, explanation: decision.gate.message } : {}
}

function isEntityReference(value: CedarValueJson | undefined): value is { __entity: EntityRef } {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    '__entity' in value &&
    typeof value.__entity === 'object' &&
    value.__entity !== null
  )
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

function gated(gate: GateDenial): Decision {
  return { decision: 'deny', determining: [], errors: [], obligations: {}, gate }
}

function failed(policy: string, message: string): Decision {
  return { decision: 'deny', determining: [], errors: [{ policy, message }], obligations: {} }
}
