// Approvals of risky actions: a request is opened bound to exactly one action and one approver, decided once by that
// approver (or an admin, recorded as such), polled by the agent, and redeemed once. Every transition is a conditional
// write with its audit record in the same transaction.
import { randomBytes } from 'node:crypto'
import type { AuditLog } from '../audit/audit-log.ts'
import { canonicalJson } from '../audit/canonical-json.ts'
import type { ActorRef } from '../audit/event.ts'
import { Conflict, Forbidden, NotFound } from '../errors/mandate-error.ts'
import type { Client, Directory } from '../registry/directory.ts'
import type { ResourceServer, Stored } from '../registry/model.ts'
import type { Database } from '../store/database.ts'
import type { ApprovalRow } from '../store/tables.ts'
import { type ApprovalAction, type Approver, hashOf } from './action.ts'
import type { ApprovalFilter, ApprovalStore } from './approval-store.ts'

/** What asks for an approval. */
export interface ApprovalRequest {
  origin: ApprovalAction['origin']
  client: Client & { id: string }
  mode: 'autonomous' | 'delegated'
  delegator?: string | undefined
  chain: ActorRef[]
  resourceServer: Stored<ResourceServer>
  scopes: readonly string[]
  details: ReadonlyArray<Record<string, unknown>>
  /** The scopes and detail types that need the approval. */
  for: readonly string[]
  /**
   * Who the policy named (`sponsor`, `delegator`, `group:<id>`); absent for a backchannel request no policy held,
   * which the delegating human (delegated) or the sponsor (autonomous) approves.
   */
  rule?: string | undefined
  bindingMessage?: string | undefined
  notAfter?: number | undefined
  maxTtlSeconds?: number | undefined
  /** The mandate a held delegated exchange was covered by. */
  mandateId?: string | undefined
  /** Seconds until it expires, at most the configured expiry. */
  expiresInSeconds?: number | undefined
  requestId?: string | undefined
  traceparent?: string | undefined
}

/** An approval as the admin API, the page, the CLI and the webhook show it. */
export interface ApprovalView {
  id: string
  state: 'pending' | 'approved' | 'denied' | 'expired' | 'used'
  action: ApprovalAction
  /** SHA-256 (hex) of the action's canonical JSON. */
  action_hash: string
  created_at: string
  expires_at: string
  decided_by: string | null
  decided_as: 'approver' | 'admin' | null
  decided_at: string | null
  reason: string | null
  used_at: string | null
}

/** Who decides: a logged-in human, or an admin (who may decide any approval, and is recorded as an admin). */
export type Decider = { kind: 'human'; id: string } | { kind: 'admin'; actor: ActorRef }

/** What a poll found. */
export type PollOutcome =
  | { status: 'unknown' | 'used' | 'denied' | 'expired' | 'pending' }
  | { status: 'slow_down'; interval: number }
  | { status: 'approved'; action: ApprovalAction }

/**
 * No request can be opened: no approver can be named (a workload has no sponsor, a group is not registered), or the
 * client already has as many requests waiting as it may.
 */
export class ApprovalRefused extends Error {}

export interface ApprovalsOptions {
  database: Database
  audit: AuditLog
  store: ApprovalStore
  directory: Directory
  /** The longest a request stays open (seconds). */
  expirySeconds: number
  /** CIBA §7.3 `interval`: the least time between polls (seconds). */
  intervalSeconds: number
  /** The most requests one client may have waiting at once. */
  maxPendingPerClient: number
  /** Told of every new request once it is stored (the webhook). */
  notify?: ((approval: ApprovalView) => void) | undefined
  now: () => number
}

