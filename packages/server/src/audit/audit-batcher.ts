// Group commit for audit records that stand alone (token issuances and refusals, decisions): concurrent records share
// one write transaction and one fsync, and each caller is answered only once its record is durable. One bad record
// never fails its neighbours: records are checked before they join a batch, and a batch whose commit fails is retried
// record by record, so that only the guilty caller fails.
//
// A record may carry an effect: conditional writes (a mandate's guarded budget spend, a refresh token's rotation, an
// approval's redemption) run in the batch's transaction just before the record is appended, so that the writes and
// their record are durable together or not at all. An effect is data, not a closure: the node's writer runs in its own
// thread (audit-writer.ts), so each step names a handler of the writer's table and carries only what it needs. A step
// whose guard fails keeps its record out of the batch and fails its caller alone; the others commit.
import { AuditUnavailable } from '../errors/mandate-error.ts'
import {
  InvalidGrant,
  MandateExhausted,
  MandateExpired,
  MandateRevoked,
  type OAuthError,
} from '../errors/oauth-error.ts'
import { type Database, type Executor, isUnavailable } from '../store/database.ts'
import type { AuditLog } from './audit-log.ts'
import { type AuditEvent, type AuditEventInput, checkRecordable } from './event.ts'

/**
 * One conditional write of a record's effect, as plain data (it is copied to the writer's thread): `kind` names the
 * handler that runs it, the other fields are that handler's input.
 */
export interface EffectStep {
  readonly kind: string
  readonly [field: string]: unknown
}

/** A record's effect: its steps run in order in the record's transaction, and the first refusal stops them. */
export type RecordEffect = readonly EffectStep[]

/** Why a step's guard refused: the caller is rejected with the OAuth error of that code. */
export interface EffectRefusal {
  error: 'invalid_grant' | 'mandate_exhausted' | 'mandate_expired' | 'mandate_revoked'
  message: string
  /** The mandate that refused, named in the error's `mandate_id`. */
  mandateId?: string | undefined
}

/**
 * What a step did: applied (with records to append right after its own, e.g. `mandate.exhausted`), or refused by
 * its guard (nothing of the record or its effect is written).
 */
export type EffectOutcome = { ok: true; events?: AuditEventInput[] } | { ok: false; refusal: EffectRefusal }

/**
 * Runs one kind of step inside the batch's transaction. It must not throw for a refusal (a failed statement aborts a
 * PostgreSQL transaction for every record of the batch): it answers `{ok: false}` instead. `now` is the record's time.
 */
export type EffectHandler = (tx: Executor, step: EffectStep, now: Date) => Promise<EffectOutcome>

/** The handlers a writer knows, by step kind. A step of an unknown kind fails its record (fail closed). */
export type EffectHandlers = Readonly<Record<string, EffectHandler>>

/** Where a durable record is in the chain: what a recorder answers (callers only wait for it; tests read it back). */
export interface AuditReceipt {
  seq: number
  hash: string
}

/** Where standalone audit records go: resolved once the record is durable, rejected otherwise. */
export interface AuditRecorder {
  /**
   * Records an event; resolves once it is committed. With `effect`, the record is written only if every step
   * applies, in the same transaction; a refused step rejects with its OAuth error.
   */
  record(input: AuditEventInput, effect?: RecordEffect): Promise<AuditReceipt>
}

/**
 * The error a refused step rejects its caller with: the same OAuth error the grant would raise itself.
 * @example
 * refusalError({ error: 'mandate_exhausted', message: 'no budget left', mandateId: 'm1' }) // MandateExhausted
 */
export function refusalError(refusal: EffectRefusal): OAuthError {
  switch (refusal.error) {
    case 'invalid_grant':
      return new InvalidGrant(refusal.message)
    case 'mandate_exhausted':
      return new MandateExhausted(refusal.message, refusal.mandateId)
    case 'mandate_expired':
      return new MandateExpired(refusal.message, refusal.mandateId)
    case 'mandate_revoked':
      return new MandateRevoked(refusal.message, refusal.mandateId)
  }
}

