// One Cedar authorization case (a policy set with templates and links, entities, a request), decided by cedar-wasm as
// the reference and by any `PolicyEvaluator`, compared, and printed so that a developer can reproduce a difference.
import {
  type CedarValueJson,
  checkParsePolicySet,
  type EntityJson,
  isAuthorized,
  type PolicySet,
} from '../../src/policy/cedar.ts'
import { CompiledEvaluator } from '../../src/policy/compiled/evaluator.ts'
import type { EntityRef, PolicyEvaluator, TemplatedPolicies } from '../../src/policy/evaluator.ts'

/** A policy or a template, with the id it is loaded under. */
export interface PolicyText {
  id: string
  text: string
}

/** A template linked to entities: the link's id is the policy id Cedar reports. */
export interface TemplateLinkCase {
  templateId: string
  id: string
  principal?: EntityRef | undefined
  resource?: EntityRef | undefined
}

/** Everything one authorization needs. */
export interface CedarCase {
  policies: PolicyText[]
  templates: PolicyText[]
  links: TemplateLinkCase[]
  entities: EntityJson[]
  request: {
    principal: EntityRef
    /** `Action::"<action>"` */
    action: string
    resource: EntityRef
    context: Record<string, CedarValueJson>
  }
}

/**
 * What an engine answered, in a form two engines can be compared by: the decision with the determining and erroring
 * policy ids (sorted; error messages differ between engines and are not compared), or that the policy set did not
 * load, or that the request could not be evaluated.
 */
export type CaseOutcome =
  | { kind: 'decided'; decision: 'allow' | 'deny'; determining: string[]; erroring: string[] }
  | { kind: 'unloadable' }
  | { kind: 'unevaluable' }

const sorted = (ids: Iterable<string>) => [...ids].sort()

/** The case's policies, templates and links in cedar-wasm's form. */
export function policySetOf(c: CedarCase): PolicySet {
  return {
    staticPolicies: Object.fromEntries(c.policies.map((p) => [p.id, p.text])),
    templates: Object.fromEntries(c.templates.map((t) => [t.id, t.text])),
    templateLinks: c.links.map((link) => ({
      templateId: link.templateId,
      newId: link.id,
      values: {
        ...(link.principal ? { '?principal': link.principal } : {}),
        ...(link.resource ? { '?resource': link.resource } : {}),
      },
    })),
  }
}

/** cedar-wasm's answer (`isAuthorized` with templates and links as Cedar has them): the reference. */
export function decideWithCedarWasm(c: CedarCase): CaseOutcome {
  const policies = policySetOf(c)
  // isAuthorized answers one kind of failure for a policy set that does not parse and a request it cannot evaluate.
  if (checkParsePolicySet(policies).type === 'failure') return { kind: 'unloadable' }
  const answer = isAuthorized({
    principal: c.request.principal,
    action: { type: 'Action', id: c.request.action },
    resource: c.request.resource,
    context: c.request.context,
    entities: c.entities,
    policies,
  })
  if (answer.type === 'failure') return { kind: 'unevaluable' }
  const { decision, diagnostics } = answer.response
  return {
    kind: 'decided',
    decision,
    determining: sorted(diagnostics.reason),
    erroring: sorted(new Set(diagnostics.errors.map((e) => e.policyId))),
  }
}

/** The evaluator the differential and combining tests hold to cedar-wasm's answers. */
export function evaluatorUnderTest(): CompiledEvaluator {
  return new CompiledEvaluator()
}

/** A `PolicyEvaluator` that also loads templates and their links. */
export interface TemplatedEvaluator extends PolicyEvaluator {
  load(policies: ReadonlyMap<string, string>, templated?: TemplatedPolicies): void
}

/** An evaluator's answer through the `PolicyEvaluator` seam, templates and links included. */
export function decideWith(evaluator: TemplatedEvaluator, c: CedarCase): CaseOutcome {
  return loadInto(evaluator, c) ? evaluateWith(evaluator, c) : { kind: 'unloadable' }
}

/** Loads the case's policies, templates and links; false if the evaluator refuses them. */
export function loadInto(evaluator: TemplatedEvaluator, c: CedarCase): boolean {
  try {
    evaluator.load(new Map(c.policies.map((p) => [p.id, p.text])), {
      templates: new Map(c.templates.map((t) => [t.id, t.text])),
      links: c.links.map((link) => ({
        id: link.id,
        template: link.templateId,
        ...(link.principal ? { principal: link.principal } : {}),
        ...(link.resource ? { resource: link.resource } : {}),
      })),
    })
    return true
  } catch {
    return false
  }
}

/** The answer of an evaluator that holds the case's policy set already. */
export function evaluateWith(evaluator: PolicyEvaluator, c: CedarCase): CaseOutcome {
  try {
    const answer = evaluator.evaluate({ ...c.request, entities: c.entities })
    return {
      kind: 'decided',
      decision: answer.decision,
      determining: sorted(answer.determining),
      erroring: sorted(new Set(answer.errors.map((e) => e.policy))),
    }
  } catch {
    return { kind: 'unevaluable' }
  }
}

/** A Cedar string literal for any string (Cedar's escapes, not JSON's `\uXXXX`). */
export function cedarString(value: string, escapeNonAscii = false): string {
  let out = '"'
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0
    if (ch === '"') out += '\\"'
    else if (ch === '\\') out += '\\\\'
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else if (ch === '\t') out += '\\t'
    else if (ch === '\0') out += '\\0'
    else if (code < 0x20 || code === 0x7f || (escapeNonAscii && code > 0x7f))
      out += `\\u{${code.toString(16)}}`
    else out += ch
  }
  return `${out}"`
}

/** `Type::"id"` */
export function entityLiteral(ref: EntityRef): string {
  return `${ref.type}::${cedarString(ref.id)}`
}

/** The case as a developer reads it: policy text, entities JSON and request, then the case as one JSON line. */
export function formatCase(c: CedarCase): string {
  const policies = [
    ...c.policies.map((p) => `// static ${JSON.stringify(p.id)}\n${p.text}`),
    ...c.templates.map((t) => `// template ${JSON.stringify(t.id)}\n${t.text}`),
    ...c.links.map(
      (l) =>
        `// link ${JSON.stringify(l.id)} of ${JSON.stringify(l.templateId)}: ` +
        [
          l.principal && `?principal = ${entityLiteral(l.principal)}`,
          l.resource && `?resource = ${entityLiteral(l.resource)}`,
        ]
          .filter(Boolean)
          .join(', '),
    ),
  ].join('\n\n')
  const { principal, action, resource, context } = c.request
  return [
    '--- policies',
    policies,
    '--- entities',
    JSON.stringify(c.entities, null, 2),
    '--- request',
    `principal ${entityLiteral(principal)}, action Action::${cedarString(action)}, resource ${entityLiteral(resource)}`,
    `context ${JSON.stringify(context)}`,
    '--- the case as JSON',
    JSON.stringify(c),
  ].join('\n')
}
