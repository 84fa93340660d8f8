// Checks made when the registry changes what policies depend on: a policy set must parse and validate against the
// schema; an entity type change must leave every enabled policy valid; an entity must match its declared type.
import type { FieldError } from '../errors/mandate-error.ts'
import type { Entity, EntityAttributeValue, EntityType, Policy, ResourceServer } from '../registry/model.ts'
import { BUILTIN_ENTITY_TYPES } from '../registry/model.ts'
import type { RegistryStores } from '../registry/stores.ts'
import { entityTypeOf } from '../registry/stores.ts'
import type { Executor } from '../store/database.ts'
import { type CompiledPolicy, splitPolicySet, validatePolicies } from './policy-set.ts'
import { buildSchema, type MandateAction } from './schema.ts'

/** A change the policies may depend on; `doc` is undefined for a removal. */
export type PolicyRelevantChange =
  | { kind: 'Policy'; id: string; doc: Policy | undefined }
  | { kind: 'EntityType'; id: string; doc: EntityType | undefined }
  | { kind: 'Entity'; id: string; doc: Entity | undefined }
  | { kind: 'ResourceServer'; id: string; doc: ResourceServer | undefined }

const PAGE = 10000

/**
 * The actions Mandate itself decides: one per scope and per authorization-details type of each resource server (the
 * token service asks about each).
 */
export function tokenActions(servers: readonly ResourceServer[]): MandateAction[] {
  const names = new Set(servers.flatMap((s) => [...s.scopes, ...s.authorization_details_types]))
  return [...names].sort().map((name) => ({ name, resourceTypes: ['resource_server'] }))
}

/** Validates registry writes against the policies that depend on them. */
export class PolicyCheck {
  constructor(private readonly stores: RegistryStores) {}

  /** The problems the change would cause, as field errors of the document written (empty when it is fine). */
  async check(tx: Executor, change: PolicyRelevantChange): Promise<FieldError[]> {
    if (change.kind === 'Entity') return change.doc ? this.checkEntity(tx, change.doc) : []
    if (change.kind === 'Policy' && change.doc === undefined) return []
    const types = replace(
      await this.stores.entityTypes.list(tx, { limit: PAGE }),
      change.kind === 'EntityType' ? change : undefined,
    )
    const servers = replace(
      await this.stores.resourceServers.list(tx, { limit: PAGE }),
      change.kind === 'ResourceServer' ? change : undefined,
    )
    if (change.kind === 'EntityType' && change.doc === undefined) {
      const entities = await this.stores.entities.list(tx, { filters: { type: change.id }, limit: 1 })
      if (entities.length > 0)
        return [
          {
            path: '/',
            message: `entities of type ${change.id} exist (${entities[0]?.id}); delete them first`,
          },
        ]
    }
    const { schema, problems } = buildSchema(types, tokenActions(servers))
    const own = problems.filter((p) => change.kind === 'EntityType' && p.entityType === change.id)
    if (own.length > 0) return own.map((p) => ({ path: p.path, message: p.message }))
    if (problems.length > 0)
      return problems.map((p) => ({
        path: '/',
        message: `entity type ${p.entityType}${p.path}: ${p.message}`,
      }))

    if (change.kind === 'Policy') {
      const policy = change.doc as Policy
      const { policies, problems: split } = splitPolicySet(policy)
      if (split.length > 0) return split
      return validatePolicies(policies, schema, () => policy.policies)
    }
    // A change to the schema must leave every enabled policy set valid.
    const sets = (await this.stores.policies.list(tx, { limit: PAGE })).filter((p) => p.enabled)
    const texts = new Map(sets.map((p) => [p.id, p.policies]))
    const all: CompiledPolicy[] = sets.flatMap((p) => splitPolicySet(p).policies)
    return validatePolicies(all, schema, (id) => texts.get(id) ?? '').map((problem) => ({
      path: '/',
      message: `policy ${problem.location?.policy ?? ''} would no longer validate: ${problem.message}`,
      ...(problem.location ? { location: problem.location } : {}),
      ...(problem.help ? { help: problem.help } : {}),
    }))
  }

  private async checkEntity(tx: Executor, entity: Entity): Promise<FieldError[]> {
    const type = entityTypeOf(entity.id)
    if ((BUILTIN_ENTITY_TYPES as readonly string[]).includes(type))
      return [{ path: '/id', message: `${type} entities are Mandate's own; register them as their kind` }]
    const declared = await this.stores.entityTypes.get(tx, type)
    if (!declared)
      return [{ path: '/id', message: `names no declared entity type (${type}); apply an EntityType first` }]
    const fields: FieldError[] = []
    for (const [name, value] of Object.entries(entity.attributes)) {
      const declaration = declared.attributes[name]
      if (!declaration)
        fields.push({ path: `/attributes/${name}`, message: `is not declared by entity type ${type}` })
      else if (!fits(value, declaration.type))
        fields.push({ path: `/attributes/${name}`, message: `must be ${declaration.type}` })
      else if (declaration.type === 'Entity') {
        const target = String(value)
        const ofType = target.includes(':') ? entityTypeOf(target) : declaration.entity_type
        if (ofType !== declaration.entity_type)
          fields.push({
            path: `/attributes/${name}`,
            message: `must name a ${declaration.entity_type} entity`,
          })
      }
    }
    for (const [name, declaration] of Object.entries(declared.attributes))
      if (declaration.required && !(name in entity.attributes))
        fields.push({ path: `/attributes/${name}`, message: `is required by entity type ${type}` })
    for (const [i, parent] of entity.parents.entries()) {
      const parentType = entityTypeOf(parent)
      if (!declared.member_of.includes(parentType))
        fields.push({
          path: `/parents/${i}`,
          message: `entity type ${type} is not a member of ${parentType}`,
        })
    }
    return fields
  }
}

function fits(value: EntityAttributeValue, type: string): boolean {
  switch (type) {
    case 'String':
    case 'Entity':
      return typeof value === 'string'
    case 'Long':
      return typeof value === 'number' && Number.isSafeInteger(value)
    case 'Boolean':
      return typeof value === 'boolean'
    case 'Set<String>':
      return Array.isArray(value) && value.every((v) => typeof v === 'string')
    case 'Set<Long>':
      return Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isSafeInteger(v))
    default:
      return false
  }
}

// The stored documents as they will be after the change.
function replace<T extends { id: string }>(
  docs: T[],
  change: { id: string; doc: T | undefined } | undefined,
): T[] {
  if (!change) return docs
  const others = docs.filter((d) => d.id !== change.id)
  return change.doc ? [...others, change.doc] : others
}
