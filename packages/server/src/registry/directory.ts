// The in-memory registry that hot paths read: principals, trusted issuers and resource servers, loaded once and
// reloaded when the registry's version counter moves (a local write, or another node's write seen by polling).

import type { Database } from '../store/database.ts'
import type { RegistryStore } from '../store/registry-store.ts'
import { emailKey } from './email-key.ts'
import type {
  Agent,
  Entity,
  EntityType,
  Group,
  Human,
  Policy,
  ResourceServer,
  Stored,
  TrustedIssuer,
  Workload,
} from './model.ts'
import type { RegistryStores } from './stores.ts'

/** A client: an agent or a workload, which share one client_id namespace. */
export type Client =
  | { kind: 'agent'; principal: Stored<Agent> }
  | { kind: 'workload'; principal: Stored<Workload> }

interface Snapshot {
  version: string
  humans: Map<string, Stored<Human>>
  humansByEmail: Map<string, Stored<Human>>
  /** Humans by IdP binding, keyed by issuer and subject. */
  humansByIdentity: Map<string, Stored<Human>>
  clients: Map<string, Client>
  /** Clients by federated binding, keyed by issuer and subject. */
  federated: Map<string, Client[]>
  issuers: Map<string, Stored<TrustedIssuer>>
  resourceServers: Map<string, Stored<ResourceServer>>
  resourceServersById: Map<string, Stored<ResourceServer>>
  groups: Map<string, Stored<Group>>
  /** Group ids by member (`human:alice`, `agent:bot`). */
  groupsOf: Map<string, string[]>
  policies: Stored<Policy>[]
  entityTypes: Map<string, Stored<EntityType>>
  /** Application entities by id (`record:101`). */
  entities: Map<string, Stored<Entity>>
  /** Entity ids by type, in id order. */
  entitiesByType: Map<string, string[]>
}

const EMPTY: Snapshot = {
  version: '',
  humans: new Map(),
  humansByEmail: new Map(),
  humansByIdentity: new Map(),
  clients: new Map(),
  federated: new Map(),
  issuers: new Map(),
  resourceServers: new Map(),
  resourceServersById: new Map(),
  groups: new Map(),
  groupsOf: new Map(),
  policies: [],
  entityTypes: new Map(),
  entities: new Map(),
  entitiesByType: new Map(),
}
const PAGE = 1000

