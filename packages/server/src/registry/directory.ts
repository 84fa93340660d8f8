// The in-memory registry that hot paths read: principals, trusted issuers, resource servers, groups, policies and
// entities. Loaded whole at start; after that it follows the registry's change feed (`registry_changes`, one row per
// changed object, written in the transaction that changed it): a local write applies what it changed before it is
// answered, and writes of other nodes are seen by polling the feed. Only when the feed was pruned past this node's
// position does it reload everything.

import type { Database } from '../store/database.ts'
import type { RegistryStore } from '../store/registry-store.ts'
import type { AnyDoc } from './change.ts'
import type {
  Entity,
  EntityType,
  Group,
  Human,
  Policy,
  RegistryKind,
  ResourceServer,
  Stored,
  TrustedIssuer,
} from './model.ts'
import { type AnyStored, type Client, RegistryView } from './registry-view.ts'
import type { RegistryStores } from './stores.ts'

export type { Client } from './registry-view.ts'

/** A change the Directory applied: the object before and after (undefined when absent). `reset` means "reloaded everything: rebuild". */
export type DirectoryChange =
  | { reset: true }
  | {
      reset?: false
      kind: RegistryKind
      id: string
      before: Stored<AnyDoc> | undefined
      after: Stored<AnyDoc> | undefined
    }

/** Options of the Directory. */
export interface DirectoryOptions {
  /** Feed rows kept when pruning (`prune`): a node further behind than this reloads everything. */
  keepChanges?: number
}

// What the Directory reads of each kind's store.
type KindStore = Pick<RegistryStore<{ id: string }>, 'list' | 'getMany'>

const PAGE = 5000
const KEEP_CHANGES = 100_000

/** Read-only view of the registry for the token service, the PDP, AuthZEN and the gateway. */
export class Directory {
  private view = new RegistryView()
  /** The feed sequence applied so far; -1 before the first load. */
  private position = -1
  /** Moves with every applied batch, so that readers can tell the view changed. */
  private revision = 0
  private running: Promise<void> | undefined
  private queued: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly listeners = new Set<(changes: readonly DirectoryChange[]) => void>()
  private readonly keepChanges: number
  private readonly stores: ReadonlyMap<RegistryKind, KindStore>

  constructor(
    private readonly database: Database,
    stores: RegistryStores,
    options: DirectoryOptions = {},
  ) {
    this.keepChanges = options.keepChanges ?? KEEP_CHANGES
    this.stores = new Map<RegistryKind, KindStore>([
      ['Human', stores.humans],
      ['Workload', stores.workloads],
      ['Agent', stores.agents],
      ['TrustedIssuer', stores.trustedIssuers],
      ['ResourceServer', stores.resourceServers],
      ['Group', stores.groups],
      ['Policy', stores.policies],
      ['EntityType', stores.entityTypes],
      ['Entity', stores.entities],
    ])
  }

  /** The human with this id. */
  human(id: string): Stored<Human> | undefined {
    return this.view.humans.get(id)
  }

  /** The human with this email (ignoring case), if exactly one has it. */
  humanByEmail(email: string): Stored<Human> | undefined {
    return this.view.humanByEmail(email)
  }

  /** The human bound to this subject of this human IdP, if any. */
  humanByIdentity(issuer: string, subject: string): Stored<Human> | undefined {
    return this.view.humanByIdentity(issuer, subject)
  }

  /** The clients with a federated binding for this issuer and subject: workloads, then agents, each in id order. */
  federatedClients(issuer: string, subject: string): Client[] {
    return this.view.federatedClients(issuer, subject)
  }

  /** The agent or workload whose id is this client_id. */
  client(id: string): Client | undefined {
    return this.view.agents.get(id) ?? this.view.workloads.get(id)
  }

  /** The trusted issuer with this `iss` value. */
  trustedIssuer(issuer: string): Stored<TrustedIssuer> | undefined {
    return this.view.trustedIssuer(issuer)
  }

