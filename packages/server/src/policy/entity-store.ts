// The registry's Cedar entities held in memory for the evaluator: humans, agents, workloads, groups, resource servers
// and declared application entities, each with its attributes and every ancestor precomputed, so that a decision
// reads entities without building a slice. A registry change updates the entity it names and the ancestor sets of
// that entity's descendants only; a reset rebuilds everything.

import type { Directory, DirectoryChange } from '../registry/directory.ts'
import type { EntityType, Stored } from '../registry/model.ts'
import {
  CedarRecord,
  type CompiledEntity,
  type EntityLookup,
  type EntityUid,
  EvaluationError,
  entityUid,
  INTERNED,
  type Value,
} from './compiled/values.ts'
import { parseUid, registryEntity, valueFromJson } from './entities.ts'
import { EngineFailure, type EntityRef } from './evaluator.ts'

// Stored entities never hold extension values (their attribute types are Cedar's primitives and sets).
const noExtension = (fn: string): never => {
  throw new EvaluationError(`registry entities hold no ${fn}() values`)
}

/**
 * The registry's entities, by uid, with ancestors precomputed; kept current by `apply` with the directory's changes.
 * @example
 * const store = EntityStore.build(directory)
 * store.get(entityUid('agent', 'support-bot'))?.ancestors // Set { group::"support", ... }
 */
export class EntityStore implements EntityLookup {
  private readonly entities = new Map<EntityUid, CompiledEntity>()
  /** Direct parents of each stored entity, as its registry document names them (registered or not). */
  private readonly parents = new Map<EntityUid, readonly EntityUid[]>()
  /** The inverse: entities naming a uid as a direct parent. */
  private readonly children = new Map<EntityUid, Set<EntityUid>>()
  /** Ids of the stored entities by type. */
  private readonly byType = new Map<string, Set<string>>()
  /** Sorted id lists by type, made on demand and dropped when the type's entities change. */
  private readonly sorted = new Map<string, readonly string[]>()
  private declarations = new Map<string, Stored<EntityType>>()

  private constructor(private readonly directory: Directory) {}

  /** A store holding everything the directory holds now. */
  static build(directory: Directory): EntityStore {
    const store = new EntityStore(directory)
    store.rebuild()
    return store
  }

  /** The entity with this uid, if the registry holds it. */
  get(uid: EntityUid): CompiledEntity | undefined {
    return this.entities.get(uid)
  }