/** Options of a batcher: its clock, the effect handlers it runs, and how a refusal becomes its caller's error. */
export interface AuditBatcherOptions {
  now?: () => number
  handlers?: EffectHandlers
  /** The rejection of a refused record; {@link refusalError} by default. */
  refuse?: (refusal: EffectRefusal) => Error
  /**
   * Records arrive already checked with `checkRecordable` (the writer thread's: AuditWriter checks each record on the
   * main thread, where its caller is told). Unchecked by default: a batcher used directly checks each record itself.
   */
  checked?: boolean
}

interface Pending {
  input: AuditEventInput
  now: Date
  effect?: RecordEffect | undefined
  resolve: (event: AuditEvent) => void
  reject: (error: unknown) => void
}

/** The most records one transaction takes; more wait for the next. */
const MAX_BATCH = 1000

/** Batches standalone audit records into as few transactions as the load allows, on the connection it is given. */
export class AuditBatcher implements AuditRecorder {
  private queue: Pending[] = []
  private flushing = false
  private readonly now: () => number
  private readonly handlers: EffectHandlers
  private readonly refuse: (refusal: EffectRefusal) => Error
  private readonly checked: boolean

  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
    options: AuditBatcherOptions = {},
  ) {
    this.now = options.now ?? Date.now
    this.handlers = options.handlers ?? {}
    this.refuse = options.refuse ?? refusalError
    this.checked = options.checked ?? false
  }

  /**
   * Records an event; resolves once it is committed. A failed commit rejects its caller, so no action is
   * acknowledged without its durable record (fail closed). `at` is the record's time (now by default).
   * @example
   * await batcher.record({ type: 'token.issue', outcome: 'success', actors: [{ kind: 'agent', id: 'bot' }] })
   */
  record(input: AuditEventInput, effect?: RecordEffect, at?: Date): Promise<AuditEvent> {
    return new Promise((resolve, reject) => {
      if (!this.checked) checkRecordable(input)
      this.queue.push({ input, now: at ?? new Date(this.now()), effect, resolve, reject })
      if (!this.flushing) void this.flush()
    })
  }

  private async flush(): Promise<void> {
    this.flushing = true
    // Let the requests already being parsed join this batch.
    await new Promise((resolve) => setImmediate(resolve))
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH)
      try {
        await this.commit(batch)
      } catch (error) {
        // A refusing log or an unreachable database fails every record alike; anything else may be one record's
        // fault, so each is tried alone.
        if (batch.length === 1 || error instanceof AuditUnavailable || isUnavailable(error))
          for (const pending of batch) pending.reject(error)
        else
          for (const pending of batch)
            await this.commit([pending]).catch((alone: unknown) => pending.reject(alone))
      }
    }
    this.flushing = false
  }

  // Effects run in queue order, each just before its record is placed, so a record's position in the chain is its
  // caller's place in the queue. Callers are answered only after the commit: a retried batch runs its effects again.
  private async commit(batch: Pending[]): Promise<void> {
    const outcome = await this.database.transact(async (tx) => {
      const entries: Array<{ input: AuditEventInput; now: Date }> = []
      const placed: Array<{ pending: Pending; at: number }> = []
      const refused: Array<{ pending: Pending; refusal: EffectRefusal }> = []
      for (const pending of batch) {
        const applied = await this.apply(tx, pending)
        if (!applied.ok) {
          refused.push({ pending, refusal: applied.refusal })
          continue
        }
        placed.push({ pending, at: entries.length })
        entries.push({ input: pending.input, now: pending.now })
        for (const extra of applied.events ?? []) entries.push({ input: extra, now: pending.now })
      }
      return { events: await this.audit.appendMany(tx, entries), placed, refused }
    })
    for (const { pending, at } of outcome.placed) pending.resolve(outcome.events[at] as AuditEvent)
    for (const { pending, refusal } of outcome.refused) pending.reject(this.refuse(refusal))
  }

  // The steps of one record's effect, in order; the first refusal stops them and its record is left out.
  private async apply(tx: Executor, pending: Pending): Promise<EffectOutcome> {
    const events: AuditEventInput[] = []
    for (const step of pending.effect ?? []) {
      const handler = Object.hasOwn(this.handlers, step.kind) ? this.handlers[step.kind] : undefined
      if (!handler) throw new Error(`no handler for the effect step ${step.kind}`)
      const outcome = await handler(tx, step, pending.now)
      if (!outcome.ok) return outcome
      events.push(...(outcome.events ?? []))
    }
    return { ok: true, events }
  }
}
