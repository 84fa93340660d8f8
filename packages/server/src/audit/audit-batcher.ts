// Group commit for audit records that stand alone (token issuances and refusals, decisions): concurrent records share
// one write transaction and one fsync, and each caller is answered only once its record is durable. One bad record
// never fails its neighbours: records are checked before they join a batch, and a batch whose commit fails is retried
// record by record, so that only the guilty caller fails.
//
// A record may carry an effect: a conditional write (a mandate's guarded budget spend) run in the batch's transaction
// just before the record is appended, so that the write and its record are durable together or not at all. An effect
// whose guard fails keeps its record out of the batch and fails its caller alone; the others commit.
import { AuditUnavailable } from '../errors/mandate-error.ts'
import { type Database, type Executor, isUnavailable } from '../store/database.ts'
import type { AuditLog } from './audit-log.ts'
import { type AuditEvent, type AuditEventInput, checkRecordable } from './event.ts'

/**
 * What an effect did: applied (with records to append right after its own, e.g. `mandate.exhausted`), or refused by
 * its guard (the caller is rejected with `error`, nothing of it is written).
 */
export type EffectOutcome = { ok: true; events?: AuditEventInput[] } | { ok: false; error: Error }

/**
 * A conditional write that commits with its record, in the same transaction. It must not throw for a refusal (a failed
 * statement aborts a PostgreSQL transaction for every record of the batch): it answers `{ok: false}` instead. `now` is
 * the record's time.
 */
export type RecordEffect = (tx: Executor, now: Date) => Promise<EffectOutcome>

interface Pending {
  input: AuditEventInput
  now: Date
  effect?: RecordEffect | undefined
  resolve: (event: AuditEvent) => void
  reject: (error: unknown) => void
}

/** The most records one transaction takes; more wait for the next. */
const MAX_BATCH = 1000

/** Batches standalone audit records into as few transactions as the load allows. */
export class AuditBatcher {
  private queue: Pending[] = []
  private flushing = false

  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records an event; resolves once it is committed. A failed commit rejects its caller, so no action is
   * acknowledged without its durable record (fail closed). With `effect`, the record is written only if the effect
   * applies, in the same transaction; a refused effect rejects with its error.
   * @example
   * await batcher.record({ type: 'token.issue', outcome: 'success', actors: [{ kind: 'agent', id: 'bot' }] })
   */
  record(input: AuditEventInput, effect?: RecordEffect): Promise<AuditEvent> {
    return new Promise((resolve, reject) => {
      checkRecordable(input)
      this.queue.push({ input, now: new Date(this.now()), effect, resolve, reject })
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
      const refused: Array<{ pending: Pending; error: Error }> = []
      for (const pending of batch) {
        const applied = pending.effect ? await pending.effect(tx, pending.now) : { ok: true as const }
        if (!applied.ok) {
          refused.push({ pending, error: applied.error })
          continue
        }
        placed.push({ pending, at: entries.length })
        entries.push({ input: pending.input, now: pending.now })
        for (const extra of applied.events ?? []) entries.push({ input: extra, now: pending.now })
      }
      return { events: await this.audit.appendMany(tx, entries), placed, refused }
    })
    for (const { pending, at } of outcome.placed) pending.resolve(outcome.events[at] as AuditEvent)
    for (const { pending, error } of outcome.refused) pending.reject(error)
  }
}
