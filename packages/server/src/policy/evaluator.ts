// The seam between the decision point and the engine that evaluates Cedar: load a validated policy set, decide one
// request with the entity slice it needs. cedar-wasm is the reference implementation; a faster evaluator can replace
// it behind this interface, and tests compare the two.
import { type CedarValueJson, type EntityJson, preparsePolicySet, statefulIsAuthorized } from './cedar.ts'

/** An entity as Cedar names it. */
export interface EntityRef {
  type: string
  id: string
}

/** One request with everything the policies may read. */
export interface EvaluationRequest {
  principal: EntityRef
  /** The action's name (Cedar `Action::"<name>"`). */
  action: string
  resource: EntityRef
  context: Record<string, CedarValueJson>
  /** The entities the request needs: principal, resource, their ancestors and what they reference. */
  entities: EntityJson[]
}

/** What the engine answered: the decision, the policies that determined it, and the policies that failed. */
export interface Evaluation {
  decision: 'allow' | 'deny'
  determining: string[]
  errors: Array<{ policy: string; message: string }>
}

/** A link of a template: the policy `id` is `template` with its slots filled. */
export interface TemplateLink {
  id: string
  template: string
  /** The value of `?principal`, when the template has that slot. */
  principal?: EntityRef
  /** The value of `?resource`, when the template has that slot. */
  resource?: EntityRef
}

/** Templates (id → Cedar text of one template) and the policies linked from them. */
export interface TemplatedPolicies {
  templates: ReadonlyMap<string, string>
  links: readonly TemplateLink[]
}

/** Evaluates requests against one loaded policy set. */
export interface PolicyEvaluator {
  /** Replaces the loaded policy set (id → Cedar text of one policy); throws if the engine cannot load it. */
  load(policies: ReadonlyMap<string, string>): void
  /** Decides one request against the loaded set. */
  evaluate(request: EvaluationRequest): Evaluation
}

/** Raised when the engine cannot evaluate at all (as opposed to a policy erroring during evaluation). */
export class EngineFailure extends Error {}

// cedar-wasm keeps preparsed sets for the life of the process, by name: one name per evaluator instance, which each
// load replaces. There is no way to drop a name, so `unload` replaces the set with an empty one.
let instances = 0
/** Names holding a non-empty preparsed set. */
const holding = new Set<string>()

/** How many preparsed policy sets cedar-wasm holds for this process's evaluators (for tests and diagnostics). */
export function preparsedSets(): number {
  return holding.size
}

/** The reference evaluator: cedar-wasm with a preparsed policy set (`statefulIsAuthorized`). */
export class CedarWasmEvaluator implements PolicyEvaluator {
  private readonly setName = `mandate-${process.pid}-${++instances}`
  private loaded = false

  /** Loads static policies and, optionally, templates and their links. */
  load(policies: ReadonlyMap<string, string>, templated?: TemplatedPolicies): void {
    const answer = preparsePolicySet(this.setName, {
      staticPolicies: Object.fromEntries(policies),
      ...(templated && {
        templates: Object.fromEntries(templated.templates),
        templateLinks: templated.links.map((link) => ({
          templateId: link.template,
          newId: link.id,
          values: {
            ...(link.principal && { '?principal': link.principal }),
            ...(link.resource && { '?resource': link.resource }),
          },
        })),
      }),
    })
    if (answer.type === 'failure')
      throw new EngineFailure(
        `the policy set does not load: ${answer.errors.map((e) => e.message).join('; ')}`,
      )
    this.loaded = true
    holding.add(this.setName)
  }

  /** Frees the loaded set (cedar-wasm then holds an empty one under this name); `evaluate` refuses until a load. */
  unload(): void {
    if (!this.loaded) return
    preparsePolicySet(this.setName, { staticPolicies: {} })
    this.loaded = false
    holding.delete(this.setName)
  }

  evaluate(request: EvaluationRequest): Evaluation {
    if (!this.loaded) throw new EngineFailure('no policy set is loaded')
    let answer: ReturnType<typeof statefulIsAuthorized>
    try {
      answer = statefulIsAuthorized({
        principal: request.principal,
        action: { type: 'Action', id: request.action },
        resource: request.resource,
        context: request.context,
        entities: request.entities,
        preparsedPolicySetId: this.setName,
      })
    } catch (error) {
      throw new EngineFailure(`the request could not be evaluated: ${(error as Error).message}`)
    }
    if (answer.type === 'failure')
      throw new EngineFailure(
        `the request could not be evaluated: ${answer.errors.map((e) => e.message).join('; ')}`,
      )
    const { decision, diagnostics } = answer.response
    return {
      decision,
      determining: [...diagnostics.reason].sort(),
      errors: diagnostics.errors.map((e) => ({ policy: e.policyId, message: e.error.message })),
    }
  }
}
