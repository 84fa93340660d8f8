// The policy decision point: stops what the registry's gates exclude (lifecycle, sponsor, ancestors, ceiling) before
// any policy is asked, decides the rest with the loaded Cedar policies, turns permit annotations into obligations,
// fails closed on any evaluation error, and records every decision in the audit log itself, so that no caller can skip
// the gates or the record.
import { isDeepStrictEqual } from 'node:util'
import type { CedarValueJson, EntityJson } from '@cedar-policy/cedar-wasm/nodejs'
import type { AuditRecorder } from '../audit/audit-batcher.ts'
import type { ActorRef, AuditEventInput } from '../audit/event.ts'
import type { Directory } from '../registry/directory.ts'
import { decisionGate, type GateDenial } from '../registry/gates.ts'
import type { EntityType, ResourceServer } from '../registry/model.ts'
import type { Extensions } from './compiled/json-values.ts'
import {
  CedarRecord,
  CedarSet,
  type CompiledEntity,
  type CompiledRequest,
  type EntityLookup,
  EntityUid,
  EvaluationError,
  ExtensionValue,
  entityUid,
  RequestUids,
  type UidSource,
  type Value,
  valueKey,
} from './compiled/values.ts'
import {
  callerAttributeValues,
  contextToCedar,
  contextValues,
  type ExtensionFactory,
  InvalidDecisionRequest,
  type RequestEntity,
  type TypedContext,
  UnrepresentableValue,
  valueFromJson,
} from './entities.ts'
import { EntityStore } from './entity-store.ts'
import { EngineFailure, type EntityRef, type Evaluation, type PolicyEvaluator } from './evaluator.ts'
import { tokenActions } from './policy-check.ts'
import { type CompiledPolicy, type Obligations, splitPolicySet } from './policy-set.ts'
import { buildSchema, MANDATE_ONLY_CONTEXT } from './schema.ts'
import { type PermitScope, permitScopes, reachable } from './search-scopes.ts'

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

// A request made ready for the engine: in memory (principal, action, resource and context as values, the entities
// the caller's properties add to), and what the JSON form for cedar-wasm is built from when that engine decides.
interface Prepared {
  compiled: CompiledRequest
  /** The principal and resource as the request places them: the registry's entity with the caller's additions. */
  placed: Map<EntityUid, CompiledEntity>
  /** The request, and the context the caller sent less what only Mandate sets: cedar-wasm's JSON is built from them. */
  request: DecisionRequest
  sent: Record<string, unknown>
  typed: TypedContext
  /** Other entities the request names (the delegating human, context references): cedar-wasm's slice needs them. */
  also: EntityUid[]
  /** The mode and the delegating human the request was decided on, for the record. */
  mode?: string | undefined
  delegator?: string | undefined
}

interface Loaded {
  key: string
  policies: Map<string, CompiledPolicy>
  /** The schema's actions, with the principal and resource types each applies to. */
  actions: Map<string, { principalTypes: string[]; resourceTypes: string[]; context: TypedContext }>
  declarations: Map<string, EntityType>
  /** Decisions already made against this view, by request. */
  decisions: Map<string, Decision>
  /** Set when an enabled policy set cannot be loaded: every decision is then a deny (fail closed). */
  broken?: string
  /** The permits' scopes, read on the first search against this view. */
  scopes?: PermitScope[]
}

/**
 * An engine that also decides over entities in memory (the compiled evaluator): `decide` is its fast path. While
 * `fallback` names a construct it cannot compile, the loaded set is evaluated from JSON (`evaluate`) instead.
 */
export interface InMemoryEvaluator extends PolicyEvaluator {
  decide(request: CompiledRequest, entities: EntityLookup): Evaluation
  readonly fallback?: string | undefined
}

/** Which engine decides, and whether the loaded policy set fell back to cedar-wasm. */
export interface EngineStatus {
  engine: 'compiled' | 'cedar-wasm'
  /** The construct the compiler does not handle, while the loaded set is evaluated by cedar-wasm. */
  fallback?: string | undefined
  /** Decisions evaluated by cedar-wasm because of a fallback, since the start. */
  fallbackDecisions: number
}

