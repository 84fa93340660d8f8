// The node's audit writer, seen from the main thread: standalone records (token issuances and refusals, decisions) are
// group-committed by a worker thread that owns its own connection to the store, so that a commit's fsync never stalls
// request handling. The main thread only copies records (and their effects, which are data) to the worker and answers
// each caller once the worker says its record is durable.
//
// Fail closed: a record whose commit fails rejects its caller; a worker that dies rejects every record it had not
// answered (it may have committed some of them: a caller told "unavailable" whose record exists is safe, the reverse
// is not) and is started again; while it cannot be, every record is refused.
//
// The worker and the main thread's own transactions (registry and admin changes append to the same chain) are two
// writers of one chain, as two nodes are: they serialize on the database's write lock (SQLite's BEGIN IMMEDIATE,
// PostgreSQL's head row lock), and each AuditLog trusts only a head it reads inside its own transaction.
import { Worker } from 'node:worker_threads'
import { AuditUnavailable } from '../errors/mandate-error.ts'
import type { StoreLocation } from '../store/database.ts'
import {
  type AuditReceipt,
  type AuditRecorder,
  type EffectRefusal,
  type RecordEffect,
  refusalError,
} from './audit-batcher.ts'
import type { AuditLogStatus } from './audit-log.ts'
import type { Checkpoint } from './checkpoint.ts'
import { type AuditEventInput, checkRecordable } from './event.ts'

/**
 * What the worker needs to open the store and extend the chain, handed over in memory (`workerData`), never through
 * the environment, arguments or logs: the chain key is a secret.
 */
export interface WriterInit {
  location: StoreLocation
  chainKey: Uint8Array
  /** The newest verified checkpoint: the worker's log refuses writes as the node's does when the log lost it. */
  checkpoint?: Checkpoint | undefined
}

/** A record sent to the worker. */
export interface WriterRecord {
  id: number
  input: AuditEventInput
  /** The record's time, epoch ms: when its caller made it, not when the worker commits it. */
  at: number
  effect?: RecordEffect | undefined
}

/** Why the worker could not commit a record, as data. */
export interface WriterFailure {
  message: string
  code?: string | undefined
  /** The log refused the write (its head cannot be trusted). */
  auditUnavailable: boolean
}

/** The worker's answer for a record it did not commit. */
export type WriterRejection = { id: number; refusal: EffectRefusal } | { id: number; failure: WriterFailure }

/**
 * The worker's answers, sent together once they are settled: each committed record as its id, sequence number and
 * hash in three parallel lists (callers only wait for durability, and flat lists are the cheapest to copy between
 * threads), and the records it did not commit one by one.
 */
export interface WriterAnswers {
  ids: number[]
  seqs: number[]
  hashes: string[]
  rejected: WriterRejection[]
  status: AuditLogStatus
}

/** Messages from the main thread to the worker. */
export type ToWriter = { records: WriterRecord[] } | { close: true }

/** Messages from the worker to the main thread. */
export type FromWriter = { ready: true } | WriterAnswers

export interface AuditWriterOptions {
  /** The worker's entry module. Given by the wiring: the entry imports the effect handlers of higher floors. */
  entry: URL
  init: WriterInit
  now?: () => number
  /** A worker that stopped or could not start: reported, and every caller it had not answered is rejected. */
  onError?: (message: string, error?: unknown) => void
}

interface Waiter {
  resolve: (receipt: AuditReceipt) => void
  reject: (error: unknown) => void
}

/** The longest wait before starting a worker again after consecutive failed starts. */
const MAX_RESTART_DELAY_MS = 5000

