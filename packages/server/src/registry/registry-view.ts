// The in-memory registry and its derived indexes, changed one object at a time. Every index is kept so that the view
// after any sequence of changes is the same as the view built from scratch from the final objects: lists that have an
// order keep it by id, and a key shared by several objects is resolved the same way whatever order they came in.
import { emailKey } from './email-key.ts'
import type {
  Agent,
  Entity,
  EntityType,
  Group,
  Human,
  Policy,
  RegistryDocs,
  RegistryKind,
  ResourceServer,
  Stored,
  TrustedIssuer,
  Workload,
} from './model.ts'
import { entityTypeOf } from './stores.ts'

/** A client: an agent or a workload, which share one client_id namespace. */
export type Client =
  | { kind: 'agent'; principal: Stored<Agent> }
  | { kind: 'workload'; principal: Stored<Workload> }

/** Any stored registry object. */
export type AnyStored = Stored<RegistryDocs[RegistryKind]>

// Code-unit order, the same on every node whatever the database's collation.
const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
const pairKey = (issuer: string, subject: string): string => `${issuer}\u0000${subject}`

/** A map by id whose values can also be listed in id order; the ordered list is rebuilt only when read after a change. */
class IdOrdered<T extends { id: string }> {
  readonly byKey = new Map<string, T>()
  private ordered: T[] | undefined = []

  set(value: T): void {
    const had = this.byKey.has(value.id)
    this.byKey.set(value.id, value)
    // Appending in id order (the common case when provisioning) keeps the list without a sort.
    const last = this.ordered?.at(-1)
    if (!had && this.ordered && (last === undefined || byId(last.id, value.id) < 0)) this.ordered.push(value)
    else this.ordered = undefined
  }

  delete(id: string): void {
    if (this.byKey.delete(id)) this.ordered = undefined
  }

  values(): readonly T[] {
    this.ordered ??= [...this.byKey.values()].sort((a, b) => byId(a.id, b.id))
    return this.ordered
  }
}

/** A set of ids that can be listed in id order, sorted only when read after an out-of-order change. */
class IdSet {
  private readonly ids = new Set<string>()
  private ordered: string[] | undefined = []

  get size(): number {
    return this.ids.size
  }

  add(id: string): void {
    if (this.ids.has(id)) return
    this.ids.add(id)
    const last = this.ordered?.at(-1)
    if (this.ordered && (last === undefined || byId(last, id) < 0)) this.ordered.push(id)
    else this.ordered = undefined
  }

  delete(id: string): void {
    if (this.ids.delete(id)) this.ordered = undefined
  }

  values(): readonly string[] {
    this.ordered ??= [...this.ids].sort(byId)
    return this.ordered
  }
}

// Adds `id` to the set under `key`, creating it.
function addTo(map: Map<string, IdSet>, key: string, id: string): void {
  const set = map.get(key)
  if (set) set.add(id)
  else {
    const created = new IdSet()
    created.add(id)
    map.set(key, created)
  }
}

// Removes `id` from the set under `key`, dropping the set when it empties.
function removeFrom(map: Map<string, IdSet>, key: string, id: string): void {
  const set = map.get(key)
  if (!set) return
  set.delete(id)
  if (set.size === 0) map.delete(key)
}

/** The registry in memory with every index the hot paths read. */
export class RegistryView {
  readonly humans = new Map<string, Stored<Human>>()
  /** Ids of the humans with each email (lower case): an email shared by several names nobody. */
  private readonly emailHolders = new Map<string, IdSet>()
  /** Human ids by IdP binding (issuer and subject); the store lets a binding name one human only. */
  private readonly identityHolders = new Map<string, IdSet>()
  readonly agents = new Map<string, Client>()
  readonly workloads = new Map<string, Client>()
  /** Client ids by federated binding (issuer and subject), workloads and agents apart. */
  private readonly federatedAgents = new Map<string, IdSet>()
  private readonly federatedWorkloads = new Map<string, IdSet>()
  /** Trusted issuers by registry id, and the ids of those with each `iss` value. */
  readonly issuersById = new Map<string, Stored<TrustedIssuer>>()
  private readonly issuerHolders = new Map<string, IdSet>()
  readonly resourceServers = new IdOrdered<Stored<ResourceServer>>()
  private readonly audienceHolders = new Map<string, IdSet>()
  readonly groups = new Map<string, Stored<Group>>()
  /** Group ids by member (`human:alice`, `agent:bot`), in id order. */
  private readonly memberOf = new Map<string, IdSet>()
  readonly policies = new IdOrdered<Stored<Policy>>()
  readonly entityTypes = new IdOrdered<Stored<EntityType>>()
  readonly entities = new Map<string, Stored<Entity>>()
  private readonly entitiesByType = new Map<string, IdSet>()

  /** The object of this kind and id, if present. */
  get(kind: RegistryKind, id: string): AnyStored | undefined {
    switch (kind) {
      case 'Human':
        return this.humans.get(id)
      case 'Agent':
        return this.agents.get(id)?.principal
      case 'Workload':
        return this.workloads.get(id)?.principal
      case 'TrustedIssuer':
        return this.issuersById.get(id)
      case 'ResourceServer':
        return this.resourceServers.byKey.get(id)
      case 'Group':
        return this.groups.get(id)
      case 'Policy':
        return this.policies.byKey.get(id)
      case 'EntityType':
        return this.entityTypes.byKey.get(id)
      case 'Entity':
        return this.entities.get(id)
    }
  }

  /** Replaces the object of this kind and id with `after` (undefined: removes it), updating every index. */
  put(kind: RegistryKind, id: string, after: AnyStored | undefined): void {
    const before = this.get(kind, id)
    if (before) this.remove(kind, before)
    if (after) this.add(kind, after)
  }

