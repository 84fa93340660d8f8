// Mandates, the domain service: a human's grant of authority to an agent, with its limits, use and revocation. No HTTP
// here; the admin API, the consent flow and the token endpoint call these methods.
//
// The interface other modules use:
// - `grant(input, by)`: `input` is a MandateInput (model.ts: human, agent, actions, resource_servers, optional
//   resource_patterns and authorization_details_types, expires_at, optional budget and windows, source `consent` or
//   `admin`), i.e. a mandate without id, status and use; `by` is a ChangeContext (`{actor, requestId?, traceparent?}`,
//   the actor as the audit record names it, e.g. `{kind: 'human', id}` for a consent). Validated here (schema, the
//   agent's ceiling, the agent delegated or blended and active, the human active, the expiry within the maximum);
//   answers the stored mandate with its use; throws ValidationFailed (fields) otherwise. Recorded as `mandate.grant`.
// - `get(id)`, `list({human?, agent?, status?})`, `revoke(id, by, reason)`, `revokeGivenBy(humanId, by, reason)`.
// - `cover(request)`: the active mandate of a human to an agent that covers a request, or why none does.
// The guarded budget spend that commits with an issuance's audit record is an effect step: spend-effect.ts.
//
// `cover` runs on every delegated token request, so the mandates it reads are kept in memory: the candidates of each
// human and agent pair, and each mandate by id, as first read. A grant or revocation on this node forgets them before
// it is answered (a human's deactivation, which revokes in the registry's transaction, when the registry's view applies
// it); one on another node moves a version row that every node polls (`start`, every 500 ms in a serving node, the
// delay registry changes have too). The use of a mandate with a budget is read on each request, as its limits are
// checked there; that of a mandate without one, which only policies see (`context.mandate`), is reread at most every
// 500 ms. The memory only chooses the mandate: the guarded spend in the issuance's transaction (spend-effect.ts)
// refuses a revoked, expired or exhausted mandate whatever a node remembers.
import { randomBytes } from 'node:crypto'
import type { AuditLog } from '../audit/audit-log.ts'
import { findUnstorable } from '../audit/storable.ts'
import { type FieldError, NotFound, ValidationFailed } from '../errors/mandate-error.ts'
import { ceilingAllows } from '../registry/ceiling.ts'
import type { ChangeContext } from '../registry/change.ts'
import type { Directory } from '../registry/directory.ts'
import { beyondCeiling } from '../registry/gates.ts'
import type { ResourceServer, Stored } from '../registry/model.ts'
import type { RegistryStores } from '../registry/stores.ts'
import { validateAgainst } from '../registry/validate.ts'
import { parseRfc3339 } from '../rfc3339.ts'
import type { Database, Executor } from '../store/database.ts'
import type { Revocations } from '../tokens/revocations.ts'
import { amountOf, isTimeZone, periodOf, withinWindows } from './limits.ts'
import type { MandateQuery, MandateStore } from './mandate-store.ts'
import {
  type Mandate,
  MandateInput,
  type MandateRefusal,
  type MandateUse,
  type MandateWithUse,
} from './model.ts'

export interface MandatesOptions {
  database: Database
  store: MandateStore
  audit: AuditLog
  /** Humans and agents, read inside the write transaction (their status decides). */
  stores: Pick<RegistryStores, 'humans' | 'agents'>
  /**
   * Registered resource servers; its change notices tell this node's memory of mandates that a human changed (a
   * deactivation revokes their mandates in the registry's transaction).
   */
  directory: Pick<Directory, 'resourceServer' | 'resourceServerById' | 'subscribe'>
  /** Tokens issued under a revoked mandate are revoked with it. */
  revocations: Pick<Revocations, 'revokeIn'>
  /** The longest a mandate may last, in seconds. */
  maxLifetimeSeconds: number
  now?: () => number
}

/** A request a mandate must cover. */
export interface CoverRequest {
  human: string
  agent: string
  /** The actions (scopes) asked. */
  actions: readonly string[]
  resourceServer: Pick<ResourceServer, 'id' | 'audience'>
  /** RFC 9396 authorization details of the request: their types must be granted, and they carry sum amounts. */
  details: ReadonlyArray<Record<string, unknown>>
  /** The resource the patterns are matched against; the resource server's audience when absent. */
  resource?: string | undefined
  /**
   * Only this mandate may cover (a token issued under it is exchanged again): its agent may then be an agent acting
   * under the mandate's agent, so the agent is not compared.
   */
  mandateId?: string | undefined
}

