// The registry's writes, the same for every kind: create, replace, merge-patch, remove and apply (several documents at
// once), each checked by its kind's rules (kinds.ts) and written together with its audit record in one transaction.
import { sql } from 'kysely'
import type { AuditLog } from '../audit/audit-log.ts'
import { canonicalJson } from '../audit/canonical-json.ts'
import {
  Conflict,
  type FieldError,
  MandateError,
  NotFound,
  ValidationFailed,
} from '../errors/mandate-error.ts'
import type { Database, Executor } from '../store/database.ts'
import type { ListQuery, RegistryStore } from '../store/registry-store.ts'
import { orderForApply } from './apply-order.ts'
import {
  type AnyDoc,
  type ChangeContext,
  type ChangeResult,
  type KindRules,
  kindSlug,
  type RuleContext,
  redact,
  withoutBookkeeping,
} from './change.ts'
import type { IssuedSecret } from './credentials.ts'
import { mayBindByEmail } from './identity-rules.ts'
import type { JwksFetcher } from './jwks-fetcher.ts'
import { kindRules } from './kinds.ts'
import {
  type Human,
  type HumanIdentity,
  type RegistryDocs,
  type RegistryKind,
  registryKinds,
  type Stored,
} from './model.ts'
import type { RegistryStores } from './stores.ts'
import { mergePatch, validateAgainst } from './validate.ts'

export type { ChangeContext, ChangeResult } from './change.ts'
export { kindSlug } from './change.ts'

export interface RegistryOptions {
  database: Database
  stores: RegistryStores
  audit: AuditLog
  /** Checks registered `jwks_uri`s (the node's KeySets). */
  jwks: Pick<JwksFetcher, 'validateUri'>
  maxAgentDepth: number
  now?: () => Date
  /**
   * Checks a change that policies depend on (policy sets, entity types, entities, resource servers) inside the write
   * transaction; any problem refuses the write.
   */
  checkPolicies?: (
    tx: Executor,
    change: { kind: RegistryKind; id: string; doc: AnyDoc | undefined },
  ) => Promise<FieldError[]>
  /**
   * Called inside the write transaction when a human goes from active to inactive, after the agents they sponsor were
   * suspended: what else ends with them (the mandates they gave) ends in the same transaction.
   */
  onHumanDeactivated?: (tx: Executor, humanId: string, ctx: ChangeContext) => Promise<unknown>
  /** Called after every committed change, e.g. to reload in-memory views of the registry. */
  onChange?: () => Promise<void>
}

/** What `apply` did: each document in the order it was written, and the counts. */
export interface ApplyResult {
  results: Array<{
    kind: RegistryKind
    id: string
    change: ChangeResult<unknown>['change']
    version: number
    issued_secrets?: IssuedSecret[]
  }>
  created: number
  updated: number
  unchanged: number
}

// A write waiting for its turn in a group commit.
interface PendingWrite {
  work: (tx: Executor) => Promise<unknown>
  changed: (result: unknown) => boolean
  resolve: (result: unknown) => void
  reject: (error: unknown) => void
}

/** The most writes committed together; more wait for the next commit. */
const GROUP_COMMIT_MAX = 128

// How an audit record names a change, when not `admin.<kind>.<verb>`.
interface EventName {
  type: string
  action: string
  reason?: string
}

/** Registry operations for every kind. Domain code: no HTTP here. */
export class Registry {
  private readonly now: () => Date
  private readonly pending: PendingWrite[] = []
  private committing = false

  constructor(private readonly options: RegistryOptions) {
    this.now = options.now ?? (() => new Date())
  }

