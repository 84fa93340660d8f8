// Which entities a search needs to ask about: only those some permit's scope can reach. Cedar allows nothing
// without a satisfied permit, and a permit is satisfied only within its scope, so for "which resources of type T may
// this principal take this action on" the candidates are the union, over the permits for that action whose principal
// scope holds the principal, of what their resource scope reaches: one entity (`==`), an entity and what is in it
// (`in`, from the store's ancestry), or every entity of the type (`is T`, or no constraint): then there is no
// narrowing and every candidate is asked. Forbids, conditions and gates can only take candidates away, so the narrowed
// search finds exactly what asking every candidate finds.
import { policyToJson } from './cedar.ts'
import type { EntityUid } from './compiled/values.ts'
import { entityUid } from './compiled/values.ts'
import type { EntityStore } from './entity-store.ts'
import { EngineFailure } from './evaluator.ts'

/** How a policy's scope constrains the principal or the resource. */
type Scope =
  | { op: 'all' }
  | { op: '=='; entity: EntityUid }
  | { op: 'in'; entity: EntityUid }
  | { op: 'is'; type: string; in?: EntityUid | undefined }

/** A permit's scope, as a search reads it. */
export interface PermitScope {
  principal: Scope
  /** The actions it names; undefined for any action. */
  actions: readonly EntityUid[] | undefined
  resource: Scope
}

/**
 * The scopes of the permits of a policy set (id → Cedar text of one policy). A scope that cannot be read (a template
 * slot, a form this module does not know) reads as "any", which only widens a search.
 * @example
 * permitScopes(new Map([['p', 'permit(principal, action == Action::"view", resource in folder::"f");']]))
 * // [{ principal: { op: 'all' }, actions: [Action::"view"], resource: { op: 'in', entity: folder::"f" } }]
 */
export function permitScopes(policies: ReadonlyMap<string, string>): PermitScope[] {
  const scopes: PermitScope[] = []
  for (const text of policies.values()) {
    const answer = policyToJson(text)
    if (answer.type === 'failure') {
      scopes.push({ principal: { op: 'all' }, actions: undefined, resource: { op: 'all' } })
      continue
    }
    const json = answer.json as unknown as {
      effect: string
      principal: unknown
      action: unknown
      resource: unknown
    }
    if (json.effect !== 'permit') continue
    scopes.push({
      principal: scopeOf(json.principal),
      actions: actionsOf(json.action),
      resource: scopeOf(json.resource),
    })
  }
  return scopes
}

interface ScopeJson {
  op?: string
  entity?: { type?: unknown; id?: unknown }
  entities?: Array<{ type?: unknown; id?: unknown }>
  entity_type?: unknown
  in?: { entity?: { type?: unknown; id?: unknown } }
}

function uidOf(json: { type?: unknown; id?: unknown } | undefined): EntityUid | undefined {
  return typeof json?.type === 'string' && typeof json.id === 'string'
    ? entityUid(json.type, json.id)
    : undefined
}

function scopeOf(json: unknown): Scope {
  const scope = (json ?? {}) as ScopeJson
  const entity = uidOf(scope.entity)
  switch (scope.op) {
    case '==':
      return entity ? { op: '==', entity } : { op: 'all' }
    case 'in':
      return entity ? { op: 'in', entity } : { op: 'all' }
    case 'is': {
      if (typeof scope.entity_type !== 'string') return { op: 'all' }
      if (scope.in === undefined) return { op: 'is', type: scope.entity_type }
      const within = uidOf(scope.in.entity)
      return within
        ? { op: 'is', type: scope.entity_type, in: within }
        : { op: 'is', type: scope.entity_type }
    }
    default:
      return { op: 'all' }
  }
}

function actionsOf(json: unknown): readonly EntityUid[] | undefined {
  const scope = (json ?? {}) as ScopeJson
  if (scope.op === '==' || (scope.op === 'in' && scope.entity)) {
    const uid = uidOf(scope.entity)
    return uid ? [uid] : undefined
  }
  if (scope.op === 'in' && scope.entities) {
    const uids = scope.entities.map(uidOf)
    return uids.every((u) => u !== undefined) ? (uids as EntityUid[]) : undefined
  }
  return undefined
}

/** What one search varies and what it holds fixed. */
export interface SearchShape {
  /** The side searched: the subject (principal) or the resource. */
  vary: 'principal' | 'resource'
  /** The type searched. */
  type: string
  action: EntityUid
  /** The entity on the other side. */
  fixed: EntityUid
}

/**
 * The ids of the entities of the searched type some permit can reach, or `all` when a permit reaches every one.
 * Actions have no parents in Mandate's schema, so a permit applies to an action it names, or to every action.
 */
export function reachable(
  scopes: readonly PermitScope[],
  shape: SearchShape,
  store: EntityStore,
): Set<string> | 'all' {
  const ids = new Set<string>()
  const fixedAncestors = readableAncestors(store, shape.fixed)
  const holds = (scope: Scope, uid: EntityUid): boolean => {
    const within = (target: EntityUid) => uid === target || fixedAncestors?.has(target) === true
    switch (scope.op) {
      case 'all':
        return true
      case '==':
        return uid === scope.entity
      case 'in':
        return within(scope.entity)
      case 'is':
        return uid.type === scope.type && (scope.in === undefined || within(scope.in))
    }
  }
  const reach = (target: EntityUid) => {
    if (target.type === shape.type && store.has(target.type, target.id)) ids.add(target.id)
    for (const below of store.descendantsOf(target))
      if (below.type === shape.type && store.has(below.type, below.id)) ids.add(below.id)
  }
  for (const permit of scopes) {
    if (permit.actions && !permit.actions.includes(shape.action)) continue
    const fixedScope = shape.vary === 'principal' ? permit.resource : permit.principal
    if (!holds(fixedScope, shape.fixed)) continue
    const searched = shape.vary === 'principal' ? permit.principal : permit.resource
    switch (searched.op) {
      case 'all':
        return 'all'
      case '==':
        if (searched.entity.type === shape.type && store.has(shape.type, searched.entity.id))
          ids.add(searched.entity.id)
        break
      case 'in':
        reach(searched.entity)
        break
      case 'is':
        if (searched.type !== shape.type) break
        if (searched.in === undefined) return 'all'
        reach(searched.in)
        break
    }
  }
  return ids
}

// The fixed entity's ancestors; none when a cycle of parents is above it (the store's ancestors then refuse to be
// read): no permit reaches anything through them, and every decision that would read them denies.
function readableAncestors(store: EntityStore, uid: EntityUid): ReadonlySet<EntityUid> | undefined {
  const ancestors = store.get(uid)?.ancestors
  try {
    ancestors?.has(uid)
    return ancestors
  } catch (error) {
    if (error instanceof EngineFailure) return undefined
    throw error
  }
}