/** Sends standalone audit records to the writer thread and answers each caller once its record is durable. */
export class AuditWriter implements AuditRecorder {
  private worker: Worker | undefined
  /** The worker has said it is ready (its store is open, its chain head checked): records are being written. */
  private workerReady = false
  /** Callers of `started()` waiting for the worker's first answer: ready (true), or stopped before it was (false). */
  private startWaiters: Array<(ready: boolean) => void> = []
  private restartTimer: NodeJS.Timeout | undefined
  /** Starts that ended before the worker was ready, in a row: they space the next attempts. */
  private failedStarts = 0
  private closed = false
  private nextId = 1
  private readonly waiting = new Map<number, Waiter>()
  private outbox: WriterRecord[] = []
  private sendScheduled = false
  private latest: AuditLogStatus = { refusedWrites: 0 }
  private drained: (() => void) | undefined

  constructor(private readonly options: AuditWriterOptions) {}

  /** Starts the worker now rather than on the first record (a serving node does, so its first token waits for none). */
  start(): void {
    if (!this.worker && !this.closed && !this.restartTimer) this.spawn()
  }

  /**
   * Starts the worker (as `start`) and resolves once it is ready (true), or once it stopped before it was (false: it is
   * being started again, and records are refused meanwhile; also at once while a restart waits). A serving node waits
   * for it before it says it is up.
   */
  started(): Promise<boolean> {
    this.start()
    if (this.workerReady) return Promise.resolve(true)
    const worker = this.worker
    if (this.closed || !worker) return Promise.resolve(false)
    // The wait keeps the process alive until the worker answers, as a pending record does.
    worker.ref()
    return new Promise((resolve) => this.startWaiters.push(resolve))
  }

  /**
   * Records an event; resolves once the worker has committed it, with where it is in the chain. With `effect`, the
   * record is written only if every step applies, in the same transaction; a refused step rejects with its OAuth
   * error. The record is checked here (UnrecordableEvent), once: the worker trusts what it receives from this thread.
   * @example
   * await writer.record({ type: 'token.issue', outcome: 'success', actors: [{ kind: 'agent', id: 'bot' }] })
   */
  record(input: AuditEventInput, effect?: RecordEffect): Promise<AuditReceipt> {
    return new Promise((resolve, reject) => {
      checkRecordable(input)
      if (this.closed) throw new AuditUnavailable('the audit writer is closed')
      this.start()
      if (!this.worker)
        throw new AuditUnavailable('the audit writer is restarting; nothing can be recorded now')
      const id = this.nextId++
      this.waiting.set(id, { resolve, reject })
      this.outbox.push({ id, input, at: (this.options.now ?? Date.now)(), ...(effect ? { effect } : {}) })
      // A pending record keeps the process alive until it is answered; an idle writer does not.
      this.worker.ref()
      if (!this.sendScheduled) {
        this.sendScheduled = true
        // Records of the requests being handled in this turn travel in one message.
        setImmediate(() => this.send())
      }
    })
  }

  /**
   * The writer's log health (refused writes), as its worker last reported it, and whether the worker is ready: not
   * while it starts or starts again after it stopped (records are refused or wait meanwhile).
   */
  status(): AuditLogStatus {
    return { ...this.latest, writer: this.workerReady ? 'ready' : 'unavailable' }
  }