export interface PdpOptions {
  directory: Directory
  recorder: AuditRecorder
  /** The engine: the compiled evaluator (fast path over the node's entities) or cedar-wasm. */
  evaluator: PolicyEvaluator | InMemoryEvaluator
  /** Builds extension values (`ip`) the way the engine holds them; cedar-wasm needs none. */
  extension?: ExtensionFactory
  /** Told when a loaded policy set falls back to cedar-wasm, with the construct the compiler does not handle. */
  onFallback?: (construct: string) => void
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
  /** The registry's entities, in memory, as the engine reads them. */
  private readonly store: EntityStore
  private fallbackDecisions = 0
  /** `context.time` of the current minute. */
  private clock: { minute: number; time: CedarRecord } | undefined

  constructor(private readonly options: PdpOptions) {
    this.now = options.now ?? Date.now
    this.store = EntityStore.build(options.directory)
    // The directory tells its changes before the write that made them is answered: the next decision sees them.
    options.directory.subscribe((changes) => this.store.apply(changes))
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
   * Decides several requests that one action's own record will carry (a token's issuance or refusal): nothing is
   * recorded here, and the caller must carry each decision's `recorded` form in that record and make it durable before
   * acting on the decisions. The gates apply as on every path.
   * @example
   * const { decisions, recorded } = await pdp.decideForRecord(requests)
   * await recorder.record({ type: 'token.issue', ..., details: { ..., decisions: recorded } })
   */
  async decideForRecord(
    requests: readonly DecisionRequest[],
  ): Promise<{ decisions: Decision[]; recorded: RecordedDecision[] }> {
    const decisions: Decision[] = []
    const recorded: RecordedDecision[] = []
    for (const request of requests) {
      const decision = await this.run(request).then(
        (run) => run.decision,
        (error: unknown) => {
          if (!(error instanceof InvalidDecisionRequest)) throw error
          return invalid(error)
        },
      )
      decisions.push(decision)
      recorded.push(recordedDecision(request, decision))
    }
    return { decisions, recorded }
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
        runs.push({ decision: invalid(error) })
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
    await this.recordSearch(audit, asked, examined, results.length)
    return { results, more: examined < candidates.length }
  }

  /**
   * One page of a search over the registry's entities of one type (AuthZEN subject and resource search): the ids the
   * policies allow, after `after` in id order, up to `limit`, with `more` as `search` over every candidate would say
   * it. Only the entities some permit's scope can reach for this action and this other side are asked (see
   * search-scopes.ts); the answer is the one asking every entity of the type gives.
   * @example
   * await pdp.searchEntities({ vary: 'resource', type: 'doc', request: (id) => ({ principal, action: 'view', resource: { type: 'doc', id } }), limit: 100 }, audit)
   */
  async searchEntities(
    query: {
      vary: 'principal' | 'resource'
      type: string
      request: (id: string) => DecisionRequest
      after?: string | undefined
      limit: number
    },
    audit: DecisionAudit & { what: string },
  ): Promise<{ results: string[]; more: boolean }> {
    const loaded = await this.current()
    const all = this.candidatesOf(query.type)
    const start = firstAfter(all, query.after)
    // The shape of the search: its action and the entity it holds fixed (the same for every candidate).
    const sample = query.request('')
    const fixed = query.vary === 'principal' ? sample.resource : sample.principal
    loaded.scopes ??= permitScopes(new Map([...loaded.policies].map(([id, p]) => [id, p.text])))
    const searchUids = new RequestUids()
    const reach = loaded.broken
      ? new Set<string>()
      : reachable(
          loaded.scopes,
          {
            vary: query.vary,
            type: query.type,
            action: searchUids.uid('Action', sample.action),
            fixed: searchUids.uid(fixed.type, fixed.id),
          },
          this.store,
        )
    const candidates =
      reach === 'all'
        ? all.slice(start)
        : [...reach].filter((id) => query.after === undefined || id > query.after).sort(byCodeUnits)
    const results: string[] = []
    let examined = 0
    let asked: Prepared | undefined
    for (const id of candidates) {
      if (results.length >= query.limit) break
      examined++
      const { decision, prepared } = await this.run(query.request(id))
      asked ??= prepared
      if (decision.decision === 'allow') results.push(id)
    }
    await this.recordSearch(audit, asked, examined, results.length)
    // As asking every candidate would say: candidates were left when the page filled before the last of them.
    const last = results.at(-1)
    const more =
      results.length >= query.limit && (last === undefined ? all.length > start : all.at(-1) !== last)
    return { results, more }
  }

