// Group commit for audit records that stand alone (token issuances and refusals): concurrent records share one write
// transaction and one fsync, and each caller is answered only once its record is durable.
import type { Database } from '../store/database.ts'
import type { AuditLog } from './audit-log.ts'
import type { AuditEvent, AuditEventInput } from './event.ts'

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
   * Records an event; resolves once it is committed. A failed commit rejects every caller in the batch, so no
   * action is acknowledged without its durable record (fail closed).
   * @example
   * await batcher.record({ type: 'token.issue', outcome: 'success', actors: [{ kind: 'agent', id: 'bot' }] })
   */
  record(input: AuditEventInput): Promise<AuditEvent> {
    return new Promise((resolve, reject) => {
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
        const events = await this.database.transact((tx) => this.audit.appendMany(tx, batch))
        for (const [i, pending] of batch.entries()) pending.resolve(events[i] as AuditEvent)
      } catch (error) {
        for (const pending of batch) pending.reject(error)
      }
    }
    this.flushing = false
  }
}
