// Wiring of the audit writer's thread (started by audit/audit-writer.ts): its own connection to the store (a small pool
// for PostgreSQL), its own view of the chain head, the table of effect handlers, and the group-commit loop. Records
// arrive from the main thread; each is answered once it is durable, refused by its effect's guard, or failed.
import { parentPort, workerData } from 'node:worker_threads'
import { ApprovalStore } from './approvals/approval-store.ts'
import { consumeApprovalHandler } from './approvals/consume-effect.ts'
import { AuditBatcher, type EffectHandlers, type EffectRefusal } from './audit/audit-batcher.ts'
import { AuditLog } from './audit/audit-log.ts'
import {
  type FromWriter,
  type ToWriter,
  type WriterAnswers,
  type WriterInit,
  writerFailure,
} from './audit/audit-writer.ts'
import { MandateStore } from './mandates/mandate-store.ts'
import { spendHandler } from './mandates/spend-effect.ts'
import { refreshHandlers } from './oauth/refresh-effects.ts'
import { AuthorizationStore } from './store/authorization-store.ts'
import { openDatabase } from './store/database.ts'

// Every kind of effect step a record may carry, by kind.
function effectHandlers(): EffectHandlers {
  return {
    'mandate.spend': spendHandler(new MandateStore()),
    'approval.consume': consumeApprovalHandler(new ApprovalStore()),
    ...refreshHandlers(new AuthorizationStore()),
  }
}

// A refused step travels back as data: the main thread raises the OAuth error its caller expects.
class Refused extends Error {
  constructor(readonly refusal: EffectRefusal) {
    super(refusal.message)
  }
}

async function serve(port: NonNullable<typeof parentPort>, init: WriterInit): Promise<void> {
  // The worker's transactions may wait behind a long one of the main thread (a large `apply`): it waits longer than a
  // request would, since nothing but its own batch waits with it.
  const location =
    init.location.dialect === 'sqlite'
      ? { ...init.location, busyTimeoutMs: 60_000 }
      : { ...init.location, poolSize: 2 }
  const database = await openDatabase(location)
  const audit = new AuditLog(Buffer.from(init.chainKey))
  if (init.checkpoint) await audit.adoptCheckpoint(database.db, init.checkpoint)
  const batcher = new AuditBatcher(database, audit, {
    handlers: effectHandlers(),
    refuse: (refusal) => new Refused(refusal),
    // AuditWriter checked each record on the main thread, where its caller is told.
    checked: true,
  })
  let answers: WriterAnswers | undefined
  // The answers of one batch are resolved together: they go back in one message.
  const pending = (): WriterAnswers => {
    if (answers) return answers
    const batch: WriterAnswers = { ids: [], seqs: [], hashes: [], rejected: [], status: { refusedWrites: 0 } }
    answers = batch
    queueMicrotask(() => {
      answers = undefined
      batch.status = audit.status()
      port.postMessage(batch satisfies FromWriter)
    })
    return batch
  }
  port.on('message', (message: ToWriter) => {
    if ('close' in message) {
      void database.close().finally(() => port.close())
      return
    }
    for (const { id, input, at, effect } of message.records)
      batcher.record(input, effect, new Date(at)).then(
        ({ seq, hash }) => {
          const batch = pending()
          batch.ids.push(id)
          batch.seqs.push(seq)
          batch.hashes.push(hash)
        },
        (error: unknown) =>
          pending().rejected.push(
            error instanceof Refused ? { id, refusal: error.refusal } : { id, failure: writerFailure(error) },
          ),
      )
  })
  port.postMessage({ ready: true } satisfies FromWriter)
}

if (!parentPort) throw new Error('audit-worker.ts runs as the audit writer thread')
await serve(parentPort, workerData as WriterInit)