  // Every write goes through here, so that listeners hear of each committed change before the caller is answered.
  // Writes are serialized anyway (Database.transact), so the writes that wait while one transaction runs are run
  // together in the next, each in a savepoint of its own: a refused write rolls back to its savepoint and leaves the
  // others, and one commit (one fsync on SQLite) makes them all durable before any is answered.
  private transact<T>(work: (tx: Executor) => Promise<T>, changed: (result: T) => boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({
        work,
        changed: (result) => changed(result as T),
        resolve: (result) => resolve(result as T),
        reject,
      })
      if (!this.committing) this.scheduleCommit()
    })
  }

  // A group starts after the event loop has read what the sockets hold, so that the writes asked for meanwhile join it
  // (the SQLite driver is synchronous: a transaction started at once would run before any other request is read).
  private scheduleCommit(): void {
    this.committing = true
    setImmediate(() => {
      void this.commitGroup(this.pending.splice(0, GROUP_COMMIT_MAX)).finally(() => {
        if (this.pending.length > 0) this.scheduleCommit()
        else this.committing = false
      })
    })
  }

  private async commitGroup(group: PendingWrite[]): Promise<void> {
    const outcomes: Array<{ ok: true; result: unknown } | { ok: false; error: unknown }> = []
    try {
      await this.options.database.transact(async (tx) => {
        for (const write of group) {
          if (group.length === 1) {
            outcomes.push({ ok: true, result: await write.work(tx) })
            continue
          }
          await sql`savepoint registry_write`.execute(tx)
          try {
            outcomes.push({ ok: true, result: await write.work(tx) })
            await sql`release savepoint registry_write`.execute(tx)
          } catch (error) {
            await sql`rollback to savepoint registry_write`.execute(tx)
            await sql`release savepoint registry_write`.execute(tx)
            outcomes.push({ ok: false, error })
          }
        }
        // A lone write that throws rolls the transaction back and is answered with its error below.
      })
    } catch (error) {
      if (group.length === 1 && outcomes.length === 0) {
        group[0]?.reject(error)
        return
      }
      for (const write of group) write.reject(error)
      return
    }
    let refreshed: Promise<void> | undefined
    if (outcomes.some((o, i) => o.ok && group[i]?.changed(o.result))) refreshed = this.options.onChange?.()
    try {
      await refreshed
    } catch (error) {
      for (const write of group) write.reject(error)
      return
    }
    for (const [i, write] of group.entries()) {
      const outcome = outcomes[i]
      if (outcome?.ok) write.resolve(outcome.result)
      else write.reject(outcome?.error)
    }
  }

  private store<K extends RegistryKind>(kind: K): RegistryStore<RegistryDocs[K]> {
    return rulesOf(kind).store(this.options.stores)
  }

  /** The filters a kind's list accepts. */
  listFilters(kind: RegistryKind): string[] {
    return this.store(kind).filterNames
  }

  /** The object, or NotFound. */
  async get<K extends RegistryKind>(kind: K, id: string): Promise<Stored<RegistryDocs[K]>> {
    const found = await this.store(kind).get(this.options.database.db, id)
    if (!found) throw new NotFound(kind, id)
    return redact(found)
  }

  /** One page of objects. */
  async list<K extends RegistryKind>(kind: K, query: ListQuery): Promise<Stored<RegistryDocs[K]>[]> {
    return (await this.store(kind).list(this.options.database.db, query)).map((doc) => redact(doc))
  }

  /** Creates an object; an existing id is a Conflict. */
  async create<K extends RegistryKind>(
    kind: K,
    input: unknown,
    ctx: ChangeContext,
  ): Promise<ChangeResult<RegistryDocs[K]>> {
    const doc = validateAgainst<RegistryDocs[K]>(registryKinds[kind].schema, input)
    return this.transact(async (tx) => {
      if (await this.store(kind).get(tx, doc.id))
        throw new Conflict(`${kind} ${JSON.stringify(doc.id)} already exists`)
      return this.write(tx, kind, doc, undefined, ctx)
    }, isChange)
  }

  /**
   * Creates or replaces an object (what `mandate apply` does). Replacing with an equal document changes nothing.
   * With `ifVersion`, the write only happens if the stored object is still at that version.
   */
  async put<K extends RegistryKind>(
    kind: K,
    id: string,
    input: unknown,
    ctx: ChangeContext,
    ifVersion?: number,
  ): Promise<ChangeResult<RegistryDocs[K]>> {
    const doc = this.validateReplacement(kind, id, input)
    return this.transact((tx) => this.replace(tx, kind, doc, ctx, ifVersion), isChange)
  }

  private validateReplacement<K extends RegistryKind>(kind: K, id: string, input: unknown): RegistryDocs[K] {
    const body =
      input !== null && typeof input === 'object' && !Array.isArray(input)
        ? { id, ...(input as object) }
        : input
    const doc = validateAgainst<RegistryDocs[K]>(registryKinds[kind].schema, body)
    if (doc.id !== id)
      throw new ValidationFailed([{ path: '/id', message: `must equal the id in the URL (${id})` }])
    return doc
  }

  private async replace<K extends RegistryKind>(
    tx: Executor,
    kind: K,
    doc: RegistryDocs[K],
    ctx: ChangeContext,
    ifVersion?: number,
  ): Promise<ChangeResult<RegistryDocs[K]>> {
    const current = await this.store(kind).get(tx, doc.id)
    if (ifVersion !== undefined && current?.version !== ifVersion)
      throw new Conflict(`${kind} ${JSON.stringify(doc.id)} is not at version ${ifVersion}`)
    return this.write(tx, kind, doc, current, ctx)
  }

  /** Applies an RFC 7396 merge patch to an existing object. */
  async patch<K extends RegistryKind>(
    kind: K,
    id: string,
    patch: unknown,
    ctx: ChangeContext,
    ifVersion?: number,
  ): Promise<ChangeResult<RegistryDocs[K]>> {
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch))
      throw new ValidationFailed([{ path: '/', message: 'must be a JSON object (RFC 7396 merge patch)' }])
    if ('id' in patch && (patch as { id: unknown }).id !== id)
      throw new ValidationFailed([{ path: '/id', message: 'cannot be changed' }])
    return this.transact(async (tx) => {
      const current = await this.store(kind).get(tx, id)
      if (!current) throw new NotFound(kind, id)
      if (ifVersion !== undefined && current.version !== ifVersion)
        throw new Conflict(`${kind} ${JSON.stringify(id)} is not at version ${ifVersion}`)
      const doc = validateAgainst<RegistryDocs[K]>(
        registryKinds[kind].schema,
        mergePatch(withoutBookkeeping(current), patch),
      )
      return this.write(tx, kind, doc, current, ctx)
    }, isChange)
  }

  /**
   * Removes an object the way its kind allows: agents and workloads are retired (kept, for the audit trail), humans
   * are deactivated (which suspends the agents they sponsor), the other kinds are deleted.
   */
  async remove<K extends RegistryKind>(
    kind: K,
    id: string,
    ctx: ChangeContext,
  ): Promise<ChangeResult<RegistryDocs[K]> | { deleted: true }> {
    const rule = kindRules[kind].remove
    if (rule.by === 'patch') return this.patch(kind, id, rule.patch, ctx)
    return this.transact(
      async (tx) => {
        const current = await this.store(kind).get(tx, id)
        if (!current) throw new NotFound(kind, id)
        const before = withoutBookkeeping(current)
        await rule.refuse?.(this.ruleContext(tx, ctx), before)
        await this.checkDependentPolicies(tx, kind, id, undefined)
        await this.store(kind).delete(tx, id)
        await this.record(tx, kind, 'delete', id, ctx, { before: redact(before) })
        return { deleted: true as const }
      },
      () => true,
    )
  }

  /**
   * Creates or replaces several objects in one transaction (`mandate apply -f`), in dependency order (see
   * apply-order.ts): all are written, or, when any is refused, none. A refusal names the document by its index in
   * `documents`, its kind and id; field paths start with `/documents/<index>`. Equal documents change nothing.
   */
  async apply(documents: readonly unknown[], ctx: ChangeContext): Promise<ApplyResult> {
    const parsed = parseDocuments(documents)
    return this.transact(
      async (tx) => {
        const result: ApplyResult = { results: [], created: 0, updated: 0, unchanged: 0 }
        for (const item of orderForApply(parsed)) {
          try {
            const doc = this.validateReplacement(item.kind, item.id, item.body)
            const written = await this.replace(tx, item.kind, doc, ctx)
            result[written.change]++
            result.results.push({
              kind: item.kind,
              id: item.id,
              change: written.change,
              version: written.object.version,
              ...(written.issued_secrets ? { issued_secrets: written.issued_secrets } : {}),
            })
          } catch (error) {
            throw refusedDocument(error, item)
          }
        }
        return result
      },
      (result) => result.created + result.updated > 0,
    )
  }

  /**
   * Binds an IdP subject to the human whose verified email a token of that IdP carried, if the human still may be
   * bound (see `mayBindByEmail`) and the subject is bound to nobody, checked inside the write transaction so that
   * concurrent logins on any node bind at most once. Answers the human as bound, or undefined when it may not be.
   */
  async bindIdentityByEmail(
    humanId: string,
    identity: HumanIdentity,
    email: string,
    issuerId: string,
    trace: Omit<ChangeContext, 'actor'> = {},
  ): Promise<Stored<Human> | undefined> {
    const ctx: ChangeContext = { ...trace, actor: { kind: 'system', id: `trusted_issuer:${issuerId}` } }
    return this.transact(
      async (tx) => {
        const humans = this.options.stores.humans
        const current = await humans.get(tx, humanId)
        if (!current) return undefined
        const holder = await humans.boundTo(tx, identity.issuer, identity.subject)
        if (holder === humanId) return redact(current)
        if (holder !== undefined || !mayBindByEmail(current, identity, email)) return undefined
        const doc: Human = {
          ...withoutBookkeeping(current),
          identities: [...(current.identities ?? []), identity],
        }
        const written = await this.write(tx, 'Human', doc, current, ctx, {
          type: 'human.identity.bind',
          action: 'human.identity.bind',
          reason: `first login at ${identity.issuer}, matched by verified email`,
        })
        return written.object
      },
      (result) => result !== undefined,
    )
  }

  /** Emails (lower case) that several humans share, with their ids: data from before emails were unique. */
  sharedEmails(): Promise<Array<{ email: string; humans: string[] }>> {
    return this.options.stores.humans.sharedEmails(this.options.database.db)
  }

  private async checkDependentPolicies(
    tx: Executor,
    kind: RegistryKind,
    id: string,
    doc: AnyDoc | undefined,
  ): Promise<void> {
    if (!this.options.checkPolicies || !kindRules[kind].policyInput) return
    const problems = await this.options.checkPolicies(tx, { kind, id, doc })
    if (problems.length === 0) return
    if (doc === undefined) throw new Conflict(problems.map((p) => p.message).join('; '))
    throw new ValidationFailed(problems)
  }

  private ruleContext(tx: Executor, ctx: ChangeContext): RuleContext {
    return {
      tx,
      stores: this.options.stores,
      jwks: this.options.jwks,
      maxAgentDepth: this.options.maxAgentDepth,
      now: this.now(),
      change: ctx,
      record: (kind, verb, id, details, reason) =>
        this.record(tx, kind, verb, id, ctx, details, reason ? { reason } : undefined),
    }
  }

  private async write<K extends RegistryKind>(
    tx: Executor,
    kind: K,
    input: RegistryDocs[K],
    current: Stored<RegistryDocs[K]> | undefined,
    ctx: ChangeContext,
    event?: EventName,
  ): Promise<ChangeResult<RegistryDocs[K]>> {
    const rules = rulesOf(kind)
    const rc = this.ruleContext(tx, ctx)
    const previous = current ? withoutBookkeeping<RegistryDocs[K]>(current) : undefined
    const prepared: { doc: RegistryDocs[K]; issued?: IssuedSecret[] } = rules.prepare
      ? await rules.prepare(rc, input, previous)
      : { doc: input }
    const { doc, issued = [] } = prepared
    if (current && previous && canonicalJson(previous) === canonicalJson(doc))
      return { object: redact(current), change: 'unchanged' }
    await this.checkDependentPolicies(tx, kind, doc.id, doc)
    const now = rc.now.toISOString()
    const store = this.store(kind)
    const object = current ? await store.update(tx, current, doc, now) : await store.insert(tx, doc, now)
    await this.record(
      tx,
      kind,
      current ? 'update' : 'create',
      doc.id,
      ctx,
      {
        ...(previous ? { before: redact(previous) } : {}),
        after: redact(doc),
        ...(issued.length > 0 ? { issued_secrets: issued.map((s) => s.credential) } : {}),
      },
      event,
    )
    await rules.afterWrite?.(rc, doc, previous, object)
    if (
      kind === 'Human' &&
      (doc as Human).status === 'inactive' &&
      (previous as Human | undefined)?.status === 'active'
    )
      await this.options.onHumanDeactivated?.(tx, doc.id, ctx)
    return {
      object: redact(object),
      change: current ? 'updated' : 'created',
      ...(issued.length > 0 ? { issued_secrets: issued } : {}),
    }
  }

  private async record(
    tx: Executor,
    kind: RegistryKind,
    verb: string,
    id: string,
    ctx: ChangeContext,
    details: Record<string, unknown>,
    event?: Partial<EventName>,
  ): Promise<void> {
    const subject = `${kindSlug(kind)}:${id}`
    await this.options.audit.append(
      tx,
      {
        type: event?.type ?? `admin.${kindSlug(kind)}.${verb}`,
        outcome: 'success',
        actors: [ctx.actor],
        subjects: [subject],
        action: event?.action ?? `${kindSlug(kind)}.${verb}`,
        resource: subject,
        ...(event?.reason ? { reason: event.reason } : {}),
        ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
        ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
        details,
      },
      this.now(),
    )
    // The change feed: every node's Directory applies this object's new state (see directory.ts). Writes are serialized
    // (Database.transact), so sequences are assigned in commit order.
    await tx
      .insertInto('registry_changes')
      .values({ kind, object_id: id, op: verb === 'create' || verb === 'delete' ? verb : 'update' })
      .execute()
  }
}