/** Read-only view of the registry for the token service and (later) the PDP and gateway. */
export class Directory {
  private snapshot: Snapshot = EMPTY
  private loading: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly database: Database,
    private readonly stores: RegistryStores,
  ) {}

  /** The human with this id. */
  human(id: string): Stored<Human> | undefined {
    return this.snapshot.humans.get(id)
  }

  /** The human with this email (ignoring case), if exactly one has it. */
  humanByEmail(email: string): Stored<Human> | undefined {
    return this.snapshot.humansByEmail.get(emailKey(email))
  }

  /** The human bound to this subject of this human IdP, if any. */
  humanByIdentity(issuer: string, subject: string): Stored<Human> | undefined {
    return this.snapshot.humansByIdentity.get(`${issuer}\u0000${subject}`)
  }

  /** The clients with a federated binding for this issuer and subject. */
  federatedClients(issuer: string, subject: string): Client[] {
    return this.snapshot.federated.get(`${issuer}\u0000${subject}`) ?? []
  }

  /** The agent or workload whose id is this client_id. */
  client(id: string): Client | undefined {
    return this.snapshot.clients.get(id)
  }

  /** The trusted issuer with this `iss` value. */
  trustedIssuer(issuer: string): Stored<TrustedIssuer> | undefined {
    return this.snapshot.issuers.get(issuer)
  }

  /** The resource server registered for this audience (RFC 8707 resource indicator). */
  resourceServer(audience: string): Stored<ResourceServer> | undefined {
    return this.snapshot.resourceServers.get(audience)
  }

  /** Every resource server, for resolving a scope to its audience. */
  resourceServers(): Iterable<Stored<ResourceServer>> {
    return this.snapshot.resourceServers.values()
  }

  /** The resource server with this registry id. */
  resourceServerById(id: string): Stored<ResourceServer> | undefined {
    return this.snapshot.resourceServersById.get(id)
  }

  /** Every agent and workload. */
  clients(): Iterable<Client> {
    return this.snapshot.clients.values()
  }

  /** Every human. */
  humans(): Iterable<Stored<Human>> {
    return this.snapshot.humans.values()
  }

  /** The group with this id. */
  group(id: string): Stored<Group> | undefined {
    return this.snapshot.groups.get(id)
  }

  /** Every group. */
  groups(): Iterable<Stored<Group>> {
    return this.snapshot.groups.values()
  }

  /** Ids of the groups a principal is a member of. */
  groupsOf(kind: 'human' | 'agent' | 'workload', id: string): readonly string[] {
    return this.snapshot.groupsOf.get(`${kind}:${id}`) ?? []
  }

  /** Every policy set, enabled or not. */
  policies(): readonly Stored<Policy>[] {
    return this.snapshot.policies
  }

  /** The entity types admins declared. */
  entityTypes(): Iterable<Stored<EntityType>> {
    return this.snapshot.entityTypes.values()
  }

  /** The application entity with this id (`record:101`). */
  entity(uid: string): Stored<Entity> | undefined {
    return this.snapshot.entities.get(uid)
  }

  /** Ids of the application entities of one type, in id order. */
  entityIdsOfType(type: string): readonly string[] {
    return this.snapshot.entitiesByType.get(type) ?? []
  }

  /** The registry version this view was loaded at; changes whenever anything in the registry does. */
  get version(): string {
    return this.snapshot.version
  }

  /** Reloads everything if the registry changed since the last load; concurrent callers share one reload. */
  async refresh(): Promise<void> {
    this.loading ??= this.reloadIfChanged().finally(() => {
      this.loading = undefined
    })
    return this.loading
  }

  /** Polls for changes made by other nodes every `intervalMs`. */
  start(intervalMs: number, onError: (error: unknown) => void): void {
    this.timer = setInterval(() => this.refresh().catch(onError), intervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  private async reloadIfChanged(): Promise<void> {
    const db = this.database.db
    const row = await db
      .selectFrom('meta')
      .select('value')
      .where('key', '=', 'registry_version')
      .executeTakeFirst()
    const version = row?.value ?? '0'
    if (version === this.snapshot.version) return
    const [humans, agents, workloads, issuers, resourceServers, groups, policies, entityTypes, entities] =
      await Promise.all([
        this.all(this.stores.humans),
        this.all(this.stores.agents),
        this.all(this.stores.workloads),
        this.all(this.stores.trustedIssuers),
        this.all(this.stores.resourceServers),
        this.all(this.stores.groups),
        this.all(this.stores.policies),
        this.all(this.stores.entityTypes),
        this.all(this.stores.entities),
      ])
    const clients = new Map<string, Client>()
    for (const principal of workloads) clients.set(principal.id, { kind: 'workload', principal })
    for (const principal of agents) clients.set(principal.id, { kind: 'agent', principal })
    const federated = new Map<string, Client[]>()
    for (const client of clients.values()) {
      for (const binding of client.principal.credentials) {
        if (binding.type !== 'federated') continue
        const key = `${binding.issuer}\u0000${binding.subject}`
        federated.set(key, [...(federated.get(key) ?? []), client])
      }
    }
    this.snapshot = {
      version,
      humans: new Map(humans.map((h) => [h.id, h])),
      humansByEmail: uniqueBy(humans, (h) => (h.email === undefined ? undefined : emailKey(h.email))),
      humansByIdentity: new Map(
        humans.flatMap((h) => (h.identities ?? []).map((i) => [`${i.issuer}\u0000${i.subject}`, h] as const)),
      ),
      clients,
      federated,
      issuers: new Map(issuers.map((i) => [i.issuer, i])),
      resourceServers: new Map(resourceServers.map((r) => [r.audience, r])),
      resourceServersById: new Map(resourceServers.map((r) => [r.id, r])),
      groups: new Map(groups.map((g) => [g.id, g])),
      groupsOf: membership(groups),
      policies,
      entityTypes: new Map(entityTypes.map((t) => [t.id, t])),
      entities: new Map(entities.map((e) => [e.id, e])),
      entitiesByType: byType(entities),
    }
  }

  private async all<T extends { id: string }>(store: RegistryStore<T>): Promise<Stored<T>[]> {
    const items: Stored<T>[] = []
    let after: string | undefined
    for (;;) {
      const page = await store.list(this.database.db, { after, limit: PAGE })
      items.push(...page)
      if (page.length < PAGE) return items
      after = page.at(-1)?.id
    }
  }
}

function membership(groups: readonly Group[]): Map<string, string[]> {
  const map = new Map<string, string[]>()
  for (const group of groups)
    for (const member of group.members) {
      const key = `${member.kind}:${member.id}`
      map.set(key, [...(map.get(key) ?? []), group.id])
    }
  return map
}

// Entities come in id order from the store, so each type's list is in id order too.
function byType(entities: readonly Entity[]): Map<string, string[]> {
  const map = new Map<string, string[]>()
  for (const entity of entities) {
    const type = entity.id.slice(0, entity.id.indexOf(':'))
    const ids = map.get(type)
    if (ids) ids.push(entity.id)
    else map.set(type, [entity.id])
  }
  return map
}

// Indexes by a key, leaving out keys that more than one item shares (an ambiguous email names nobody).
function uniqueBy<T>(items: readonly T[], keyOf: (item: T) => string | undefined): Map<string, T> {
  const map = new Map<string, T>()
  const shared = new Set<string>()
  for (const item of items) {
    const key = keyOf(item)
    if (key === undefined) continue
    if (map.has(key)) shared.add(key)
    map.set(key, item)
  }
  for (const key of shared) map.delete(key)
  return map
}
