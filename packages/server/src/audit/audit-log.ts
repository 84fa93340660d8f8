// The append-only audit log: each event is chained to the previous one by an HMAC over its canonical JSON, and is
// written in the caller's transaction so that nothing changes without its record.
import { createHmac, randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { Executor } from '../store/database.ts'
import type { AuditEventRow } from '../store/tables.ts'
import { canonicalJson } from './canonical-json.ts'
import { type AuditEvent, type AuditEventInput, hashedFields } from './event.ts'

/** Filters for reading the log. */
export interface AuditQuery {
  afterSeq?: number
  /** Inclusive upper bound on the sequence number. */
  throughSeq?: number
  limit: number
  /** Inclusive lower bound, RFC 3339. */
  since?: string
  /** Exclusive upper bound, RFC 3339. */
  until?: string
  /** `kind:id` of a principal that acted or was acted on. */
  principal?: string
  /** Exact type, or a prefix ending in `.` (e.g. `admin.`). */
  type?: string
}

/** The first record that does not verify, and why. */
export interface AuditBreak {
  seq: number
  problem: 'missing' | 'altered' | 'chain_broken' | 'truncated' | 'head_altered'
  message: string
}

/** Result of verifying the whole chain. */
export interface AuditVerification {
  ok: boolean
  records: number
  headSeq: number
  firstBreak?: AuditBreak
}

const GENESIS = '0'.repeat(64)

/** Reads and appends audit events. The chain key comes from the master key, so the chain cannot be recomputed without it. */
export class AuditLog {
  constructor(private readonly chainKey: Buffer) {}

  /** Appends one event inside an open write transaction (which already holds the chain head lock). */
  async append(tx: Executor, input: AuditEventInput, now: Date): Promise<AuditEvent> {
    const [event] = await this.appendMany(tx, [{ input, now }])
    if (!event) throw new Error('audit append produced no event')
    return event
  }

  /**
   * Appends several events in order inside one write transaction: one head read, one multi-row insert, one head
   * update. This is what makes group commit cheap.
   */
  async appendMany(
    tx: Executor,
    entries: ReadonlyArray<{ input: AuditEventInput; now: Date }>,
  ): Promise<AuditEvent[]> {
    if (entries.length === 0) return []
    const head = await tx
      .selectFrom('audit_head')
      .select(['seq', 'hash'])
      .where('id', '=', 1)
      .executeTakeFirstOrThrow()
    let seq = Number(head.seq)
    let prevHash = head.hash
    const events = entries.map(({ input, now }) => {
      const fields = {
        seq: ++seq,
        id: randomUUID(),
        time: now.toISOString(),
        type: input.type,
        outcome: input.outcome,
        actors: input.actors,
        subjects: [...new Set([...input.actors.map((a) => `${a.kind}:${a.id}`), ...(input.subjects ?? [])])],
        mode: input.mode ?? null,
        action: printable(input.action),
        resource: printable(input.resource),
        reason: printable(input.reason),
        request_id: input.requestId ?? null,
        traceparent: input.traceparent ?? null,
        details: input.details ?? null,
      }
      const event: AuditEvent = { ...fields, prev_hash: prevHash, hash: this.chainHash(prevHash, fields) }
      prevHash = event.hash
      return event
    })
    // SQLite allows 32766 bound parameters per statement; 16 columns a row keeps a chunk well under it.
    for (let i = 0; i < events.length; i += 500)
      await tx
        .insertInto('audit_events')
        .values(events.slice(i, i + 500).map(toRow))
        .execute()
    await tx
      .updateTable('audit_head')
      .set({ seq, hash: prevHash, mac: this.headMac(seq, prevHash) })
      .where('id', '=', 1)
      .execute()
    return events
  }

  /** One page of events in sequence order. */
  async read(ex: Executor, query: AuditQuery): Promise<AuditEvent[]> {
    // PostgreSQL text cannot hold U+0000, so nothing recorded matches it.
    if ([query.principal, query.type].some((v) => v?.includes('\u0000'))) return []
    let q = ex.selectFrom('audit_events').selectAll().orderBy('seq').limit(query.limit)
    if (query.afterSeq !== undefined) q = q.where('seq', '>', query.afterSeq)
    if (query.throughSeq !== undefined) q = q.where('seq', '<=', query.throughSeq)
    if (query.since) q = q.where('time', '>=', query.since)
    if (query.until) q = q.where('time', '<', query.until)
    if (query.type)
      q = query.type.endsWith('.')
        ? q.where(sql<boolean>`type like ${`${escapeLike(query.type)}%`} escape '\\'`)
        : q.where('type', '=', query.type)
    // subject_ids is a space-delimited list with a leading and trailing space, so a whole id matches exactly.
    if (query.principal)
      q = q.where(sql<boolean>`subject_ids like ${`% ${escapeLike(query.principal)} %`} escape '\\'`)
    return (await q.execute()).map(fromRow)
  }

  /** Walks the whole chain and reports the first record that was edited, deleted, reordered or cut off. */
  async verify(ex: Executor, pageSize = 1000): Promise<AuditVerification> {
    const head = await ex
      .selectFrom('audit_head')
      .select(['seq', 'hash', 'mac'])
      .where('id', '=', 1)
      .executeTakeFirstOrThrow()
    const headSeq = Number(head.seq)
    // The head carries its own MAC: without the chain key, nobody can move it back to hide a deleted tail.
    if (head.mac !== this.headMac(headSeq, head.hash)) {
      return broken(0, headSeq, {
        seq: headSeq,
        problem: 'head_altered',
        message: 'the chain head does not match its MAC (the log or its head was rewritten)',
      })
    }
    let expectedSeq = 1
    let prevHash = GENESIS
    let records = 0
    for (;;) {
      // Only records up to the head read above: records appended meanwhile belong to a later verification.
      const page = await this.read(ex, { afterSeq: expectedSeq - 1, throughSeq: headSeq, limit: pageSize })
      if (page.length === 0) break
      for (const event of page) {
        records++
        if (event.seq !== expectedSeq) {
          return broken(records, headSeq, {
            seq: expectedSeq,
            problem: 'missing',
            message: `record ${expectedSeq} is missing (deleted)`,
          })
        }
        if (this.chainHash(event.prev_hash, hashedFields(event)) !== event.hash) {
          return broken(records, headSeq, {
            seq: event.seq,
            problem: 'altered',
            message: `record ${event.seq} does not match its hash (edited or moved)`,
          })
        }
        if (event.prev_hash !== prevHash) {
          return broken(records, headSeq, {
            seq: event.seq,
            problem: 'chain_broken',
            message: `record ${event.seq} does not follow record ${event.seq - 1} (reordered, inserted or a predecessor replaced)`,
          })
        }
        prevHash = event.hash
        expectedSeq++
      }
    }
    const lastSeq = expectedSeq - 1
    if (lastSeq !== headSeq || prevHash !== head.hash) {
      const seq = Math.min(lastSeq + 1, headSeq)
      return broken(records, headSeq, {
        seq,
        problem: 'truncated',
        message: `the log ends at record ${lastSeq} but its head says ${headSeq}`,
      })
    }
    return { ok: true, records, headSeq }
  }

  /** Gives a new store's chain head its MAC; a no-op once it has one. */
  async initialize(ex: Executor): Promise<void> {
    await ex
      .updateTable('audit_head')
      .set({ mac: this.headMac(0, GENESIS) })
      .where('id', '=', 1)
      .where('seq', '=', 0)
      .where('mac', '=', '')
      .execute()
  }

  private headMac(seq: number, hash: string): string {
    return createHmac('sha256', this.chainKey).update(`head\n${seq}\n${hash}`).digest('hex')
  }

  private chainHash(prevHash: string, fields: Record<string, unknown>): string {
    return createHmac('sha256', this.chainKey)
      .update(prevHash)
      .update('\n')
      .update(canonicalJson(fields))
      .digest('hex')
  }
}

// Text columns hold what callers and clients said; PostgreSQL text cannot hold U+0000, and nothing needs megabytes.
function printable(text: string | undefined): string | null {
  if (text === undefined) return null
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is replaced
  const clean = text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '\ufffd')
  return clean.length > 2000 ? `${clean.slice(0, 2000)}…` : clean
}