  /** Ids of the stored entities of a type, in id order (code unit order, as searches page them). */
  idsOfType(type: string): readonly string[] {
    let ids = this.sorted.get(type)
    if (!ids) {
      ids = [...(this.byType.get(type) ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      this.sorted.set(type, ids)
    }
    return ids
  }

  /** Whether an entity of this type and id is stored. */
  has(type: string, id: string): boolean {
    return this.byType.get(type)?.has(id) ?? false
  }

  /** Every entity that has `uid` as an ancestor (transitively), registered or named as a parent only. */
  descendantsOf(uid: EntityUid): Set<EntityUid> {
    const found = new Set<EntityUid>()
    const queue = [uid]
    for (let next = queue.pop(); next !== undefined; next = queue.pop())
      for (const child of this.children.get(next) ?? [])
        if (!found.has(child)) {
          found.add(child)
          queue.push(child)
        }
    return found
  }

  /** Every stored entity (for tests and diagnostics). */
  all(): IterableIterator<CompiledEntity> {
    return this.entities.values()
  }

  /** Follows registry changes: each named entity is rebuilt, with the ancestors of everything below it. */
  apply(changes: readonly DirectoryChange[]): void {
    const touched = new Set<EntityUid>()
    for (const change of changes) {
      if (change.reset) {
        this.rebuild()
        touched.clear()
        continue
      }
      for (const uid of this.affectedBy(change)) {
        this.place(uid)
        touched.add(uid)
      }
    }
    const below = new Set(touched)
    for (const uid of touched) for (const d of this.descendantsOf(uid)) below.add(d)
    for (const uid of below) this.settleAncestors(uid)
  }

  private rebuild(): void {
    this.entities.clear()
    this.parents.clear()
    this.children.clear()
    this.byType.clear()
    this.sorted.clear()
    this.declarations = new Map([...this.directory.entityTypes()].map((t) => [t.id, t]))
    const d = this.directory
    for (const human of d.humans()) this.place(entityUid('human', human.id))
    for (const client of d.clients()) this.place(entityUid(client.kind, client.principal.id))
    for (const server of d.resourceServers()) this.place(entityUid('resource_server', server.id))
    for (const type of this.declarations.keys())
      for (const uid of d.entityIdsOfType(type)) {
        const ref = parseUid(uid)
        this.place(entityUid(ref.type, ref.id))
      }
    for (const group of d.groups()) this.place(entityUid('group', group.id))
    for (const uid of this.entities.keys()) this.settleAncestors(uid)
  }

  // The entities whose own record (attributes or parents) a change alters.
  private affectedBy(change: Exclude<DirectoryChange, { reset: true }>): EntityUid[] {
    const { before, after } = change
    switch (change.kind) {
      case 'Human':
        return [entityUid('human', change.id)]
      case 'Agent':
        return [entityUid('agent', change.id)]
      case 'Workload':
        return [entityUid('workload', change.id)]
      case 'ResourceServer':
        return [entityUid('resource_server', change.id)]
      case 'Entity': {
        const ref = parseUid(change.id)
        return [entityUid(ref.type, ref.id)]
      }
      case 'Group': {
        // The group itself, and every member it gained or lost (their parents list it).
        const members = [before, after].flatMap((doc) =>
          doc && 'members' in doc ? doc.members.map((m) => entityUid(m.kind, m.id)) : [],
        )
        return [entityUid('group', change.id), ...new Set(members)]
      }
      case 'EntityType': {
        // Declared attributes follow the declaration: every entity of the type is rebuilt.
        this.declarations = new Map([...this.directory.entityTypes()].map((t) => [t.id, t]))
        return [...(this.byType.get(change.id) ?? [])].map((id) => entityUid(change.id, id))
      }
      case 'Policy':
      case 'TrustedIssuer':
        return []
    }
  }

  // Reads one entity from the directory (or finds it gone) and records its attributes and direct parents; its
  // ancestors are settled afterwards, once every change of the batch is placed.
  private place(uid: EntityUid): void {
    const json = registryEntity(this.directory, this.declarations, { type: uid.type, id: uid.id })
    for (const parent of this.parents.get(uid) ?? []) this.children.get(parent)?.delete(uid)
    this.sorted.delete(uid.type)
    if (!json) {
      this.entities.delete(uid)
      this.parents.delete(uid)
      this.byType.get(uid.type)?.delete(uid.id)
      return
    }
    const parents = json.parents.map((p) => uidOf(p))
    this.parents.set(uid, parents)
    for (const parent of parents) {
      const children = this.children.get(parent)
      if (children) children.add(uid)
      else this.children.set(parent, new Set([uid]))
    }
    const attrs = new Map<string, Value>()
    for (const [name, value] of Object.entries(json.attrs))
      attrs.set(name, valueFromJson(value, noExtension, INTERNED))
    this.entities.set(uid, { uid, attrs: new CedarRecord(attrs), ancestors: new Set() })
    const ids = this.byType.get(uid.type)
    if (ids) ids.add(uid.id)
    else this.byType.set(uid.type, new Set([uid.id]))
  }

  // Every ancestor, through parents that are registered or only named (a named parent that is not registered has
  // no parents of its own, as in a request's slice). Walked depth first, to see a cycle: a parent met again while it
  // is still on the path. An entity with a cycle at or above it gets ancestors that refuse to be read, so that every
  // decision reading them fails (and denies), as Cedar refuses a hierarchy with a cycle; the registry refuses writes
  // that close one, so only data written before that can hold one.
  private settleAncestors(uid: EntityUid): void {
    const entity = this.entities.get(uid)
    if (!entity) return
    const ancestors = new Set<EntityUid>()
    const onPath = new Set<EntityUid>([uid])
    const stack = [{ uid, parents: this.parents.get(uid) ?? [], next: 0 }]
    let cycle = false
    for (let top = stack.at(-1); top !== undefined; top = stack.at(-1)) {
      const parent = top.parents[top.next++]
      if (parent === undefined) {
        onPath.delete(top.uid)
        stack.pop()
      } else if (onPath.has(parent)) cycle = true
      else if (!ancestors.has(parent)) {
        ancestors.add(parent)
        onPath.add(parent)
        stack.push({ uid: parent, parents: this.parents.get(parent) ?? [], next: 0 })
      }
    }
    this.entities.set(uid, { ...entity, ancestors: cycle ? new CycleAncestors(uid) : ancestors })
  }
}

/** The ancestors of an entity with a cycle of parents at or above it: any read fails the decision (EngineFailure). */
class CycleAncestors extends Set<EntityUid> {
  constructor(private readonly below: EntityUid) {
    super()
  }
  private refuse(): never {
    throw new EngineFailure(
      `the entity hierarchy has a cycle (above ${this.below.type}::${JSON.stringify(this.below.id)})`,
    )
  }
  override has(_uid: EntityUid): boolean {
    return this.refuse()
  }
  override get size(): number {
    return this.refuse()
  }
  override forEach(): void {
    this.refuse()
  }
  override [Symbol.iterator](): SetIterator<EntityUid> {
    return this.refuse()
  }
  override values(): SetIterator<EntityUid> {
    return this.refuse()
  }
  override keys(): SetIterator<EntityUid> {
    return this.refuse()
  }
  override entries(): SetIterator<[EntityUid, EntityUid]> {
    return this.refuse()
  }
}

function uidOf(ref: EntityRef | { __entity: EntityRef }): EntityUid {
  const { type, id } = '__entity' in ref ? ref.__entity : ref
  return entityUid(type, id)
}
