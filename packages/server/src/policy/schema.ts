// The Cedar schema policies are validated against, generated from the registry: Mandate's own entity types (humans,
// agents, workloads, groups, resource servers) with their attributes, the entity types admins declare, the actions on
// them, and the context every decision carries.
import type { SchemaJson, TypeVariant } from '@cedar-policy/cedar-wasm/nodejs'
import type { AttributeDeclaration, EntityType } from '../registry/model.ts'

type CedarType = TypeVariant<string> & { required?: boolean }
type Attributes = Record<string, CedarType>

const STRING: CedarType = { type: 'String' }
const LONG: CedarType = { type: 'Long' }
const optional = (type: CedarType): CedarType => ({ ...type, required: false })
const entity = (name: string): CedarType => ({ type: 'Entity', name })
const setOf = (element: CedarType): CedarType => ({ type: 'Set', element })

/** The principal types Mandate defines. */
export const MANDATE_PRINCIPAL_TYPES = ['human', 'agent', 'workload'] as const

/** Attributes of Mandate's own entity types; declared entity types of the same name may add to them. */
const BUILTIN_SHAPES: Record<string, { memberOf: string[]; attributes: Attributes }> = {
  human: {
    memberOf: ['group'],
    attributes: { status: STRING, email: optional(STRING), name: optional(STRING) },
  },
  agent: {
    memberOf: ['group', 'agent'],
    attributes: {
      status: STRING,
      classification: STRING,
      sponsor: entity('human'),
      parent: optional(entity('agent')),
      model_provider: optional(STRING),
      model_name: optional(STRING),
      model_version: optional(STRING),
    },
  },
  workload: { memberOf: ['group'], attributes: { status: STRING } },
  group: { memberOf: [], attributes: {} },
  resource_server: { memberOf: [], attributes: { audience: STRING, scopes: setOf(STRING) } },
}

/** The attributes Mandate sets on its own entity types (none for other types). */
export function builtinAttributes(type: string): readonly string[] {
  return Object.keys(BUILTIN_SHAPES[type]?.attributes ?? {})
}

/** Context attributes only Mandate sets: whatever a caller sends under these names is dropped. */
export const MANDATE_ONLY_CONTEXT: readonly string[] = [
  'risk',
  'time',
  'classification',
  'sponsor',
  'model_provider',
  'model_name',
  'mandate',
]

/**
 * The context of every decision (all optional: AuthZEN callers send what they know). Mandate sets `mode`,
 * `delegator`, `chain`, `depth`, `classification`, `sponsor`, `model_*`, `risk`, `time`, `client_ip`,
 * `resource_server` and `mandate` (on delegated requests) itself on the token path; `purpose` and `arguments` come with the request.
 */
export const MANDATE_CONTEXT: Attributes = {
  mode: optional(STRING),
  delegator: optional(entity('human')),
  chain: optional(setOf(STRING)),
  depth: optional(LONG),
  classification: optional(STRING),
  sponsor: optional(entity('human')),
  model_provider: optional(STRING),
  model_name: optional(STRING),
  risk: optional(LONG),
  time: optional({
    type: 'Record',
    attributes: { hour: LONG, minute: LONG, weekday: STRING, date: STRING },
  }),
  client_ip: optional({ type: 'Extension', name: 'ipaddr' }),
  resource_server: optional(STRING),
  purpose: optional(STRING),
  detail_actions: optional(setOf(STRING)),
  detail_locations: optional(setOf(STRING)),
  detail_identifier: optional(STRING),
  // The mandate a delegated token is issued under: its limits and its use in the current budget period (sums in whole
  // units, rounded down: Cedar has no fractions).
  mandate: optional({
    type: 'Record',
    attributes: {
      id: STRING,
      expires_at: STRING,
      period: STRING,
      calls_used: LONG,
      calls_limit: optional(LONG),
      sum_used: LONG,
      sum_limit: optional(LONG),
    },
  }),
}

/** The actions Mandate decides on its own paths, and what they apply to. */
export interface MandateAction {
  name: string
  resourceTypes: string[]
}

/** Problems that make a declared entity type unusable, per field of its document. */
export interface SchemaProblem {
  entityType: string
  path: string
  message: string
}