  /** Waits for every record sent to be answered, then stops the worker (which closes its connection). */
  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.restartTimer)
    this.startAnswered(false)
    this.send()
    if (this.waiting.size > 0) await new Promise<void>((resolve) => (this.drained = resolve))
    const worker = this.worker
    if (!worker) return
    const exited = new Promise((resolve) => worker.once('exit', resolve))
    // Keeps the process alive until the worker has closed its connection.
    worker.ref()
    worker.postMessage({ close: true } satisfies ToWriter)
    await exited
  }

  private spawn(): void {
    const { entry, init } = this.options
    // The sources are TypeScript run through tsx: a worker does not inherit the loader registered in the main thread,
    // so it registers tsx itself before importing its entry.
    const loader = entry.pathname.endsWith('.ts')
      ? `const { register } = await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}); register();`
      : ''
    const worker = new Worker(`(async () => { ${loader} await import(${JSON.stringify(entry.href)}) })()`, {
      eval: true,
      workerData: init,
    })
    worker.unref()
    let ready = false
    worker.on('message', (message: FromWriter) => {
      if ('ready' in message) {
        ready = true
        if (this.worker === worker) this.workerReady = true
        this.failedStarts = 0
        this.startAnswered(true)
        return
      }
      this.latest = message.status
      this.answer(message)
    })
    worker.on('error', (error) => this.options.onError?.('the audit writer failed', error))
    worker.on('exit', (code) => {
      if (this.worker === worker) {
        this.worker = undefined
        this.workerReady = false
      }
      this.outbox = []
      const stopped = new AuditUnavailable(
        'the audit writer stopped before it could confirm this record; the action was not acknowledged',
      )
      for (const waiter of this.waiting.values()) waiter.reject(stopped)
      this.waiting.clear()
      this.drained?.()
      if (!ready) this.startAnswered(false)
      if (this.closed) return
      this.options.onError?.(`the audit writer stopped (exit code ${code}); starting it again`)
      if (!ready) this.failedStarts++
      const delay = this.failedStarts === 0 ? 0 : Math.min(100 * 2 ** this.failedStarts, MAX_RESTART_DELAY_MS)
      if (delay === 0) this.spawn()
      else
        this.restartTimer = setTimeout(() => {
          this.restartTimer = undefined
          this.start()
        }, delay).unref()
    })
    this.worker = worker
  }

  private startAnswered(ready: boolean): void {
    const waiters = this.startWaiters
    this.startWaiters = []
    // Only the wait's own hold is let go: a pending record, or `close` waiting for the worker's exit, keeps its own.
    if (waiters.length > 0 && this.waiting.size === 0 && !this.closed) this.worker?.unref()
    for (const resolve of waiters) resolve(ready)
  }

  private send(): void {
    this.sendScheduled = false
    const records = this.outbox
    this.outbox = []
    const worker = this.worker
    if (records.length === 0 || !worker) return
    try {
      worker.postMessage({ records } satisfies ToWriter)
    } catch {
      // A record that cannot be copied (a function or a symbol in its details) fails alone, as it would in a batch.
      for (const record of records)
        try {
          worker.postMessage({ records: [record] } satisfies ToWriter)
        } catch (error) {
          this.settle(record.id)?.reject(error)
        }
    }
  }

  private answer({ ids, seqs, hashes, rejected }: WriterAnswers): void {
    for (let i = 0; i < ids.length; i++)
      this.settle(ids[i] as number)?.resolve({ seq: seqs[i] as number, hash: hashes[i] as string })
    for (const result of rejected) {
      const waiter = this.settle(result.id)
      if (!waiter) continue
      if ('refusal' in result) waiter.reject(refusalError(result.refusal))
      else waiter.reject(failureError(result.failure))
    }
  }

  private settle(id: number): Waiter | undefined {
    const waiter = this.waiting.get(id)
    this.waiting.delete(id)
    if (this.waiting.size === 0) {
      this.worker?.unref()
      this.drained?.()
    }
    return waiter
  }
}

// The error a failed commit rejects its caller with: the log's refusal stays AuditUnavailable (503), a driver error
// keeps its code, so that an unreachable database is still told apart from a bad record.
function failureError(failure: WriterFailure): Error {
  if (failure.auditUnavailable) return new AuditUnavailable(failure.message)
  return Object.assign(new Error(failure.message), failure.code ? { code: failure.code } : {})
}

/**
 * The error a worker sends back for a record it could not commit.
 * @example
 * answers.rejected.push({ id, failure: writerFailure(error) })
 */
export function writerFailure(error: unknown): WriterFailure {
  const { message, code } = (error ?? {}) as { message?: unknown; code?: unknown }
  return {
    message: typeof message === 'string' ? message : String(error),
    ...(typeof code === 'string' ? { code } : {}),
    auditUnavailable: error instanceof AuditUnavailable,
  }
}
