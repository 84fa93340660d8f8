// Publishes a signed checkpoint of the chain head at an interval and when the node stops, so that records removed
// before the newest checkpoint are detected even if the database's own head was put back.
import type { Database } from '../store/database.ts'
import type { AuditHead, AuditLog } from './audit-log.ts'
import type { CheckpointSigner, CheckpointSink } from './checkpoint.ts'

export interface CheckpointPublisherOptions {
  audit: AuditLog
  database: Database
  signer: CheckpointSigner
  sink: CheckpointSink
  /** How often to publish; a head that has not moved is not published again. */
  intervalMs: number
  now: () => number
  /** Problems worth an operator's attention (an untrusted head, a sink that cannot be written). */
  onError: (message: string, error?: unknown) => void
}

/** Publishes checkpoints while the node runs. */
export class CheckpointPublisher {
  private timer: NodeJS.Timeout | undefined
  private last: AuditHead | undefined
  private publishing: Promise<void> | undefined

  constructor(private readonly options: CheckpointPublisherOptions) {}

  /** Publishes on the interval (the log was checked against the newest checkpoint when the node opened it). */
  start(): void {
    this.timer = setInterval(() => void this.publish(), this.options.intervalMs)
    this.timer.unref()
  }

  /** Publishes the current head if it moved since the last checkpoint; nothing while writes are refused. */
  async publish(): Promise<void> {
    this.publishing ??= this.publishHead().finally(() => {
      this.publishing = undefined
    })
    return this.publishing
  }

  /** Stops the interval and publishes once more. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.publish()
  }

  private async publishHead(): Promise<void> {
    const { audit, database, signer, sink, now } = this.options
    let head: AuditHead
    try {
      // The same checks as a write: a head this node would not extend is not worth signing.
      head = await audit.head(database.db)
    } catch (error) {
      this.options.onError('no audit checkpoint published: the chain head is not trusted', error)
      return
    }
    const last = this.last
    if (last && last.seq === head.seq && last.epoch === head.epoch && last.hash === head.hash) return
    try {
      await sink.publish(await signer.sign({ ...head, time: new Date(now()).toISOString() }))
      this.last = head
    } catch (error) {
      this.options.onError('the audit checkpoint could not be published', error)
    }
  }
}