  /** The resource server registered for this audience (RFC 8707 resource indicator). */
  resourceServer(audience: string): Stored<ResourceServer> | undefined {
    return this.view.resourceServer(audience)
  }

  /** Every resource server, in id order, for resolving a scope to its audience. */
  resourceServers(): Iterable<Stored<ResourceServer>> {
    return this.view.resourceServers.values()
  }

  /** The resource server with this registry id. */
  resourceServerById(id: string): Stored<ResourceServer> | undefined {
    return this.view.resourceServers.byKey.get(id)
  }

  /** Every agent and workload, in no particular order. */
  *clients(): Iterable<Client> {
    for (const [id, client] of this.view.workloads) if (!this.view.agents.has(id)) yield client
    yield* this.view.agents.values()
  }

  /** Every human, in no particular order. */
  humans(): Iterable<Stored<Human>> {
    return this.view.humans.values()
  }

  /** The group with this id. */
  group(id: string): Stored<Group> | undefined {
    return this.view.groups.get(id)
  }

  /** Every group. */
  groups(): Iterable<Stored<Group>> {
    return this.view.groups.values()
  }

  /** Ids of the groups a principal is a member of, in id order. */
  groupsOf(kind: 'human' | 'agent' | 'workload', id: string): readonly string[] {
    return this.view.groupsOf(`${kind}:${id}`)
  }

  /** Every policy set, enabled or not, in id order. */
  policies(): readonly Stored<Policy>[] {
    return this.view.policies.values()
  }

  /** The entity types admins declared, in id order. */
  entityTypes(): Iterable<Stored<EntityType>> {
    return this.view.entityTypes.values()
  }

  /** The application entity with this id (`record:101`). */
  entity(uid: string): Stored<Entity> | undefined {
    return this.view.entities.get(uid)
  }

  /** Ids of the application entities of one type, in id order. */
  entityIdsOfType(type: string): readonly string[] {
    return this.view.entityIdsOfType(type)
  }

  /** Changes whenever this view of the registry does (a batch of changes applied, or a reload). */
  get version(): string {
    return String(this.revision)
  }

  /**
   * Calls `listener` after each batch of changes is applied, in order, synchronously, before the write that made them
   * is answered (local writes) or within the polling interval (other nodes' writes). A `{ reset: true }` change means
   * everything was reloaded: rebuild from the Directory. Returns an unsubscribe function.
   * @example
   * const stop = directory.subscribe((changes) => { for (const c of changes) if (!c.reset) index(c.kind, c.id, c.after) })
   */
  subscribe(listener: (changes: readonly DirectoryChange[]) => void): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  /**
   * Applies every change committed before the call: the whole registry on the first call, the feed's new rows after.
   * Concurrent callers share runs; a caller arriving while one runs waits for the next, which starts after its call.
   */
  async refresh(): Promise<void> {
    if (!this.running) {
      this.running = this.catchUp().finally(() => {
        this.running = undefined
      })
      return this.running
    }
    this.queued ??= this.running
      .catch(() => {})
      .then(() => {
        this.queued = undefined
        return this.refresh()
      })
    return this.queued
  }