// TypeScript widens an index into the table to the union of its entries; each entry is the rules of its own kind.
function rulesOf<K extends RegistryKind>(kind: K): KindRules<K> {
  return kindRules[kind] as KindRules<K>
}

function isChange(result: { change: string }): boolean {
  return result.change !== 'unchanged'
}

interface ApplyItem {
  index: number
  kind: RegistryKind
  id: string
  body: Record<string, unknown>
}

// Each document must name a known kind and an id, and no kind and id twice; every problem is reported at once.
function parseDocuments(documents: readonly unknown[]): ApplyItem[] {
  const fields: FieldError[] = []
  const items: ApplyItem[] = []
  const seen = new Map<string, number>()
  for (const [index, value] of documents.entries()) {
    const at = `/documents/${index}`
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      fields.push({ path: at, message: 'must be an object with a kind and an id' })
      continue
    }
    const { kind, ...body } = value as Record<string, unknown>
    if (typeof kind !== 'string' || !Object.hasOwn(registryKinds, kind)) {
      fields.push({
        path: `${at}/kind`,
        message: `must be one of ${Object.keys(registryKinds).join(', ')}`,
      })
      continue
    }
    if (typeof body.id !== 'string' || body.id === '') {
      fields.push({ path: `${at}/id`, message: 'is required' })
      continue
    }
    const key = `${kind}\u0000${body.id}`
    const first = seen.get(key)
    if (first !== undefined) {
      fields.push({ path: `${at}/id`, message: `${kind} ${body.id} is also document ${first}` })
      continue
    }
    seen.set(key, index)
    items.push({ index, kind: kind as RegistryKind, id: body.id, body })
  }
  if (fields.length > 0) throw new ValidationFailed(fields, 'the documents are invalid; none was applied')
  return items
}

// A refusal of one document refuses them all: say which one, and where in it.
function refusedDocument(error: unknown, item: ApplyItem): unknown {
  if (!(error instanceof MandateError)) return error
  const which = `document ${item.index} (${item.kind} ${item.id})`
  if (error instanceof ValidationFailed)
    return new ValidationFailed(
      error.fields.map((f) => ({ ...f, path: `/documents/${item.index}${f.path === '/' ? '' : f.path}` })),
      `${which} is invalid; none was applied`,
    )
  if (error instanceof Conflict) return new Conflict(`${which}: ${error.message}; none was applied`)
  return error
}