  /** Adds an object to a view being loaded, which does not hold it yet. */
  load(kind: RegistryKind, object: AnyStored): void {
    this.add(kind, object)
  }

  humanByEmail(email: string): Stored<Human> | undefined {
    return this.single(this.emailHolders.get(emailKey(email)))
  }

  humanByIdentity(issuer: string, subject: string): Stored<Human> | undefined {
    return this.single(this.identityHolders.get(pairKey(issuer, subject)))
  }

  // The human a key names: exactly one holder, or nobody.
  private single(holders: IdSet | undefined): Stored<Human> | undefined {
    if (holders?.size !== 1) return undefined
    const [id] = holders.values()
    return id === undefined ? undefined : this.humans.get(id)
  }

  /** Workloads first, then agents, each in id order. */
  federatedClients(issuer: string, subject: string): Client[] {
    const key = pairKey(issuer, subject)
    const clients: Client[] = []
    for (const id of this.federatedWorkloads.get(key)?.values() ?? []) {
      const client = this.workloads.get(id)
      if (client) clients.push(client)
    }
    for (const id of this.federatedAgents.get(key)?.values() ?? []) {
      const client = this.agents.get(id)
      if (client) clients.push(client)
    }
    return clients
  }

  /** The issuer registered with this `iss` value: the first by id if (against the rules) several are. */
  trustedIssuer(issuer: string): Stored<TrustedIssuer> | undefined {
    const [id] = this.issuerHolders.get(issuer)?.values() ?? []
    return id === undefined ? undefined : this.issuersById.get(id)
  }

  /** The resource server with this audience: the first by id if (against the rules) several are. */
  resourceServer(audience: string): Stored<ResourceServer> | undefined {
    const [id] = this.audienceHolders.get(audience)?.values() ?? []
    return id === undefined ? undefined : this.resourceServers.byKey.get(id)
  }

  groupsOf(member: string): readonly string[] {
    return this.memberOf.get(member)?.values() ?? []
  }

  entityIdsOfType(type: string): readonly string[] {
    return this.entitiesByType.get(type)?.values() ?? []
  }

  private add(kind: RegistryKind, object: AnyStored): void {
    const id = object.id
    switch (kind) {
      case 'Human': {
        const human = object as Stored<Human>
        this.humans.set(id, human)
        if (human.email !== undefined) addTo(this.emailHolders, emailKey(human.email), id)
        for (const i of human.identities ?? []) addTo(this.identityHolders, pairKey(i.issuer, i.subject), id)
        return
      }
      case 'Agent':
      case 'Workload': {
        const client = (
          kind === 'Agent'
            ? { kind: 'agent', principal: object as Stored<Agent> }
            : { kind: 'workload', principal: object as Stored<Workload> }
        ) as Client
        const [clients, federated] = this.clientMaps(kind)
        clients.set(id, client)
        for (const binding of client.principal.credentials)
          if (binding.type === 'federated') addTo(federated, pairKey(binding.issuer, binding.subject), id)
        return
      }
      case 'TrustedIssuer': {
        const issuer = object as Stored<TrustedIssuer>
        this.issuersById.set(id, issuer)
        addTo(this.issuerHolders, issuer.issuer, id)
        return
      }
      case 'ResourceServer': {
        const server = object as Stored<ResourceServer>
        this.resourceServers.set(server)
        addTo(this.audienceHolders, server.audience, id)
        return
      }
      case 'Group': {
        const group = object as Stored<Group>
        this.groups.set(id, group)
        for (const m of group.members) addTo(this.memberOf, `${m.kind}:${m.id}`, id)
        return
      }
      case 'Policy':
        this.policies.set(object as Stored<Policy>)
        return
      case 'EntityType':
        this.entityTypes.set(object as Stored<EntityType>)
        return
      case 'Entity':
        this.entities.set(id, object as Stored<Entity>)
        addTo(this.entitiesByType, entityTypeOf(id), id)
        return
    }
  }

  private remove(kind: RegistryKind, object: AnyStored): void {
    const id = object.id
    switch (kind) {
      case 'Human': {
        const human = object as Stored<Human>
        this.humans.delete(id)
        if (human.email !== undefined) removeFrom(this.emailHolders, emailKey(human.email), id)
        for (const i of human.identities ?? [])
          removeFrom(this.identityHolders, pairKey(i.issuer, i.subject), id)
        return
      }
      case 'Agent':
      case 'Workload': {
        const [clients, federated] = this.clientMaps(kind)
        clients.delete(id)
        for (const binding of (object as Stored<Agent | Workload>).credentials)
          if (binding.type === 'federated')
            removeFrom(federated, pairKey(binding.issuer, binding.subject), id)
        return
      }
      case 'TrustedIssuer':
        this.issuersById.delete(id)
        removeFrom(this.issuerHolders, (object as Stored<TrustedIssuer>).issuer, id)
        return
      case 'ResourceServer':
        this.resourceServers.delete(id)
        removeFrom(this.audienceHolders, (object as Stored<ResourceServer>).audience, id)
        return
      case 'Group':
        this.groups.delete(id)
        for (const m of (object as Stored<Group>).members) removeFrom(this.memberOf, `${m.kind}:${m.id}`, id)
        return
      case 'Policy':
        this.policies.delete(id)
        return
      case 'EntityType':
        this.entityTypes.delete(id)
        return
      case 'Entity':
        this.entities.delete(id)
        removeFrom(this.entitiesByType, entityTypeOf(id), id)
        return
    }
  }

  private clientMaps(kind: 'Agent' | 'Workload'): [Map<string, Client>, Map<string, IdSet>] {
    return kind === 'Agent' ? [this.agents, this.federatedAgents] : [this.workloads, this.federatedWorkloads]
  }
}