  private async recordSearch(
    audit: DecisionAudit & { what: string },
    asked: Prepared | undefined,
    examined: number,
    results: number,
  ): Promise<void> {
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
        results,
        ...(on.delegator ? { delegator: on.delegator } : {}),
      },
    })
  }

  // The searchable entities of a type, in id order: registry principals and resource servers, declared entities.
  // Groups are not searched (as before the store held them).
  private candidatesOf(type: string): readonly string[] {
    return type === 'group' ? [] : this.store.idsOfType(type)
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
    // The loaded view as it stands, without a wait when the registry has not moved (every request asks).
    const loaded =
      this.loaded && this.loadedAt === this.options.directory.version ? this.loaded : await this.current()
    const prepared = this.prepare(request, loaded)
    const gate = decisionGate(this.options.directory, request, new Date(this.now()))
    if (gate) return { decision: gated(gate), prepared }
    if (loaded.broken) return { decision: failed('policies', loaded.broken), prepared }
    // Cedar is deterministic: the same request against the same policies and registry (the loaded view) gets the same
    // answer. The key holds everything the evaluation reads, the time to the minute included.
    const cacheSize = this.options.cacheSize ?? MAX_CACHED_DECISIONS
    const key =
      cacheSize > 0
        ? `${JSON.stringify([request.principal, request.action, request.resource])}${valueKey(prepared.compiled.context)}`
        : ''
    const cached = cacheSize > 0 ? loaded.decisions.get(key) : undefined
    if (cached) return { decision: cached, prepared }
    let evaluation: Evaluation
    try {
      evaluation = this.evaluateWithEngine(prepared)
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

  // The compiled evaluator decides over the node's entities directly; cedar-wasm (chosen, or the compiled evaluator's
  // fallback for a construct it does not compile) gets the request's slice as JSON.
  private evaluateWithEngine(prepared: Prepared): Evaluation {
    const evaluator = this.options.evaluator
    const entities = new PlacedEntities(this.store, prepared.placed)
    if ('decide' in evaluator && evaluator.fallback === undefined)
      return evaluator.decide(prepared.compiled, entities)
    if ('decide' in evaluator) this.fallbackDecisions++
    const { principal, action, resource } = prepared.compiled
    return evaluator.evaluate({
      principal: { type: principal.type, id: principal.id },
      action: action.id,
      resource: { type: resource.type, id: resource.id },
      context: this.contextJson(prepared),
      entities: sliceOf(entities, [principal, resource], prepared.also),
    })
  }

  // The request as the engine reads it. Its context: the caller's (less what only Mandate sets), Mandate's facts and
  // what Mandate knows of the principal, in that order of precedence; every context attribute the action declares as
  // an entity names a registered entity (the caller's error otherwise, not an evaluation error). Its principal and
  // resource: the registry's entities, to which the caller's properties only add (never Mandate's own attributes).
  private prepare(request: DecisionRequest, loaded: Loaded): Prepared {
    const typed = loaded.actions.get(request.action)?.context ?? NO_TYPED_CONTEXT
    const extension = this.options.extension ?? opaqueExtension
    // Ids the request names are not interned unless the registry or the policies hold them (see RequestUids).
    const uids = new RequestUids()
    const sent = callerContextOf(request.context)
    const callerContext = contextValues(sent, typed, extension, uids)
    const fields = new Map(callerContext)
    if (request.facts)
      for (const [name, value] of Object.entries(request.facts))
        fields.set(name, factValue(value, name, extension, uids))
    this.addMandateContext(fields, request.principal)
    const also = request.also ? request.also.map((a) => uids.uid(a.type, a.id)) : []
    for (const name in typed) {
      const kind = typed[name]
      const value = fields.get(name)
      if (!kind || !('entityType' in kind) || !(value instanceof EntityUid)) continue
      if (value === callerContext.get(name) && !this.store.get(value))
        throw new InvalidDecisionRequest(
          `context.${name} names no registered ${value.type} (${value.id})`,
          `/context/${name}`,
        )
      if (!also.includes(value)) also.push(value)
    }
    const principal = uids.uid(request.principal.type, request.principal.id)
    const resource = uids.uid(request.resource.type, request.resource.id)
    const placed = new Map<EntityUid, CompiledEntity>()
    // Cedar holds one record per entity: a request describing one entity two ways is contradictory, and is refused
    // rather than decided on either description.
    if (
      principal === resource &&
      request.principal.properties &&
      request.resource.properties &&
      !isDeepStrictEqual(request.principal.properties, request.resource.properties)
    )
      throw new InvalidDecisionRequest(
        'describes the subject entity with other properties than the subject does (one entity has one set of attributes)',
        '/resource/properties',
      )
    this.place(placed, principal, request.principal.properties, loaded, uids)
    this.place(placed, resource, request.resource.properties, loaded, uids)
    const mode = fields.get('mode')
    const delegator = fields.get('delegator')
    const prepared: Prepared = {
      compiled: {
        principal,
        action: uids.uid('Action', request.action),
        resource,
        context: new CedarRecord(fields),
      },
      placed,
      also,
      request,
      sent,
      typed,
    }
    if (typeof mode === 'string') prepared.mode = mode
    if (delegator instanceof EntityUid && delegator.type === 'human') prepared.delegator = delegator.id
    return prepared
  }

  // The context in Cedar's JSON form, for cedar-wasm: the caller's, Mandate's facts and what Mandate knows.
  private contextJson(prepared: Prepared): Record<string, CedarValueJson> {
    return {
      ...contextToCedar(prepared.sent, prepared.typed),
      ...prepared.request.facts,
      ...this.mandateContextJson(prepared.request.principal),
    }
  }

  // The principal or resource as a request places it: what the registry holds, with the caller's properties adding
  // attributes it does not hold. An entity the registry does not know is placed all the same (no parents), with the
  // caller's properties only. Placed twice (the principal is the resource), both descriptions are the same (see prepare).
  private place(
    placed: Map<EntityUid, CompiledEntity>,
    uid: EntityUid,
    properties: Record<string, unknown> | undefined,
    loaded: Loaded,
    uids: UidSource,
  ): void {
    const base = placed.get(uid) ?? this.store.get(uid)
    if (placed.has(uid) && !properties) return
    if (!properties) {
      placed.set(uid, base ?? { uid, attrs: EMPTY_RECORD, ancestors: NO_ANCESTORS })
      return
    }
    const fields = callerAttributeValues(loaded.declarations, uid.type, properties, uids)
    for (const [name, value] of base?.attrs.fields ?? []) fields.set(name, value)
    placed.set(uid, {
      uid,
      attrs: new CedarRecord(fields),
      ...(base?.tags ? { tags: base.tags } : {}),
      ancestors: base?.ancestors ?? NO_ANCESTORS,
    })
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

  // What Mandate knows about every decision, which callers cannot override, set in `context`.
  private addMandateContext(context: Map<string, Value>, principal: RequestEntity): void {
    context.set('risk', 0)
    context.set('time', this.timeRecord())
    const agent = this.agentOf(principal)
    if (agent) {
      context.set('classification', agent.classification)
      context.set('sponsor', entityUid('human', agent.sponsor))
      if (agent.model) {
        context.set('model_provider', agent.model.provider)
        context.set('model_name', agent.model.name)
      }
    }
  }

  // `context.time`: every field is the minute's, so one record serves every decision of that minute.
  private timeRecord(): CedarRecord {
    const ms = this.now()
    const minute = Math.floor(ms / 60_000)
    if (this.clock?.minute === minute) return this.clock.time
    const now = new Date(ms)
    const time = new CedarRecord(
      new Map<string, Value>([
        ['hour', now.getUTCHours()],
        ['minute', now.getUTCMinutes()],
        ['weekday', WEEKDAYS[now.getUTCDay()] ?? 'sunday'],
        ['date', now.toISOString().slice(0, 10)],
      ]),
    )
    this.clock = { minute, time }
    return time
  }

  // The same, in Cedar's JSON form, for cedar-wasm.
  private mandateContextJson(principal: RequestEntity): Record<string, CedarValueJson> {
    const values = new Map<string, Value>()
    this.addMandateContext(values, principal)
    const context: Record<string, CedarValueJson> = {}
    for (const [name, value] of values) context[name] = jsonOf(value)
    return context
  }

  private agentOf(principal: RequestEntity) {
    if (principal.type !== 'agent') return undefined
    const client = this.options.directory.client(principal.id)
    return client?.kind === 'agent' ? client.principal : undefined
  }

  /** The engine deciding, and whether the loaded set fell back to cedar-wasm (for the node's metrics). */
  engineStatus(): EngineStatus {
    const evaluator = this.options.evaluator
    return {
      engine: 'decide' in evaluator ? 'compiled' : 'cedar-wasm',
      ...('decide' in evaluator && evaluator.fallback !== undefined ? { fallback: evaluator.fallback } : {}),
      fallbackDecisions: this.fallbackDecisions,
    }
  }

  // The loaded policy set follows the registry: reloaded only when a policy set or an entity type changed. The
  // entities follow it change by change.
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
    else this.loaded = { ...this.loaded, decisions: new Map() }
    this.loadedAt = directory.version
    return this.loaded
  }

  private load(
    key: string,
    sets: ReadonlyArray<{ id: string; policies: string }>,
    types: EntityType[],
    servers: ResourceServer[],
  ): Loaded {
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
    const loaded: Loaded = { key, policies, actions, declarations: declarations(types), decisions: new Map() }
    for (const set of sets) {
      const { policies: split, problems } = splitPolicySet(set)
      if (problems.length > 0)
        return { ...loaded, broken: `policy set ${set.id} does not parse: ${problems[0]?.message}` }
      for (const policy of split) policies.set(policy.id, policy)
    }
    const evaluator = this.options.evaluator
    const before = 'decide' in evaluator ? evaluator.fallback : undefined
    try {
      evaluator.load(new Map([...policies].map(([id, p]) => [id, p.text])))
    } catch (error) {
      return { ...loaded, broken: (error as Error).message }
    }
    const fallback = 'decide' in evaluator ? evaluator.fallback : undefined
    if (fallback !== undefined && fallback !== before) this.options.onFallback?.(fallback)
    return loaded
  }

  // One record per decision, built field by field (no spread objects), its fields in their usual order.
  private async record(
    request: DecisionRequest,
    decision: Decision,
    audit: DecisionAudit,
    prepared: Prepared | undefined,
  ): Promise<void> {
    const mode = audit.mode ?? prepared?.mode
    const delegator = prepared?.delegator
    const principal = `${request.principal.type}:${request.principal.id}`
    // The principal, and the human it acted for, so that the audit trail of either finds the decision.
    const event: AuditEventInput = {
      type: 'policy.decision',
      outcome: decision.decision === 'allow' ? 'success' : 'deny',
      actors: audit.actors,
      subjects: delegator !== undefined ? [principal, `human:${delegator}`] : [principal],
    }
    if (mode === 'autonomous' || mode === 'delegated') event.mode = mode
    event.action = request.action
    event.resource = `${request.resource.type}:${request.resource.id}`
    if (decision.gate) event.reason = decision.gate.reason
    else if (decision.errors.length > 0) event.reason = 'evaluation_error'
    else if (decision.invalid) event.reason = 'invalid_request'
    if (audit.requestId) event.requestId = audit.requestId
    if (audit.traceparent) event.traceparent = audit.traceparent
    const details: Record<string, unknown> = {
      source: audit.source,
      decision: decision.decision,
      determining: decision.determining,
    }
    if (decision.gate) {
      details.cause = decision.gate.cause
      details.explanation = decision.gate.message
    }
    if (delegator !== undefined) details.delegator = delegator
    if (decision.errors.length > 0) details.errors = decision.errors
    if (Object.keys(decision.obligations).length > 0) details.obligations = decision.obligations
    event.details = details
    await this.options.recorder.record(event)
  }
}

/**
 * A decision as the record of the action it was made for carries it (`details.decisions` of `token.issue` and
 * `token.refuse`): the action, the outcome and why (determining policies, obligations, the gate, evaluation errors).
 */
export interface RecordedDecision {
  action: string
  decision: Decision['decision']
  determining: string[]
  obligations?: Obligations
  /** The gate that stopped it (`agent_inactive`, `beyond_ceiling`...), with its finer cause and explanation. */
  reason?: string
  cause?: string
  explanation?: string
  errors?: Decision['errors']
}

function recordedDecision(request: DecisionRequest, decision: Decision): RecordedDecision {
  return {
    action: request.action,
    decision: decision.decision,
    determining: decision.determining,
    ...(Object.keys(decision.obligations).length > 0 ? { obligations: decision.obligations } : {}),
    ...(decision.gate ? { reason: decision.gate.reason, ...gateDetails(decision) } : {}),
    ...(decision.errors.length > 0 ? { reason: 'evaluation_error', errors: decision.errors } : {}),
    ...(decision.invalid ? { reason: 'invalid_request', explanation: decision.invalid } : {}),
  }
}

// The mode and the delegating human a decision was made on: the token service's facts, else the caller's context.
function decidedOn(
  prepared: Prepared | undefined,
  audit: DecisionAudit,
): { mode?: 'autonomous' | 'delegated'; delegator?: string } {
  const mode = audit.mode ?? prepared?.mode
  const delegator = prepared?.delegator
  return {
    ...(mode === 'autonomous' || mode === 'delegated' ? { mode } : {}),
    ...(delegator !== undefined ? { delegator } : {}),
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

// A request that cannot be evaluated as sent, among several: that request's deny, not the batch's failure.
function invalid(error: InvalidDecisionRequest): Decision {
  return { decision: 'deny', determining: [], errors: [], obligations: {}, invalid: error.message }
}

function gated(gate: GateDenial): Decision {
  return { decision: 'deny', determining: [], errors: [], obligations: {}, gate }
}

function failed(policy: string, message: string): Decision {
  return { decision: 'deny', determining: [], errors: [{ policy, message }], obligations: {} }
}

const EMPTY_RECORD = new CedarRecord(new Map())
const NO_TYPED_CONTEXT: TypedContext = {}
const NO_CONTEXT: Record<string, unknown> = {}

// The context a caller sent, less the names only Mandate sets (dropped whatever their shape); the object itself when it
// holds none of them.
function callerContextOf(context: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!context) return NO_CONTEXT
  if (!MANDATE_ONLY_CONTEXT.some((name) => Object.hasOwn(context, name))) return context
  const sent: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(context))
    if (!MANDATE_ONLY_CONTEXT.includes(name)) sent[name] = value
  return sent
}
const NO_ANCESTORS: ReadonlySet<EntityUid> = new Set()

/** The node's entities as one request sees them: its principal and resource as placed, the rest from the store. */
class PlacedEntities implements EntityLookup {
  constructor(
    private readonly store: EntityLookup,
    private readonly placed: ReadonlyMap<EntityUid, CompiledEntity>,
  ) {}
  get(uid: EntityUid): CompiledEntity | undefined {
    return this.placed.get(uid) ?? this.store.get(uid)
  }
}

// The slice cedar-wasm needs: the principal and resource, the entities their attributes reference, the other
// entities the request names, and every ancestor of each (an ancestor the registry does not hold, as an empty entity).
function sliceOf(
  entities: EntityLookup,
  withReferences: readonly EntityUid[],
  also: readonly EntityUid[],
): EntityJson[] {
  const out = new Map<EntityUid, EntityJson>()
  const add = (uid: EntityUid) => {
    if (out.has(uid)) return undefined
    const entity = entities.get(uid)
    const ancestors = [...(entity?.ancestors ?? [])]
    out.set(uid, {
      uid: { type: uid.type, id: uid.id },
      attrs: entity ? (jsonOf(entity.attrs) as Record<string, CedarValueJson>) : {},
      // Every ancestor as a parent: Cedar's transitive closure of them is the same.
      parents: ancestors.map((a) => ({ type: a.type, id: a.id })),
    })
    for (const ancestor of ancestors) add(ancestor)
    return entity
  }
  for (const uid of withReferences) {
    const entity = add(uid)
    for (const value of entity?.attrs.fields.values() ?? []) if (value instanceof EntityUid) add(value)
  }
  for (const uid of also) add(uid)
  return [...out.values()]
}

// A value in Cedar's JSON form. Entities and Mandate's context hold no extension values (those arrive as JSON).
function jsonOf(value: Value): CedarValueJson {
  if (typeof value === 'bigint') throw new EngineFailure('cedar-wasm cannot take an integer beyond 2^53')
  if (typeof value !== 'object') return value
  if (value instanceof EntityUid) return { __entity: { type: value.type, id: value.id } }
  if (value instanceof CedarSet) return value.items.map(jsonOf)
  if (value instanceof CedarRecord) {
    const record: Record<string, CedarValueJson> = {}
    for (const [name, field] of value.fields) record[name] = jsonOf(field)
    return record
  }
  throw new EngineFailure(`cedar-wasm takes ${value.extension} values in their call form only`)
}

// One of Mandate's facts (Cedar JSON, set by the token service) as a value.
function factValue(value: CedarValueJson, name: string, extension: ExtensionFactory, uids: UidSource): Value {
  try {
    return valueFromJson(value, extension, uids)
  } catch (error) {
    if (error instanceof EvaluationError) throw new UnrepresentableValue(`context.${name}: ${error.message}`)
    throw error
  }
}

/**
 * An extension value held only to key the decision cache, for an engine that takes extension values in their call
 * form (cedar-wasm reads the request's JSON instead).
 */
class ExtensionCall extends ExtensionValue {
  constructor(
    readonly extension: 'ipaddr' | 'decimal' | 'datetime' | 'duration',
    private readonly argument: string,
  ) {
    super()
  }
  equals(other: ExtensionValue): boolean {
    return other.key() === this.argument
  }
  key(): string {
    return this.argument
  }
}

const EXTENSION_OF: Record<string, ExtensionCall['extension']> = {
  ip: 'ipaddr',
  decimal: 'decimal',
  datetime: 'datetime',
  duration: 'duration',
}

/**
 * Extension values as the compiled evaluator's extension functions make them (`ip("10.0.0.1")` through its `ip`);
 * for a function it does not hold, a value that only keys the cache (its policies then run in cedar-wasm anyway).
 */
export function extensionFactory(extensions: Extensions): ExtensionFactory {
  return (fn, arg) => {
    const make = extensions.functions.get(fn)
    if (!make) return opaqueExtension(fn, arg)
    const value = make([arg])
    if (!(value instanceof ExtensionValue)) throw new EvaluationError(`${fn}() made no extension value`)
    return value
  }
}

function opaqueExtension(fn: string, arg: string): ExtensionValue {
  const extension = EXTENSION_OF[fn]
  if (!extension) throw new EvaluationError(`${fn} is no extension function`)
  return new ExtensionCall(extension, arg)
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

// The index of the first id after `after` in a sorted list (0 without one).
function firstAfter(sorted: readonly string[], after: string | undefined): number {
  if (after === undefined) return 0
  let low = 0
  let high = sorted.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if ((sorted[mid] as string) <= after) low = mid + 1
    else high = mid
  }
  return low
}