function attributeType(declaration: AttributeDeclaration): CedarType {
  const required = declaration.required ? {} : { required: false }
  switch (declaration.type) {
    case 'Set<String>':
      return { ...setOf(STRING), ...required }
    case 'Set<Long>':
      return { ...setOf(LONG), ...required }
    case 'Entity':
      return { ...entity(declaration.entity_type ?? ''), ...required }
    default:
      return { type: declaration.type, ...required }
  }
}

/**
 * Builds the Cedar JSON schema (no namespace) from the declared entity types, plus the actions Mandate decides itself.
 * Returns the problems instead when declarations contradict each other or Mandate's own types.
 * @example
 * const { schema } = buildSchema([{ id: 'record', principal: false, attributes: {}, member_of: [], actions: ['view'], context: {} }])
 */
export function buildSchema(
  declared: readonly EntityType[],
  mandateActions: readonly MandateAction[] = [],
): { schema: SchemaJson<string>; problems: SchemaProblem[] } {
  const problems: SchemaProblem[] = []
  const known = new Set([...Object.keys(BUILTIN_SHAPES), ...declared.map((t) => t.id)])
  const entityTypes: Record<string, { memberOfTypes: string[]; shape: CedarType }> = {}
  for (const [name, shape] of Object.entries(BUILTIN_SHAPES))
    entityTypes[name] = {
      memberOfTypes: [...shape.memberOf],
      shape: { type: 'Record', attributes: { ...shape.attributes } },
    }

  const principalTypes = new Set<string>(MANDATE_PRINCIPAL_TYPES)
  const actions = new Map<string, { resourceTypes: Set<string>; context: Attributes }>()
  for (const action of mandateActions)
    actions.set(action.name, { resourceTypes: new Set(action.resourceTypes), context: {} })

  for (const type of declared) {
    const builtin = BUILTIN_SHAPES[type.id]
    const attributes: Attributes = builtin ? { ...builtin.attributes } : {}
    for (const [name, declaration] of Object.entries(type.attributes)) {
      if (builtin?.attributes[name])
        problems.push({
          entityType: type.id,
          path: `/attributes/${name}`,
          message: `is an attribute Mandate sets on ${type.id}`,
        })
      else if (declaration.type === 'Entity' && !known.has(declaration.entity_type ?? ''))
        problems.push({
          entityType: type.id,
          path: `/attributes/${name}/entity_type`,
          message: declaration.entity_type
            ? `names no entity type (${declaration.entity_type})`
            : 'is required for an Entity attribute',
        })
      else attributes[name] = attributeType(declaration)
    }
    for (const [i, parent] of type.member_of.entries())
      if (!known.has(parent))
        problems.push({
          entityType: type.id,
          path: `/member_of/${i}`,
          message: `names no entity type (${parent})`,
        })
    const memberOf = [
      ...new Set([...(builtin?.memberOf ?? []), ...type.member_of.filter((p) => known.has(p))]),
    ]
    entityTypes[type.id] = { memberOfTypes: memberOf, shape: { type: 'Record', attributes } }
    if (type.principal) principalTypes.add(type.id)
    for (const name of type.actions) {
      const action = actions.get(name) ?? { resourceTypes: new Set<string>(), context: {} }
      action.resourceTypes.add(type.id)
      for (const [attribute, declaration] of Object.entries(type.context)) {
        const cedar = attributeType({ ...declaration, required: false })
        const existing = action.context[attribute] ?? MANDATE_CONTEXT[attribute]
        if (existing && JSON.stringify(existing) !== JSON.stringify(cedar))
          problems.push({
            entityType: type.id,
            path: `/context/${attribute}`,
            message: `is declared with another type for action ${name}`,
          })
        else action.context[attribute] = cedar
      }
      actions.set(name, action)
    }
  }

  const schemaActions: Record<
    string,
    { appliesTo: { principalTypes: string[]; resourceTypes: string[]; context: CedarType } }
  > = {}
  for (const [name, action] of [...actions].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    schemaActions[name] = {
      appliesTo: {
        principalTypes: [...principalTypes].sort(),
        resourceTypes: [...action.resourceTypes].sort(),
        context: { type: 'Record', attributes: { ...MANDATE_CONTEXT, ...action.context } },
      },
    }
  return { schema: { '': { entityTypes, actions: schemaActions } } as SchemaJson<string>, problems }
}
