// The compiled Cedar evaluator: cedar-wasm parses each policy into its JSON form, compiler.ts turns it into closures,
// and a request runs only the policies whose scope can match its action and its principal's and resource's types.
// A policy set the compiler cannot handle in full is evaluated by cedar-wasm instead, and the construct is reported.
import { policyToJson, templateToJson } from '../cedar.ts'
import {
  CedarWasmEvaluator,
  EngineFailure,
  type Evaluation,
  type EvaluationRequest,
  type PolicyEvaluator,
  type TemplatedPolicies,
} from '../evaluator.ts'
import { type CompiledPolicy, compilePolicy, UnsupportedConstruct } from './compiler.ts'
import { restoreExactIntegers } from './exact-literals.ts'
import { compareExtension, EXTENSION_FUNCTIONS } from './extensions.ts'
import { EntityMap, type Extensions, InvalidInput, recordFromJson, uidFromJson } from './json-values.ts'
import {
  type CompiledRequest,
  type EntityLookup,
  type EntityUid,
  EvaluationError,
  entityUid,
} from './values.ts'

/** Cedar's extensions (`ip`, `decimal`, `datetime`, `duration`), as extensions.ts implements them. */
export const CEDAR_EXTENSIONS: Extensions = { functions: EXTENSION_FUNCTIONS, compare: compareExtension }

/** How the compiled evaluator is set up. */
export interface CompiledEvaluatorOptions {
  /** The extension functions; Cedar's own by default. */
  extensions?: Extensions
  /** Called when a loaded set is evaluated by cedar-wasm instead, with the construct the compiler does not handle. */
  onFallback?: (construct: string) => void
}

// Candidates by action (its key: an action only a request names has a uid of its own per request), then principal
// type, then resource type. All three are caller input, so the cache is bounded and simply emptied when full.
type Candidates = Map<string, Map<string, Map<string, CompiledPolicy[]>>>
const MAX_CACHED = 4096

/** The slots of a template, from the scopes of its JSON form (`?principal`, `?resource`). */
function slotsOf(est: unknown): string[] {
  const slots: string[] = []
  const scopes = est as { principal?: unknown; resource?: unknown }
  for (const scope of [scopes.principal, scopes.resource]) {
    const { slot, in: inner } = (scope ?? {}) as { slot?: unknown; in?: { slot?: unknown } }
    if (typeof slot === 'string') slots.push(slot)
    if (typeof inner?.slot === 'string') slots.push(inner.slot)
  }
  return slots
}

/** Parses one policy's text into its JSON form with exact integers, or says why it cannot be compiled. */
function policyJson(id: string, text: string, template: boolean): unknown {
  const answer = template ? templateToJson(text) : policyToJson(text)
  if (answer.type === 'failure')
    throw new EngineFailure(
      `the policy set does not load: ${id}: ${answer.errors.map((e) => e.message).join('; ')}`,
    )
  if (!restoreExactIntegers(answer.json, text))
    throw new UnsupportedConstruct(
      'an integer literal beyond 2^53 that cannot be read back exactly from the text',
    )
  return answer.json
}

/**
 * A `PolicyEvaluator` that compiles the policy set to JavaScript closures. `decide` is the fast path, over entities
 * already in memory; `evaluate` takes the same JSON as cedar-wasm.
 *
 * @example
 * const evaluator = new CompiledEvaluator({ onFallback: (construct) => log.warn({ construct }) })
 * evaluator.load(new Map([['p1', 'permit(principal, action == Action::"read", resource);']]))
 * evaluator.decide({ principal, action, resource, context }, store).decision // 'allow'
 */
export class CompiledEvaluator implements PolicyEvaluator {
  /** The construct that made the loaded set fall back to cedar-wasm; undefined while it is compiled. */
  fallback: string | undefined
  private policies: CompiledPolicy[] = []
  /** The engine deciding while the loaded set falls back to cedar-wasm. */
  private reference: CedarWasmEvaluator | undefined
  /** This evaluator's cedar-wasm instance, made on the first fallback and reused by every later one. */
  private wasm: CedarWasmEvaluator | undefined
  private readonly candidates: Candidates = new Map()
  private cached = 0

  private readonly extensions: Extensions

  constructor(private readonly options: CompiledEvaluatorOptions = {}) {
    this.extensions = options.extensions ?? CEDAR_EXTENSIONS
  }

  /** Replaces the loaded set: static policies (id → Cedar text of one policy) and, optionally, templates and links. */
  load(policies: ReadonlyMap<string, string>, templated?: TemplatedPolicies): void {
    let compiled: CompiledPolicy[]
    try {
      compiled = this.compile(policies, templated)
    } catch (error) {
      if (!(error instanceof UnsupportedConstruct)) throw error
      // One cedar-wasm set for the life of this evaluator: cedar-wasm keeps every named set until the process ends, so
      // a new one per reload would keep every policy set ever loaded. A set it refuses leaves the previous one loaded.
      this.wasm ??= new CedarWasmEvaluator()
      this.wasm.load(policies, templated)
      this.reference = this.wasm
      this.fallback = error.construct
      this.policies = []
      this.clearCandidates()
      this.options.onFallback?.(error.construct)
      return
    }
    this.policies = compiled
    // The compiled set decides now: the fallback's set is emptied (its memory freed) and the instance kept for the next.
    if (this.reference) this.reference.unload()
    this.reference = undefined
    this.fallback = undefined
    this.clearCandidates()
  }

