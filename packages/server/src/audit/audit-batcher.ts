// Group commit for audit records that stand alone (token issuances and refusals, decisions): concurrent records share
// one write transaction and one fsync, and each caller is answered only once its record is durable. One bad record
// never fails its neighbours: records are checked before they join a batch, and a batch whose commit fails is retried
// record by record, so that only the guilty caller fails.
import { AuditUnavailable } from '../errors/mandate-error.ts'
import { type Database, isUnavailable } from '../store/database.ts'
import type { AuditLog } from './audit-log.ts'
import { type AuditEvent, type AuditEventInput, checkRecordable } from './event.ts'

interface Pending {
  input: AuditEventInput
  now: Date
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
   * acknowledged without its durable record (fail closed).
   * @example
   * await batcher.record({ type: 'token.issue', outcome: 'success', actors: [{ kind: 'agent', id: 'bot' }] })
   */
  record(input: AuditEventInput): Promise<AuditEvent> {
    return new Promise((resolve, reject) => {
      checkRecordable(input)
      this.queue.push({ input, now: new Date(this.now()), resolve, reject })
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

  private async commit(batch: Pending[]): Promise<void> {
    const events = await this.database.transact((tx) => this.audit.appendMany(tx, batch))
    for (const [i, pending] of batch.entries()) pending.resolve(events[i] as AuditEvent)
  }
}