  /** Polls for changes made by other nodes every `intervalMs`. */
  start(intervalMs: number, onError: (error: unknown) => void): void {
    this.timer = setInterval(() => this.refresh().catch(onError), intervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /**
   * Deletes feed rows beyond the newest `keep` (default: the `keepChanges` option) and records how far it pruned, so
   * that a node whose position is older reloads everything instead of missing changes. Answers how many were deleted.
   */
  async prune(keep = this.keepChanges): Promise<number> {
    return this.database.transact(async (tx) => {
      const newest = await tx
        .selectFrom('registry_changes')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .executeTakeFirst()
      const mark = await tx
        .selectFrom('meta')
        .select('value')
        .where('key', '=', 'registry_changes_pruned')
        .executeTakeFirst()
      const through = Number(newest?.seq ?? 0) - keep
      // The mark only moves forward: a node between an older and a newer mark must still see it was left behind.
      if (through <= Number(mark?.value ?? 0)) return 0
      const deleted = await tx.deleteFrom('registry_changes').where('seq', '<=', through).executeTakeFirst()
      await tx
        .updateTable('meta')
        .set({ value: String(through) })
        .where('key', '=', 'registry_changes_pruned')
        .execute()
      return Number(deleted.numDeletedRows)
    })
  }

  private async catchUp(): Promise<void> {
    if (this.position < 0) return this.reload()
    for (;;) {
      const db = this.database.db
      const rows = await db
        .selectFrom('registry_changes')
        .select(['seq', 'kind', 'object_id'])
        .where('seq', '>', this.position)
        .orderBy('seq')
        .limit(PAGE)
        .execute()
      // Read after the rows: a prune that removed rows this read needed has committed its mark by now.
      const pruned = await db
        .selectFrom('meta')
        .select('value')
        .where('key', '=', 'registry_changes_pruned')
        .executeTakeFirst()
      if (Number(pruned?.value ?? 0) > this.position) return this.reload()
      if (rows.length === 0) return
      const changes = await this.applyChanges(rows)
      this.position = Number(rows.at(-1)?.seq)
      this.notify(changes)
      if (rows.length < PAGE) return
    }
  }

  // Reads the objects the rows name as they are now and applies them: an object changed again since is read in its
  // newer state, and its own row applies it once more, which changes nothing.
  private async applyChanges(
    rows: ReadonlyArray<{ kind: string; object_id: string }>,
  ): Promise<DirectoryChange[]> {
    const wanted = new Map<RegistryKind, Set<string>>()
    for (const row of rows) {
      const kind = row.kind as RegistryKind
      // A kind this node does not know (written by a newer one) has no place in its view.
      if (!this.stores.has(kind)) continue
      const ids = wanted.get(kind)
      if (ids) ids.add(row.object_id)
      else wanted.set(kind, new Set([row.object_id]))
    }
    const found = new Map<RegistryKind, Map<string, AnyStored>>()
    for (const [kind, ids] of wanted) {
      const objects = (await this.stores.get(kind)?.getMany(this.database.db, [...ids])) ?? []
      found.set(kind, new Map(objects.map((o) => [o.id, o as AnyStored])))
    }
    const changes: DirectoryChange[] = []
    for (const [kind, ids] of wanted)
      for (const id of ids) {
        const before = this.view.get(kind, id)
        const after = found.get(kind)?.get(id)
        if (before === undefined && after === undefined) continue
        this.view.put(kind, id, after)
        changes.push({ kind, id, before, after })
      }
    this.revision++
    return changes
  }

  private async reload(): Promise<void> {
    const db = this.database.db
    // The position is read first: a change committed during the load is applied again from the feed, harmlessly.
    const newest = await db
      .selectFrom('registry_changes')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .executeTakeFirst()
    const view = new RegistryView()
    for (const [kind, store] of this.stores) {
      let after: string | undefined
      for (;;) {
        const page = await store.list(db, { after, limit: PAGE })
        for (const object of page) view.load(kind, object as AnyStored)
        if (page.length < PAGE) break
        after = page.at(-1)?.id
      }
    }
    this.view = view
    this.position = Number(newest?.seq ?? 0)
    this.revision++
    this.notify([{ reset: true }])
  }

  // Every listener hears every batch; the first failure is rethrown once all have been called.
  private notify(changes: readonly DirectoryChange[]): void {
    if (changes.length === 0) return
    let failure: unknown
    for (const listener of this.listeners) {
      try {
        listener(changes)
      } catch (error) {
        failure ??= error
      }
    }
    if (failure !== undefined) throw failure
  }
}