  private compile(
    policies: ReadonlyMap<string, string>,
    templated: TemplatedPolicies | undefined,
  ): CompiledPolicy[] {
    const { extensions } = this
    const compiled: CompiledPolicy[] = []
    for (const [id, text] of policies)
      compiled.push(compilePolicy(id, policyJson(id, text, false), extensions))
    if (!templated) return compiled
    const templates = new Map<string, unknown>()
    for (const [id, text] of templated.templates) {
      if (policies.has(id)) throw new EngineFailure(`the policy set does not load: duplicate policy id ${id}`)
      templates.set(id, policyJson(id, text, true))
    }
    const ids = new Set([...policies.keys(), ...templated.templates.keys()])
    for (const link of templated.links) {
      const est = templates.get(link.template)
      if (est === undefined)
        throw new EngineFailure(`the policy set does not load: no template ${link.template}`)
      if (ids.has(link.id))
        throw new EngineFailure(`the policy set does not load: duplicate policy id ${link.id}`)
      ids.add(link.id)
      const slots = new Map<string, EntityUid>()
      if (link.principal) slots.set('?principal', entityUid(link.principal.type, link.principal.id))
      if (link.resource) slots.set('?resource', entityUid(link.resource.type, link.resource.id))
      // Cedar links a template only when every slot it has gets a value, and only those.
      const wanted = slotsOf(est)
      if (wanted.length !== slots.size || !wanted.every((slot) => slots.has(slot)))
        throw new EngineFailure(
          `the policy set does not load: ${link.id} must give values for ${wanted.join(', ') || 'no slot'}`,
        )
      compiled.push(compilePolicy(link.id, est, extensions, slots))
    }
    return compiled
  }

  /** Decides one request given as JSON (the seam's form; integers may be number or bigint). */
  evaluate(request: EvaluationRequest): Evaluation {
    if (this.reference) return this.reference.evaluate(request)
    const { extensions } = this
    let compiled: CompiledRequest
    let entities: EntityMap
    try {
      compiled = {
        principal: uidFromJson(request.principal),
        action: entityUid('Action', request.action),
        resource: uidFromJson(request.resource),
        context: recordFromJson(request.context, extensions),
      }
      entities = new EntityMap(request.entities, extensions)
    } catch (error) {
      if (error instanceof InvalidInput)
        throw new EngineFailure(`the request could not be evaluated: ${error.message}`)
      throw error
    }
    return this.decide(compiled, entities)
  }

  /**
   * Decides one request over entities in memory. Throws EngineFailure when the loaded set fell back to cedar-wasm
   * (`fallback` says so): that engine needs the request's entities as JSON, through `evaluate`.
   */
  decide(request: CompiledRequest, entities: EntityLookup): Evaluation {
    if (this.reference)
      throw new EngineFailure(`the policy set is evaluated by cedar-wasm (${this.fallback}): use evaluate()`)
    let permits: string[] | undefined
    let forbids: string[] | undefined
    let errors: Evaluation['errors'] | undefined
    for (const policy of this.candidatesFor(request)) {
      if (!policy.scope(request, entities)) continue
      if (policy.condition) {
        try {
          if (!policy.condition(request, entities)) continue
        } catch (error) {
          if (!(error instanceof EvaluationError))
            throw new EngineFailure(`the request could not be evaluated: ${(error as Error).message}`)
          if (!errors) errors = []
          errors.push({ policy: policy.id, message: error.message })
          continue
        }
      }
      if (policy.effect === 'forbid') {
        if (!forbids) forbids = []
        forbids.push(policy.id)
      } else {
        if (!permits) permits = []
        permits.push(policy.id)
      }
    }
    // Cedar: deny unless a permit is satisfied and no forbid is; the satisfied forbids determine a deny.
    if (forbids) return { decision: 'deny', determining: forbids.sort(), errors: errors ?? [] }
    if (permits) return { decision: 'allow', determining: permits.sort(), errors: errors ?? [] }
    return { decision: 'deny', determining: [], errors: errors ?? [] }
  }

  /**
   * The policies that may apply to the request's action, principal type and resource type, in load order. The choice
   * depends on the request alone, never on the entity store (which may change between requests): a policy whose
   * action scope is `in` a group stays a candidate, and its scope test reads the action's ancestors.
   */
  private candidatesFor(request: CompiledRequest): readonly CompiledPolicy[] {
    const { action } = request
    let byPrincipal = this.candidates.get(action.key)
    if (!byPrincipal) {
      byPrincipal = new Map()
      this.candidates.set(action.key, byPrincipal)
    }
    const principalType = request.principal.type
    let byResource = byPrincipal.get(principalType)
    if (!byResource) {
      byResource = new Map()
      byPrincipal.set(principalType, byResource)
    }
    const resourceType = request.resource.type
    let list = byResource.get(resourceType)
    if (!list) {
      if (this.cached >= MAX_CACHED) this.clearCandidates()
      list = this.policies.filter(
        ({ principal, action: scope, resource }) =>
          (principal.type === undefined || principal.type === principalType) &&
          (resource.type === undefined || resource.type === resourceType) &&
          (scope.entities === undefined || scope.descendants || scope.entities.includes(action)),
      )
      byResource.set(resourceType, list)
      this.cached++
    }
    return list
  }

  private clearCandidates(): void {
    this.candidates.clear()
    this.cached = 0
  }
}