/** Why no mandate covers a request. `none`: no mandate grants it; `uncountable`: a sum budget cannot count it. */
export type CoverCause = MandateRefusal | 'none' | 'outside_windows' | 'uncountable'

/** The answer of `cover`. */
export type Coverage =
  | { covered: true; mandate: MandateWithUse; amount: number }
  | { covered: false; cause: CoverCause; message: string; mandate?: MandateWithUse }

const GRANTABLE = new Set(['delegated', 'blended'])

/** Pairs and mandates kept at most; beyond it the memory starts again empty (this bounds a flood of new pairs). */
const MAX_CACHED = 10_000
/** How long the use of a mandate without a budget is kept before it is reread, in milliseconds. */
const USE_TTL_MS = 500

/** Mandates: grants, revocations, coverage and budget spends. */
export class Mandates {
  private readonly now: () => number
  /** The candidates of each human and agent pair (`pairKey`), newest first, revoked ones included. */
  private readonly pairs = new Map<string, readonly Mandate[]>()
  /** Mandates by id, as found. */
  private readonly byId = new Map<string, Mandate>()
  /** The use of mandates without a budget, and when it was read (epoch ms). */
  private readonly uses = new Map<string, { use: MandateUse; readAt: number }>()
  /** Moves on every forget: a read that began before it must not put back what it removed. */
  private generation = 0
  private seenVersion: string | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly options: MandatesOptions) {
    this.now = options.now ?? Date.now
    options.directory.subscribe((changes) => {
      if (changes.some((c) => c.reset || c.kind === 'Human')) this.forget()
    })
  }

  /** Forgets every mandate kept in memory when one was granted or revoked anywhere since the last look. */
  async refresh(): Promise<void> {
    const version = await this.options.store.version(this.options.database.db)
    // The first look forgets too: a mandate read before it may have changed before it.
    if (version !== this.seenVersion) this.forget()
    this.seenVersion = version
  }

  /** Polls for grants and revocations made on other nodes every `intervalMs`. */
  start(intervalMs: number, onError: (error: unknown) => void): void {
    this.timer = setInterval(() => this.refresh().catch(onError), intervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /**
   * Grants a mandate from `input.human` to `input.agent` (see the file header). Recorded as `mandate.grant` in the
   * same transaction.
   * @example
   * await mandates.grant({ human: 'alice', agent: 'assistant', actions: ['crm:read'], resource_servers: ['crm'], expires_at: '2027-01-01T00:00:00Z', source: 'admin' }, { actor: { kind: 'admin_token', id: 'ops' } })
   */
  async grant(input: unknown, by: ChangeContext): Promise<MandateWithUse> {
    const unstorable = findUnstorable(input)
    if (unstorable) throw new ValidationFailed([{ path: unstorable.path, message: unstorable.message }])
    const doc = validateAgainst<MandateInput>(MandateInput, input)
    const now = this.now()
    const { fields, expiresAt, servers } = this.checkLimits(doc, now)
    return this.forgetAfter(async (tx) => {
      fields.push(...(await this.checkParties(tx, doc, servers)))
      if (fields.length > 0) throw new ValidationFailed(fields, 'the mandate is invalid')
      const mandate: Mandate = {
        id: `mdt_${randomBytes(16).toString('base64url')}`,
        human: doc.human,
        agent: doc.agent,
        actions: doc.actions,
        resource_servers: servers.map((s) => s.id),
        ...(doc.resource_patterns ? { resource_patterns: doc.resource_patterns } : {}),
        ...(doc.authorization_details_types
          ? { authorization_details_types: doc.authorization_details_types }
          : {}),
        expires_at: new Date(expiresAt).toISOString(),
        ...(doc.budget ? { budget: doc.budget } : {}),
        ...(doc.windows ? { windows: doc.windows } : {}),
        source: doc.source,
        status: 'active',
        created_at: new Date(now).toISOString(),
        created_by: `${by.actor.kind}:${by.actor.id}`,
      }
      await this.options.store.insert(tx, mandate, expiresAt)
      await this.record(tx, 'mandate.grant', mandate, by, { after: mandate })
      return { ...mandate, usage: await this.useOf(tx, mandate) }
    })
  }

  /** The mandate with its use in the current period, or NotFound. */
  async get(id: string): Promise<MandateWithUse> {
    const db = this.options.database.db
    const mandate = await this.options.store.get(db, id)
    if (!mandate) throw new NotFound('Mandate', id)
    return { ...mandate, usage: await this.useOf(db, mandate) }
  }

  /** Mandates matching every given filter, newest first, each with its use. */
  async list(query: MandateQuery): Promise<MandateWithUse[]> {
    const db = this.options.database.db
    const mandates = await this.options.store.list(db, query)
    return Promise.all(mandates.map(async (m) => ({ ...m, usage: await this.useOf(db, m) })))
  }

  /**
   * Revokes a mandate: refused at once for new tokens on every node (its row is read on each exchange and in the
   * spend guard), and every token issued under it is revoked (shared revocation store). Revoking a revoked mandate
   * changes nothing. Recorded as `mandate.revoke`.
   */
  async revoke(id: string, by: ChangeContext, reason: string): Promise<MandateWithUse> {
    return this.forgetAfter(async (tx) => {
      const mandate = await this.options.store.get(tx, id)
      if (!mandate) throw new NotFound('Mandate', id)
      const revoked = mandate.status === 'revoked' ? mandate : await this.revokeIn(tx, mandate, by, reason)
      return { ...revoked, usage: await this.useOf(tx, revoked) }
    })
  }

  /** Revokes every active mandate `humanId` gave, in one transaction; answers their ids. */
  async revokeGivenBy(humanId: string, by: ChangeContext, reason: string): Promise<string[]> {
    return this.forgetAfter((tx) => this.revokeGivenByIn(tx, humanId, by, reason))
  }

  /** `revokeGivenBy` inside the caller's transaction (a human's deactivation). */
  async revokeGivenByIn(tx: Executor, humanId: string, by: ChangeContext, reason: string): Promise<string[]> {
    const active = await this.options.store.list(tx, { human: humanId, status: 'active', limit: 100_000 })
    for (const mandate of active) await this.revokeIn(tx, mandate, by, reason)
    // Forgotten again once committed: by the caller (`revokeGivenBy`) or when the registry applies the deactivation.
    if (active.length > 0) this.forget()
    return active.map((m) => m.id)
  }

  /**
   * The active mandate of `request.human` to `request.agent` that covers the request now: its actions, resource
   * server, authorization_details types and resource patterns, unexpired, inside a time window, with budget left
   * (read, not spent: the spend is guarded again when the token is recorded). When none does, why: a mandate that
   * would cover it but is revoked, expired or exhausted is named, so that the caller can say so.
   */
  async cover(request: CoverRequest): Promise<Coverage> {
    const db = this.options.database.db
    const now = this.now()
    const candidates = await this.candidates(request)
    const granting = candidates.filter((m) => grants(m, request))
    if (granting.length === 0)
      return { covered: false, cause: 'none', message: `no mandate covers ${describe(request)}` }
    let refusal: Extract<Coverage, { covered: false }> | undefined
    const refuse = (cause: CoverCause, mandate: MandateWithUse, message: string) => {
      // The most telling refusal wins: exhausted or outside a window before expired before revoked.
      if (!refusal || RANK[cause] < RANK[refusal.cause]) refusal = { covered: false, cause, message, mandate }
    }
    for (const m of granting) {
      const mandate = { ...m, usage: m.budget ? await this.useOf(db, m) : await this.keptUseOf(m, now) }
      if (m.status === 'revoked') {
        refuse('mandate_revoked', mandate, `mandate ${m.id} has been revoked`)
        continue
      }
      if ((parseRfc3339(m.expires_at) ?? 0) <= now) {
        refuse('mandate_expired', mandate, `mandate ${m.id} has expired`)
        continue
      }
      if (!withinWindows(m.windows, new Date(now))) {
        refuse('outside_windows', mandate, `mandate ${m.id} may not be used at this time`)
        continue
      }
      const amount = m.budget?.sum ? amountOf(m.budget.sum.argument, request.details) : 0
      if (amount === undefined) {
        refuse(
          'uncountable',
          mandate,
          `mandate ${m.id} limits the sum of ${m.budget?.sum?.argument}: every authorization_details entry must carry it as a non-negative number`,
        )
        continue
      }
      if (overspends(m, mandate.usage, amount)) {
        refuse('mandate_exhausted', mandate, `mandate ${m.id} has no budget left for this request`)
        continue
      }
      return { covered: true, mandate, amount }
    }
    return refusal ?? { covered: false, cause: 'none', message: `no mandate covers ${describe(request)}` }
  }

  private async revokeIn(
    tx: Executor,
    mandate: Mandate,
    by: ChangeContext,
    reason: string,
  ): Promise<Mandate> {
    const revoked: Mandate = {
      ...mandate,
      status: 'revoked',
      revoked_at: new Date(this.now()).toISOString(),
      revoked_by: `${by.actor.kind}:${by.actor.id}`,
      revoked_reason: reason,
    }
    await this.options.store.update(tx, revoked)
    await this.options.revocations.revokeIn(tx, { kind: 'mandate', id: mandate.id }, reason)
    await this.record(tx, 'mandate.revoke', revoked, by, { reason }, reason)
    return revoked
  }

  // The mandates that may cover a request, from memory when this node has read them since the last change.
  private async candidates(request: CoverRequest): Promise<readonly Mandate[]> {
    const db = this.options.database.db
    const generation = this.generation
    if (request.mandateId !== undefined) {
      let mandate = this.byId.get(request.mandateId)
      if (!mandate) {
        const found = await this.options.store.get(db, request.mandateId)
        if (found) this.keep(generation, () => this.byId.set(found.id, found))
        mandate = found
      }
      return mandate && mandate.human === request.human ? [mandate] : []
    }
    const key = `${request.human}\u0000${request.agent}`
    let list = this.pairs.get(key)
    if (!list) {
      const read = await this.options.store.list(db, {
        human: request.human,
        agent: request.agent,
        limit: 1000,
      })
      list = read
      this.keep(generation, () => this.pairs.set(key, read))
    }
    return list
  }

  // The use of a mandate without a budget: read again once older than USE_TTL_MS, or in a new period.
  private async keptUseOf(mandate: Mandate, now: number): Promise<MandateUse> {
    const kept = this.uses.get(mandate.id)
    if (kept && now - kept.readAt < USE_TTL_MS && kept.readAt <= now) return kept.use
    const generation = this.generation
    const use = await this.useOf(this.options.database.db, mandate)
    this.keep(generation, () => this.uses.set(mandate.id, { use, readAt: now }))
    return use
  }

  // Stores what a read found, unless a forget happened since the read began.
  private keep(generation: number, store: () => void): void {
    if (generation !== this.generation) return
    if (this.pairs.size + this.byId.size + this.uses.size >= MAX_CACHED) this.forget()
    store()
  }

  private forget(): void {
    this.generation++
    this.pairs.clear()
    this.byId.clear()
    this.uses.clear()
  }

  // A write transaction after which this node's memory of mandates is forgotten (before the caller is answered).
  private async forgetAfter<T>(work: (tx: Executor) => Promise<T>): Promise<T> {
    try {
      return await this.options.database.transact(work)
    } finally {
      this.forget()
    }
  }

  private useOf(ex: Executor, mandate: Mandate) {
    return this.options.store.use(
      ex,
      mandate.id,
      periodOf(mandate.budget?.period ?? 'total', new Date(this.now())),
    )
  }

  // What can be checked without the registry's current state: expiry, budget, windows, resource servers.
  private checkLimits(doc: MandateInput, now: number) {
    const fields: FieldError[] = []
    const expiresAt = parseRfc3339(doc.expires_at) ?? Number.NaN
    if (!(expiresAt > now)) fields.push({ path: '/expires_at', message: 'must be in the future' })
    else if (expiresAt > now + this.options.maxLifetimeSeconds * 1000)
      fields.push({
        path: '/expires_at',
        message: `must be at most ${this.options.maxLifetimeSeconds} seconds away (mandateMaxLifetimeSeconds)`,
      })
    if (doc.budget && doc.budget.calls === undefined && doc.budget.sum === undefined)
      fields.push({ path: '/budget', message: 'must limit calls, a sum, or both' })
    for (const [i, window] of (doc.windows ?? []).entries()) {
      if (!isTimeZone(window.time_zone))
        fields.push({ path: `/windows/${i}/time_zone`, message: 'is not an IANA time zone' })
      if (window.start >= window.end)
        fields.push({ path: `/windows/${i}/end`, message: 'must be after start' })
    }
    const servers: Stored<ResourceServer>[] = []
    for (const [i, name] of doc.resource_servers.entries()) {
      const server =
        this.options.directory.resourceServerById(name) ?? this.options.directory.resourceServer(name)
      if (!server)
        fields.push({ path: `/resource_servers/${i}`, message: `names no resource server (${name})` })
      else servers.push(server)
    }
    return { fields, expiresAt, servers }
  }

  // The human and the agent as they are now, inside the write: both active, the agent delegated or blended, and every
  // action and authorization_details type offered by a granted resource server within the agent's ceiling there.
  private async checkParties(
    tx: Executor,
    doc: MandateInput,
    servers: Stored<ResourceServer>[],
  ): Promise<FieldError[]> {
    const fields: FieldError[] = []
    const human = await this.options.stores.humans.get(tx, doc.human)
    if (!human) fields.push({ path: '/human', message: `names no human (${doc.human})` })
    else if (human.status !== 'active') fields.push({ path: '/human', message: `${doc.human} is not active` })
    const agent = await this.options.stores.agents.get(tx, doc.agent)
    if (!agent) return [...fields, { path: '/agent', message: `names no agent (${doc.agent})` }]
    if (agent.status !== 'active') fields.push({ path: '/agent', message: `${doc.agent} is ${agent.status}` })
    if (!GRANTABLE.has(agent.classification))
      fields.push({
        path: '/agent',
        message: `${doc.agent} is ${agent.classification}: only delegated and blended agents act for a human`,
      })
    const within = (
      list: 'actions' | 'authorization_details_types',
      offered: 'scopes' | 'authorization_details_types',
    ) =>
      (doc[list] ?? []).forEach((action, i) => {
        const on = servers.filter((s) => s[offered].includes(action))
        if (on.length === 0)
          fields.push({
            path: `/${list}/${i}`,
            message: `${action} is offered by none of the resource servers`,
          })
        else if (on.every((s) => beyondCeiling(agent, [action], s).length > 0))
          fields.push({ path: `/${list}/${i}`, message: `${action} is beyond the ceiling of ${doc.agent}` })
      })
    within('actions', 'scopes')
    within('authorization_details_types', 'authorization_details_types')
    return fields
  }

  private async record(
    tx: Executor,
    type: string,
    mandate: Mandate,
    by: ChangeContext,
    details: Record<string, unknown>,
    reason?: string,
  ): Promise<void> {
    await this.options.audit.append(
      tx,
      {
        type,
        outcome: 'success',
        actors: [by.actor],
        subjects: [`human:${mandate.human}`, `agent:${mandate.agent}`, `mandate:${mandate.id}`],
        action: type,
        resource: `mandate:${mandate.id}`,
        ...(reason ? { reason } : {}),
        ...(by.requestId ? { requestId: by.requestId } : {}),
        ...(by.traceparent ? { traceparent: by.traceparent } : {}),
        details,
      },
      new Date(this.now()),
    )
  }
}

const RANK: Record<CoverCause, number> = {
  uncountable: 0,
  mandate_exhausted: 1,
  outside_windows: 2,
  mandate_expired: 3,
  mandate_revoked: 4,
  none: 5,
}

// Whether the mandate, whatever its state, grants what the request asks: every action, the resource server, every
// authorization_details type and the resource.
function grants(mandate: Mandate, request: CoverRequest): boolean {
  if (!request.mandateId && mandate.agent !== request.agent) return false
  if (!mandate.resource_servers.includes(request.resourceServer.id)) return false
  if (!request.actions.every((a) => mandate.actions.includes(a))) return false
  const types = mandate.authorization_details_types ?? []
  if (!request.details.every((d) => typeof d.type === 'string' && types.includes(d.type))) return false
  if (mandate.resource_patterns) {
    const resource = request.resource ?? request.resourceServer.audience
    if (!ceilingAllows([{ action: '*', resources: mandate.resource_patterns }], '*', resource)) return false
  }
  return true
}

function overspends(mandate: Mandate, use: { calls: number; sum: number }, amount: number): boolean {
  const budget = mandate.budget
  if (!budget) return false
  if (budget.calls !== undefined && use.calls + 1 > budget.calls) return true
  return budget.sum !== undefined && use.sum + amount > budget.sum.limit + 1e-9
}

function describe(request: CoverRequest): string {
  const asked = [...request.actions, ...request.details.map((d) => String(d.type))]
  return `${asked.join(' ') || 'this request'} on ${request.resourceServer.audience} for ${request.human} by ${request.agent}`
}