function broken(records: number, headSeq: number, firstBreak: AuditBreak): AuditVerification {
  return { ok: false, records, headSeq, firstBreak }
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}

function toRow(event: AuditEvent): AuditEventRow {
  return {
    seq: event.seq,
    id: event.id,
    time: event.time,
    type: event.type,
    outcome: event.outcome,
    actors: JSON.stringify(event.actors),
    subject_ids: ` ${event.subjects.join(' ')} `,
    mode: event.mode,
    action: event.action,
    resource: event.resource,
    reason: event.reason,
    request_id: event.request_id,
    traceparent: event.traceparent,
    details: event.details === null ? null : JSON.stringify(event.details),
    prev_hash: event.prev_hash,
    hash: event.hash,
  }
}

function fromRow(row: AuditEventRow): AuditEvent {
  return {
    seq: Number(row.seq),
    id: row.id,
    time: row.time,
    type: row.type,
    outcome: row.outcome as AuditEvent['outcome'],
    actors: JSON.parse(row.actors),
    subjects: row.subject_ids.trim() === '' ? [] : row.subject_ids.trim().split(' '),
    mode: row.mode,
    action: row.action,
    resource: row.resource,
    reason: row.reason,
    request_id: row.request_id,
    traceparent: row.traceparent,
    details: row.details === null ? null : JSON.parse(row.details),
    prev_hash: row.prev_hash,
    hash: row.hash,
  }
}