// CIBA §7.3: auth_req_id with at least 160 bits of entropy, characters from A-Z a-z 0-9 . - _ (base64url).
function newId(): string {
  return `apr_${randomBytes(24).toString('base64url')}`
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/** The approval requests of this deployment. */
export class Approvals {
  constructor(private readonly options: ApprovalsOptions) {}

  /**
   * Opens a request bound to the action and its approver, recorded as `approval.pending` in the same transaction;
   * the webhook is told after the commit. Throws ApprovalRefused when nobody can be named, or when the client has
   * as many requests waiting as it may.
   * @example
   * const { id } = await approvals.open({ origin: 'token', client, mode: 'autonomous', chain, resourceServer, scopes: ['tickets:delete'], details: [], for: ['tickets:delete'], rule: 'sponsor' })
   */
  async open(request: ApprovalRequest): Promise<ApprovalView> {
    const { options } = this
    const approver = this.approverFor(request)
    const action: ApprovalAction = {
      origin: request.origin,
      client: { kind: request.client.kind, id: request.client.id },
      mode: request.mode,
      subject: request.mode === 'delegated' && request.delegator ? request.delegator : request.client.id,
      delegator: request.delegator ?? null,
      chain: request.chain,
      resource: request.resourceServer.audience,
      resource_server: request.resourceServer.id,
      scopes: [...request.scopes],
      authorization_details: [...request.details],
      for: [...request.for],
      approver,
      binding_message: request.bindingMessage ?? null,
      not_after: request.notAfter ?? null,
      max_ttl_seconds: request.maxTtlSeconds ?? null,
      ...(request.mandateId ? { mandate_id: request.mandateId } : {}),
    }
    const text = canonicalJson(action)
    const now = options.now()
    const seconds = Math.min(request.expiresInSeconds ?? options.expirySeconds, options.expirySeconds)
    const row: ApprovalRow = {
      id: newId(),
      state: 'pending',
      client_id: request.client.id,
      approver_kind: approver.kind,
      approver_id: approver.id,
      action: text,
      action_hash: hashOf(text),
      created_at: now,
      expires_at: now + seconds * 1000,
      interval_seconds: options.intervalSeconds,
      last_poll_at: null,
      decided_by: null,
      decided_as: null,
      decided_at: null,
      reason: null,
      used_at: null,
    }
    await options.database.transact(async (tx) => {
      // Counted inside the write transaction, which is serialized across nodes: concurrent requests cannot pass it.
      if ((await options.store.countPending(tx, row.client_id, now)) >= options.maxPendingPerClient)
        throw new ApprovalRefused(
          `${row.client_id} already has ${options.maxPendingPerClient} approval requests waiting; wait for them`,
        )
      await options.store.insert(tx, row)
      await options.audit.append(
        tx,
        {
          type: 'approval.pending',
          outcome: 'success',
          actors: request.chain,
          subjects: [`${approver.kind}:${approver.id}`],
          mode: request.mode,
          action: action.for.join(' '),
          resource: action.resource,
          ...(request.requestId ? { requestId: request.requestId } : {}),
          ...(request.traceparent ? { traceparent: request.traceparent } : {}),
          details: {
            approval_id: row.id,
            origin: action.origin,
            approver: approver.rule,
            approver_id: `${approver.kind}:${approver.id}`,
            delegator: action.delegator,
            action_hash: row.action_hash,
            expires_at: iso(row.expires_at),
          },
        },
        new Date(now),
      )
    })
    const view = this.view(row)
    options.notify?.(view)
    return view
  }

  /** One approval; NotFound when there is none. */
  async get(id: string): Promise<ApprovalView> {
    const row = await this.options.store.get(this.options.database.db, id)
    if (!row) throw new NotFound('approval', id)
    return this.view(row)
  }

  /**
   * Approvals, newest first; `human` narrows them to those that human may decide. States are read as the clock says:
   * a pending or approved request past its expiry is listed as expired.
   */
  async list(filter: {
    state?: ApprovalView['state'] | undefined
    human?: string | undefined
    limit: number
    after?: string | undefined
  }): Promise<{ items: ApprovalView[]; next_cursor: string | null }> {
    const { store, database } = this.options
    let before: ApprovalFilter['before']
    if (filter.after !== undefined) {
      const row = await store.get(database.db, filter.after)
      if (!row) throw new NotFound('approval', filter.after)
      before = { created_at: row.created_at, id: row.id }
    }
    const approvers = filter.human === undefined ? undefined : this.approversOf(filter.human)
    const items: ApprovalView[] = []
    // Stored pending rows may have expired by the clock: read pages until the page is full of what was asked.
    for (let round = 0; round < 20 && items.length < filter.limit; round++) {
      // An expired request may still be stored as pending or approved; every other state is read as stored.
      const stored = filter.state === 'expired' ? undefined : filter.state
      const rows = await store.list(database.db, { state: stored, approvers, before, limit: filter.limit })
      for (const row of rows) {
        const view = this.view(row)
        if (filter.state === undefined || view.state === filter.state) items.push(view)
        if (items.length === filter.limit) break
      }
      const last = rows.at(-1)
      if (rows.length < filter.limit || !last) break
      before = { created_at: last.created_at, id: last.id }
    }
    const last = items.at(-1)
    return { items, next_cursor: items.length === filter.limit && last ? last.id : null }
  }

  /** Whether `human` may decide the approval: its named human, or a human member of its group. */
  mayDecide(human: string, approval: ApprovalView): boolean {
    return this.approversOf(human).includes(`${approval.action.approver.kind}:${approval.action.approver.id}`)
  }

  /**
   * Approves or denies a pending approval, once. A human must be its approver (Forbidden otherwise); an admin may
   * decide any, recorded as `decided_as: admin`. Deciding an approval that is no longer pending is a Conflict.
   */
  async decide(
    id: string,
    decision: 'approve' | 'deny',
    decider: Decider,
    context: {
      reason?: string | undefined
      requestId?: string | undefined
      traceparent?: string | undefined
    } = {},
  ): Promise<ApprovalView> {
    const { options } = this
    const current = await this.get(id)
    if (decider.kind === 'human' && !this.mayDecide(decider.id, current))
      throw new Forbidden(`${decider.id} is not the approver of ${id}`)
    if (current.state === 'expired') {
      await this.expire(id)
      throw new Conflict(`approval ${id} has expired`)
    }
    if (current.state !== 'pending') throw new Conflict(`approval ${id} is already ${current.state}`)
    const actor: ActorRef = decider.kind === 'human' ? { kind: 'human', id: decider.id } : decider.actor
    const by = `${actor.kind}:${actor.id}`
    const as = decider.kind === 'human' ? 'approver' : 'admin'
    const state = decision === 'approve' ? 'approved' : 'denied'
    const now = options.now()
    await options.database.transact(async (tx) => {
      const moved = await options.store.decide(tx, id, {
        state,
        by,
        as,
        reason: context.reason ?? null,
        at: now,
      })
      if (!moved) throw new Conflict(`approval ${id} is no longer pending`)
      await options.audit.append(
        tx,
        {
          type: `approval.${decision}`,
          outcome: decision === 'approve' ? 'success' : 'deny',
          actors: [actor],
          subjects: subjectsOf(current.action),
          mode: current.action.mode,
          action: current.action.scopes.join(' '),
          resource: current.action.resource,
          ...(context.reason ? { reason: context.reason } : {}),
          ...(context.requestId ? { requestId: context.requestId } : {}),
          ...(context.traceparent ? { traceparent: context.traceparent } : {}),
          details: { approval_id: id, decided_as: as, action_hash: current.action_hash },
        },
        new Date(now),
      )
    })
    return this.get(id)
  }

  /**
   * What a poll by `clientId` finds (CIBA §11): `unknown` for no such request or another client's, `slow_down` when
   * it came sooner than the interval after the previous poll, and the verified action once approved.
   */
  async poll(id: string, clientId: string): Promise<PollOutcome> {
    const { store, database, now } = this.options
    const row = await store.get(database.db, id)
    if (!row || row.client_id !== clientId) return { status: 'unknown' }
    const view = this.view(row)
    switch (view.state) {
      case 'used':
      case 'denied':
        return { status: view.state }
      case 'expired':
        await this.expire(id)
        return { status: 'expired' }
      case 'approved':
        // What is issued must be what was approved: a stored action that no longer matches its hash is refused.
        if (hashOf(row.action) !== row.action_hash) return { status: 'unknown' }
        return { status: 'approved', action: view.action }
      case 'pending': {
        const early = await store.notePoll(database.db, row, now())
        return early ? { status: 'slow_down', interval: row.interval_seconds + 5 } : { status: 'pending' }
      }
    }
  }

  // pending | approved → expired, recorded once whichever node notices first.
  private async expire(id: string): Promise<void> {
    const { store, database, audit, now } = this.options
    const at = now()
    await database.transact(async (tx) => {
      const row = await store.get(tx, id)
      if (!row || !(await store.expire(tx, id, at))) return
      const action = JSON.parse(row.action) as ApprovalAction
      await audit.append(
        tx,
        {
          type: 'approval.expire',
          outcome: 'failure',
          actors: [{ kind: 'system', id: 'approvals' }],
          subjects: subjectsOf(action),
          mode: action.mode,
          action: action.scopes.join(' '),
          resource: action.resource,
          details: { approval_id: id, was: row.state },
        },
        new Date(at),
      )
    })
  }

  // A delegated action taken without a mandate (a backchannel request naming the human in login_hint) has no authority
  // but the approval itself: only that human may give it, whoever a policy names besides.
  private approverFor(request: ApprovalRequest): Approver {
    const approver = this.namedApprover(request)
    const forHuman = request.mode === 'delegated' ? request.delegator : undefined
    if (
      forHuman !== undefined &&
      request.mandateId === undefined &&
      !(approver.kind === 'human' && approver.id === forHuman)
    )
      throw new ApprovalRefused(
        `an action for ${forHuman} under no mandate is approved by ${forHuman}, not by the ${approver.rule}`,
      )
    return approver
  }

  private namedApprover(request: ApprovalRequest): Approver {
    const { directory } = this.options
    const sponsor = (): Approver => {
      if (request.client.kind !== 'agent')
        throw new ApprovalRefused(`workload ${request.client.id} has no sponsor to approve it`)
      return { rule: 'sponsor', kind: 'human', id: request.client.principal.sponsor }
    }
    const rule = request.rule
    if (rule === undefined)
      return request.mode === 'delegated' && request.delegator
        ? { rule: 'login_hint', kind: 'human', id: request.delegator }
        : sponsor()
    if (rule === 'sponsor') return sponsor()
    // A delegator rule without a delegating human (an autonomous request) falls to the accountable sponsor.
    if (rule === 'delegator')
      return request.delegator ? { rule: 'delegator', kind: 'human', id: request.delegator } : sponsor()
    if (rule.startsWith('group:')) {
      const id = rule.slice('group:'.length)
      if (!directory.group(id)) throw new ApprovalRefused(`the approving group ${id} is not registered`)
      return { rule: 'group', kind: 'group', id }
    }
    throw new ApprovalRefused(`unknown approver ${rule}`)
  }

  private approversOf(human: string): string[] {
    return [`human:${human}`, ...this.options.directory.groupsOf('human', human).map((g) => `group:${g}`)]
  }

  private view(row: ApprovalRow): ApprovalView {
    const stored = row.state as ApprovalView['state']
    const lapsed = (stored === 'pending' || stored === 'approved') && this.options.now() >= row.expires_at
    return {
      id: row.id,
      state: lapsed ? 'expired' : stored,
      action: JSON.parse(row.action) as ApprovalAction,
      action_hash: row.action_hash,
      created_at: new Date(row.created_at).toISOString(),
      expires_at: new Date(row.expires_at).toISOString(),
      decided_by: row.decided_by,
      decided_as: row.decided_as as ApprovalView['decided_as'],
      decided_at: iso(row.decided_at),
      reason: row.reason,
      used_at: iso(row.used_at),
    }
  }
}

function subjectsOf(action: ApprovalAction): string[] {
  return [
    `${action.client.kind}:${action.client.id}`,
    ...(action.delegator ? [`human:${action.delegator}`] : []),
  ]
}
