// Policy sets as admins write them (one Cedar text per `Policy` document) split into individual policies with stable
// ids and their obligations, and validated against the schema with every problem located (line and column).
import type { FieldError } from '../errors/mandate-error.ts'
import type { Policy } from '../registry/model.ts'
import { type DetailedError, policySetTextToParts, policyToJson, type Schema, validate } from './cedar.ts'

/** Who a policy asks to approve: the agent's sponsor, the delegating human, or a member of a group. */
export type ApprovalRule = 'sponsor' | 'delegator' | `group:${string}`

// A group named by its registry id (registry/model.ts Id).
const GROUP_RULE = /^group:[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/

/** What a permit obliges when it decides: a human approval first, or a shorter token. */
export interface Obligations {
  /**
   * `@approval("sponsor" | "delegator" | "group:<id>")`: the outcome is `approval_required`, from that human (the
   * agent's sponsor, the delegating human) or any human member of that group.
   */
  approval?: ApprovalRule
  /** `@max_ttl("<seconds>")`: tokens issued on this decision live at most this long. */
  maxTtlSeconds?: number
}

/** One policy of a set, ready to load. */
export interface CompiledPolicy {
  /** `<set id>/<@id>` or `<set id>/<index>` (1-based, in text order). */
  id: string
  setId: string
  text: string
  effect: 'permit' | 'forbid'
  obligations: Obligations
  /** Byte offset of the policy in its set's text, to locate diagnostics. */
  offset: number
}

const POLICY_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/
const MAX_POLICIES_PER_SET = 1000

/**
 * Splits a policy set into its policies, reading `@id`, `@approval` and `@max_ttl`. Returns every problem found, each
 * with its line and column in `policy.policies`.
 * @example
 * const { policies, problems } = splitPolicySet({ id: 'tickets', enabled: true, policies: '@id("read") permit (principal, action, resource);' })
 * // policies[0].id === 'tickets/read'
 */
export function splitPolicySet(policy: Pick<Policy, 'id' | 'policies'>): {
  policies: CompiledPolicy[]
  problems: FieldError[]
} {
  const text = policy.policies
  const parts = policySetTextToParts(text)
  if (parts.type === 'failure')
    return { policies: [], problems: parts.errors.map((e) => located(text, 0, e)) }
  if (parts.policy_templates.length > 0)
    return {
      policies: [],
      problems: [{ path: '/policies', message: 'policy templates are not supported; write static policies' }],
    }
  if (parts.policies.length > MAX_POLICIES_PER_SET)
    return {
      policies: [],
      problems: [
        { path: '/policies', message: `holds more than ${MAX_POLICIES_PER_SET} policies; split it` },
      ],
    }
  // Parts come back ordered by their automatic ids as strings (policy0, policy1, policy10, policy2...): restore text order.
  const order = parts.policies.map((_, i) => String(i)).sort()
  const inTextOrder: string[] = new Array(parts.policies.length)
  for (const [i, part] of parts.policies.entries()) inTextOrder[Number(order[i])] = part
  const problems: FieldError[] = []
  const policies: CompiledPolicy[] = []
  const seen = new Set<string>()
  const bytes = Buffer.from(text)
  let cursor = 0
  for (const [index, part] of inTextOrder.entries()) {
    const at = bytes.indexOf(part, cursor)
    const offset = Math.max(at, 0)
    cursor = offset + Buffer.byteLength(part)
    const json = policyToJson(part)
    if (json.type === 'failure') {
      problems.push(...json.errors.map((e) => located(text, offset, e)))
      continue
    }
    const annotations = (json.json.annotations ?? {}) as Record<string, string | null>
    const where = (message: string): FieldError => ({
      ...located(text, offset, { message }),
      path: '/policies',
    })
    const local = annotations.id ?? String(index + 1)
    if (annotations.id !== undefined && (annotations.id === null || !POLICY_ID.test(annotations.id)))
      problems.push(where('@id must be 1-128 letters, digits and . _ : - (starting with a letter or digit)'))
    const id = `${policy.id}/${local}`
    if (seen.has(id)) problems.push(where(`@id("${local}") is used twice in this set`))
    seen.add(id)
    const obligations: Obligations = {}
    const effect = json.json.effect
    if ('approval' in annotations) {
      const approval = annotations.approval
      if (
        approval !== 'sponsor' &&
        approval !== 'delegator' &&
        !(typeof approval === 'string' && GROUP_RULE.test(approval))
      )
        problems.push(where('@approval must be "sponsor", "delegator" or "group:<group id>"'))
      else if (effect !== 'permit') problems.push(where('@approval only applies to permit policies'))
      else obligations.approval = approval as ApprovalRule
    }
    if ('max_ttl' in annotations) {
      const ttl = annotations.max_ttl
      if (ttl === null || !/^[1-9][0-9]{0,5}$/.test(ttl))
        problems.push(where('@max_ttl must be a whole number of seconds between 1 and 999999'))
      else if (effect !== 'permit') problems.push(where('@max_ttl only applies to permit policies'))
      else obligations.maxTtlSeconds = Number(ttl)
    }
    policies.push({ id, setId: policy.id, text: part, effect, obligations, offset })
  }
  return { policies, problems }
}

/**
 * Validates policies against the schema (Cedar's strict mode) and returns every error, each located in the text of
 * the policy set it came from, in a stable order.
 * @example
 * const problems = validatePolicies(policies, schema, (setId) => texts.get(setId) ?? '')
 */
export function validatePolicies(
  policies: readonly CompiledPolicy[],
  schema: Schema,
  textOf: (setId: string) => string,
): FieldError[] {
  if (policies.length === 0) return []
  const byId = new Map(policies.map((p) => [p.id, p]))
  const answer = validate({
    schema,
    policies: { staticPolicies: Object.fromEntries(policies.map((p) => [p.id, p.text])) },
    validationSettings: { mode: 'strict' },
  })
  if (answer.type === 'failure')
    return answer.errors.map((e) => ({ path: '/policies', message: `the schema is unusable: ${e.message}` }))
  // A policy no request can ever match is a mistake too (a wrong type, or actions not registered yet): with no
  // request to type-check it against, Cedar would let even an unknown attribute through.
  const impossible = answer.validationWarnings.filter(({ error }) =>
    error.message.includes('policy is impossible'),
  )
  return [...answer.validationErrors, ...impossible]
    .map(({ policyId, error }) => {
      const policy = byId.get(policyId)
      const help = error.message.includes('policy is impossible')
        ? 'no registered action, principal or resource type can match it: register the resource servers and entity types it names first, or check their spelling'
        : error.help
      const problem = policy
        ? located(textOf(policy.setId), policy.offset, { ...error, help })
        : { path: '/policies', message: error.message }
      return { ...problem, location: { ...(problem.location ?? { line: 1, column: 1 }), policy: policyId } }
    })
    .sort(
      (a, b) =>
        (a.location.policy < b.location.policy ? -1 : a.location.policy > b.location.policy ? 1 : 0) ||
        a.location.line - b.location.line ||
        a.location.column - b.location.column ||
        (a.message < b.message ? -1 : 1),
    )
}

// Cedar reports UTF-8 byte offsets relative to the policy it checked; people read lines and columns of the whole set.
function located(
  text: string,
  policyOffset: number,
  error: Pick<DetailedError, 'message'> & Partial<DetailedError>,
): FieldError {
  const start = policyOffset + (error.sourceLocations?.[0]?.start ?? 0)
  const before = Buffer.from(text).subarray(0, start).toString()
  const lines = before.split('\n')
  const line = lines.length
  const column = (lines.at(-1)?.length ?? 0) + 1
  const label = error.sourceLocations?.[0]?.label
  return {
    path: '/policies',
    message: label ? `${error.message} (${label})` : error.message,
    location: { line, column },
    ...(error.help ? { help: error.help } : {}),
  }
}
