// The append-only audit log: each event is chained to the previous one by an HMAC over its canonical JSON, and is
// written in the caller's transaction so that nothing changes without its record. A writer extends the chain only
// from a head it can trust; otherwise it refuses, and every state-changing request fails closed until an operator
// records a recovery.
import { createHmac, createSecretKey, type KeyObject, randomUUID } from 'node:crypto'
import { CompiledQuery, type DialectAdapter, sql } from 'kysely'
import { AuditUnavailable } from '../errors/mandate-error.ts'
import type { Executor } from '../store/database.ts'
import type { AuditEventRow } from '../store/tables.ts'
import { canonicalJson } from './canonical-json.ts'
import type { Checkpoint } from './checkpoint.ts'
import { type ActorRef, type AuditEvent, type AuditEventInput, hashedFields } from './event.ts'

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

/** What is wrong with the log at one record. */
export type AuditBreakKind =
  | 'missing'
  | 'altered'
  | 'chain_broken'
  | 'truncated'
  | 'head_altered'
  | 'checkpoint_invalid'
  | 'checkpoint_mismatch'

/** One place where the log does not verify, and why. */
export interface AuditBreak {
  seq: number
  problem: AuditBreakKind
  message: string
}

/** Result of verifying the whole chain: every break found (the first `maxBreaks` of them) and their count. */
export interface AuditVerification {
  ok: boolean
  records: number
  headSeq: number
  /** The breaks, in the order found, at most `maxBreaks` of them. */
  breaks: AuditBreak[]
  /** How many breaks there are in all. */
  breakCount: number
  /** The first break (the same as `breaks[0]`). */
  firstBreak?: AuditBreak
  /** Recorded recoveries (`audit.recover` records) found in the chain. */
  incidents: number
  /** Checkpoints checked against the log, when some were given. */
  checkpoints?: { checked: number; matched: number; acknowledged: number }
}

/** The chain head: the last record's sequence number and hash, and the recovery epoch. */
export interface AuditHead {
  seq: number
  hash: string
  epoch: number
}

/** What the log reports about its own health, for metrics. */
export interface AuditLogStatus {
  /** Why writes are refused now, when they are. */
  refusing?: string
  /** Writes refused since start. */
  refusedWrites: number
  /** When a write last checked the head (epoch ms): of two writers of one chain, the later one knows its state. */
  checkedAt?: number
  /**
   * The node's audit writer thread: `ready` once it said so, `unavailable` while it starts or starts again. Absent
   * where records are written without one.
   */
  writer?: 'ready' | 'unavailable'
}

/** A recovery's record and what it resumed from. */
export interface Recovery {
  incident: AuditEvent
  headWas: AuditHead
  resumedAfter: { seq: number; hash: string }
}

const GENESIS = '0'.repeat(64)
const RECOVER_TYPE = 'audit.recover'

interface HeadState extends AuditHead {
  mac: string
  lastSeq: number | null
  headRecordHash: string | null
  /** The hash of the record at the highest head this process has seen, as the log holds it now. */
  seenHash: string | null
}

/** Reads and appends audit events. The chain key comes from the master key, so the chain cannot be recomputed without it. */
export class AuditLog {
  /** The highest head this process has read: a head that moves back from it was rolled back. */
  private highWater: AuditHead | undefined
  /** Set when a published checkpoint does not match the log: writes stay refused until a recovery (a newer epoch). */
  private blocked: { epoch: number; reason: string } | undefined
  private refusing: string | undefined
  private refusedWrites = 0
  private checkedAt: number | undefined
  /**
   * Transactions whose head this log has read. Only the first read in a transaction is committed state; later ones see
   * the transaction's own appends, which a rollback undoes, so they must not raise the high-water mark.
   */
  private readonly readIn = new WeakSet<object>()
  private readonly chainKey: KeyObject
  /** The insert of n events, by dialect (its adapter) and row count: compiled by Kysely once, then reused. */
  private readonly insertTexts = new WeakMap<DialectAdapter, Map<number, string>>()

  constructor(chainKey: Buffer) {
    this.chainKey = createSecretKey(chainKey)
  }

  /** Appends one event inside an open write transaction (which already holds the chain head lock). */
  async append(tx: Executor, input: AuditEventInput, now: Date): Promise<AuditEvent> {
    const [event] = await this.appendMany(tx, [{ input, now }])
    if (!event) throw new Error('audit append produced no event')
    return event
  }

  /**
   * Appends several events in order inside one write transaction: one head read, one multi-row insert, one head
   * update. This is what makes group commit cheap. Refuses (AuditUnavailable) when the head cannot be trusted.
   */
  async appendMany(
    tx: Executor,
    entries: ReadonlyArray<{ input: AuditEventInput; now: Date }>,
  ): Promise<AuditEvent[]> {
    if (entries.length === 0) return []
    const first = !this.readIn.has(tx)
    this.readIn.add(tx)
    const head = this.trusted(await this.readState(tx), first)
    let seq = head.seq
    let prevHash = head.hash
    const events: AuditEvent[] = []
    for (const { input, now } of entries) {
      const subjects = new Set<string>()
      for (const actor of input.actors) subjects.add(`${actor.kind}:${actor.id}`)
      for (const subject of input.subjects ?? []) subjects.add(subject)
      const fields: HashedFields = {
        seq: ++seq,
        id: randomUUID(),
        time: now.toISOString(),
        type: input.type,
        outcome: input.outcome,
        actors: input.actors,
        subjects: [...subjects],
        mode: input.mode ?? null,
        action: printable(input.action),
        resource: printable(input.resource),
        reason: printable(input.reason),
        request_id: input.requestId ?? null,
        traceparent: input.traceparent ?? null,
        details: input.details ?? null,
      }
      const hash = this.chainHash(prevHash, canonicalFields(fields))
      events.push({ ...fields, prev_hash: prevHash, hash })
      prevHash = hash
    }
    // One multi-row insert per chunk, its text built once per row count and dialect: a batch costs the store's own
    // work, not a query builder's. SQLite allows 32766 bound parameters per statement; 16 columns a row keeps a chunk
    // well under it.
    for (let i = 0; i < events.length; i += INSERT_CHUNK) {
      const chunk = events.slice(i, i + INSERT_CHUNK)
      const parameters: unknown[] = []
      for (const event of chunk) rowValues(event, parameters)
      await tx.executeQuery(CompiledQuery.raw(this.insertText(tx, chunk.length), parameters))
    }
    await tx
      .updateTable('audit_head')
      .set({ seq, hash: prevHash, mac: this.headMac({ seq, hash: prevHash, epoch: head.epoch }) })
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
    if (query.principal) {
      // `subjects` is a compact JSON list. An element starts right after `[` or `,`, and a JSON string cannot contain
      // an unescaped `"`, so `[` or `,` followed by the id's JSON string matches exactly that element.
      const element = escapeLike(JSON.stringify(query.principal))
      q = q.where(
        sql<boolean>`(subjects like ${`%[${element}%`} escape '\\' or subjects like ${`%,${element}%`} escape '\\')`,
      )
    }
    return (await q.execute()).map(fromRow)
  }

  /**
   * Walks the whole chain and reports every record that was edited, deleted, reordered or cut off (the first
   * `maxBreaks`, and their count). With `checkpoints`, also proves that the record each checkpoint signed is still
   * there: the hash chain then covers everything before it.
   */
  async verify(
    ex: Executor,
    options: { pageSize?: number; maxBreaks?: number; checkpoints?: readonly Checkpoint[] } = {},
  ): Promise<AuditVerification> {
    const pageSize = options.pageSize ?? 1000
    const maxBreaks = options.maxBreaks ?? 100
    const breaks: AuditBreak[] = []
    let breakCount = 0
    const report = (found: AuditBreak) => {
      breakCount++
      if (breaks.length < maxBreaks) breaks.push(found)
    }
    const head = await this.readHeadRow(ex)
    // The head carries its own MAC: without the chain key, nobody can move it back to hide a deleted tail.
    const headTrusted = head.mac === this.headMac(head)
    if (!headTrusted)
      report({
        seq: head.seq,
        problem: 'head_altered',
        message: 'the chain head does not match its MAC (the log or its head was rewritten)',
      })
    const wanted = new Set((options.checkpoints ?? []).map((c) => c.seq))
    const found = new Map<number, string>()
    const incidents: Array<{ epoch: number; resumedAfter: number }> = []
    let expectedSeq = 1
    let prevHash = GENESIS
    let records = 0
    for (;;) {
      // Only records up to the head read above: records appended meanwhile belong to a later verification.
      const page = await this.read(ex, {
        afterSeq: expectedSeq - 1,
        ...(headTrusted ? { throughSeq: head.seq } : {}),
        limit: pageSize,
      })
      if (page.length === 0) break
      for (const event of page) {
        records++
        // After a gap the record cannot follow its (missing) predecessor: that is the gap's break, not another.
        const afterGap = event.seq !== expectedSeq
        if (afterGap)
          report({
            seq: expectedSeq,
            problem: 'missing',
            message:
              event.seq === expectedSeq + 1
                ? `record ${expectedSeq} is missing (deleted)`
                : `records ${expectedSeq} to ${event.seq - 1} are missing (deleted)`,
          })
        const intact = this.chainHash(event.prev_hash, canonicalJson(hashedFields(event))) === event.hash
        if (!intact)
          report({
            seq: event.seq,
            problem: 'altered',
            message: `record ${event.seq} does not match its hash (edited or moved)`,
          })
        else if (!afterGap && event.prev_hash !== prevHash)
          report({
            seq: event.seq,
            problem: 'chain_broken',
            message: `record ${event.seq} does not follow record ${event.seq - 1} (reordered, inserted or a predecessor replaced)`,
          })
        if (intact && event.type === RECOVER_TYPE) {
          const details = (event.details ?? {}) as { epoch?: unknown; resumed_after?: { seq?: unknown } }
          if (typeof details.epoch === 'number' && typeof details.resumed_after?.seq === 'number')
            incidents.push({ epoch: details.epoch, resumedAfter: details.resumed_after.seq })
        }
        if (wanted.has(event.seq)) found.set(event.seq, event.hash)
        prevHash = event.hash
        expectedSeq = event.seq + 1
      }
    }
    const lastSeq = expectedSeq - 1
    if (headTrusted && lastSeq < head.seq)
      report({
        seq: lastSeq + 1,
        problem: 'truncated',
        message: `the log ends at record ${lastSeq} but its head says ${head.seq} (the newest records were deleted)`,
      })
    else if (headTrusted && head.seq > 0 && prevHash !== head.hash)
      report({
        seq: head.seq,
        problem: 'head_altered',
        message: `record ${head.seq} is not the record the chain head names`,
      })
    const result: AuditVerification = {
      ok: false,
      records,
      headSeq: head.seq,
      breaks,
      breakCount,
      incidents: incidents.length,
    }
    if (options.checkpoints) {
      let matched = 0
      let acknowledged = 0
      for (const checkpoint of options.checkpoints) {
        const hash = found.get(checkpoint.seq)
        if (hash === checkpoint.hash) matched++
        // A recovery recorded after the checkpoint's epoch, resuming before it, already owned up to the loss.
        else if (incidents.some((i) => i.epoch > checkpoint.epoch && i.resumedAfter < checkpoint.seq))
          acknowledged++
        else
          report({
            seq: checkpoint.seq,
            problem: 'checkpoint_mismatch',
            message:
              hash === undefined
                ? `record ${checkpoint.seq}, signed by the checkpoint of ${checkpoint.time}, is gone (the log was cut back)`
                : `record ${checkpoint.seq} is not the record the checkpoint of ${checkpoint.time} signed (records before it were removed or rewritten)`,
          })
      }
      result.checkpoints = { checked: options.checkpoints.length, matched, acknowledged }
    }
    result.ok = breakCount === 0
    result.breakCount = breakCount
    if (breaks[0]) result.firstBreak = breaks[0]
    return result
  }

  /** Gives a new store's chain head its MAC; a no-op once it has one. */
  async initialize(ex: Executor): Promise<void> {
    await ex
      .updateTable('audit_head')
      .set({ mac: this.headMac({ seq: 0, hash: GENESIS, epoch: 0 }) })
      .where('id', '=', 1)
      .where('seq', '=', 0)
      .where('mac', '=', '')
      .execute()
  }

  /** The current head, once it is trusted (the same checks as a write); AuditUnavailable when it is not. */
  async head(ex: Executor): Promise<AuditHead> {
    return this.trusted(await this.readState(ex), true)
  }

  /**
   * Checks the log against the newest checkpoint published outside the database (read at start): unless a recovery
   * has been recorded since, the record it signed must still be there, and the head can never go back before it.
   * A mismatch refuses every write until `mandate audit recover`.
   */
  async adoptCheckpoint(ex: Executor, checkpoint: Checkpoint): Promise<void> {
    const head = await this.readHeadRow(ex)
    if (head.epoch > checkpoint.epoch) return
    const record = await ex
      .selectFrom('audit_events')
      .select('hash')
      .where('seq', '=', checkpoint.seq)
      .executeTakeFirst()
    if (head.epoch < checkpoint.epoch || record?.hash !== checkpoint.hash) {
      this.blocked = {
        epoch: head.epoch,
        reason: `the log no longer holds record ${checkpoint.seq} as the checkpoint of ${checkpoint.time} signed it (records were removed or rewritten)`,
      }
      return
    }
    this.raiseHighWater(checkpoint)
  }

  /**
   * What is wrong with the head now, for an operator: its MAC, whether it names the last record, and (given one)
   * the newest checkpoint. Empty when nothing is.
   */
  async diagnose(ex: Executor, checkpoint?: Checkpoint): Promise<string[]> {
    const state = await this.readState(ex)
    const problems = this.headProblems(state)
    if (checkpoint && state.epoch <= checkpoint.epoch) {
      const record = await ex
        .selectFrom('audit_events')
        .select('hash')
        .where('seq', '=', checkpoint.seq)
        .executeTakeFirst()
      if (state.epoch < checkpoint.epoch || record?.hash !== checkpoint.hash)
        problems.push(
          `the log no longer holds record ${checkpoint.seq} as the checkpoint of ${checkpoint.time} signed it`,
        )
    }
    return problems
  }

  /**
   * Records an incident and resumes the chain from the last record present: the head is set to that record under
   * a new epoch, and an `audit.recover` record says what the head was, where the chain resumes, and why. Run inside
   * a write transaction, by an operator, after investigating.
   */
  async recover(
    tx: Executor,
    options: { reason: string; problems: string[]; actor: ActorRef; now: Date; checkpoint?: Checkpoint },
  ): Promise<Recovery> {
    const state = await this.readState(tx)
    const last = await tx
      .selectFrom('audit_events')
      .select(['seq', 'hash'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst()
    const resumedAfter = last ? { seq: Number(last.seq), hash: last.hash } : { seq: 0, hash: GENESIS }
    const headWas = { seq: state.seq, hash: state.hash, epoch: state.epoch }
    const epoch = Math.max(state.epoch, this.highWater?.epoch ?? 0, options.checkpoint?.epoch ?? 0) + 1
    const resumed = { ...resumedAfter, epoch }
    await tx
      .updateTable('audit_head')
      .set({ ...resumed, mac: this.headMac(resumed) })
      .where('id', '=', 1)
      .execute()
    this.blocked = undefined
    this.highWater = undefined
    // The head just written is not committed yet: the incident's append must not take it as seen.
    this.readIn.add(tx)
    const incident = await this.append(
      tx,
      {
        type: RECOVER_TYPE,
        outcome: 'success',
        actors: [options.actor],
        reason: options.reason,
        details: {
          epoch,
          head_was: headWas,
          resumed_after: resumedAfter,
          problems: options.problems,
          ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
        },
      },
      options.now,
    )
    return { incident, headWas, resumedAfter }
  }

  /** Whether writes are refused now, and how many have been, for metrics. */
  status(): AuditLogStatus {
    return {
      refusedWrites: this.refusedWrites,
      ...(this.refusing ? { refusing: this.refusing } : {}),
      ...(this.checkedAt !== undefined ? { checkedAt: this.checkedAt } : {}),
    }
  }

  // The head row and, in the same statement, the last record's sequence number, the hash of the record the head names
  // and the hash of the record at the highest head this process has seen: one round trip per write transaction.
  private async readState(ex: Executor): Promise<HeadState> {
    const seenSeq = this.highWater?.seq ?? -1
    const { rows } = await sql<{
      seq: number
      hash: string
      mac: string
      epoch: number
      last_seq: number | null
      head_record_hash: string | null
      seen_hash: string | null
    }>`select h.seq, h.hash, h.mac, h.epoch, (select max(e.seq) from audit_events e) as last_seq, (select r.hash from audit_events r where r.seq = h.seq) as head_record_hash, (select s.hash from audit_events s where s.seq = ${seenSeq}) as seen_hash from audit_head h where h.id = 1`.execute(
      ex,
    )
    const row = rows[0]
    if (!row) throw new Error('the audit chain head is missing')
    return {
      seq: Number(row.seq),
      hash: row.hash,
      mac: row.mac,
      epoch: Number(row.epoch),
      lastSeq: row.last_seq === null ? null : Number(row.last_seq),
      headRecordHash: row.head_record_hash,
      seenHash: row.seen_hash,
    }
  }

  private async readHeadRow(ex: Executor): Promise<AuditHead & { mac: string }> {
    const row = await ex
      .selectFrom('audit_head')
      .select(['seq', 'hash', 'mac', 'epoch'])
      .where('id', '=', 1)
      .executeTakeFirstOrThrow()
    return { seq: Number(row.seq), hash: row.hash, mac: row.mac, epoch: Number(row.epoch) }
  }

  private headProblems(state: HeadState): string[] {
    const problems: string[] = []
    if (state.mac !== this.headMac(state)) problems.push('the chain head does not match its MAC')
    else if (state.seq > 0 && state.headRecordHash === null)
      problems.push(
        `record ${state.seq}, which the chain head names, is gone (the newest records were deleted)`,
      )
    else if (state.seq > 0 && state.headRecordHash !== state.hash)
      problems.push(`record ${state.seq} is not the record the chain head names (it was rewritten)`)
    else if ((state.lastSeq ?? 0) !== state.seq)
      problems.push(
        `the chain head names record ${state.seq} but the log goes on to ${state.lastSeq} (the head was moved back)`,
      )
    return problems
  }

  // The head a writer may extend: its MAC holds, it is the last record, it has not gone back from what this node has
  // seen or what the newest checkpoint signed, and the chain still holds the record this node saw there (a chain cut
  // and written again past it is another chain). Anything else refuses the write (fail closed). `raise`: the state is
  // committed, so it may become the high-water mark.
  private trusted(state: HeadState, raise: boolean): AuditHead {
    const problems = this.headProblems(state)
    if (this.blocked && state.epoch > this.blocked.epoch) this.blocked = undefined
    if (this.blocked) problems.push(this.blocked.reason)
    const seen = this.highWater
    if (seen && problems.length === 0) {
      if (state.epoch < seen.epoch)
        problems.push(`the chain head went back from epoch ${seen.epoch} to ${state.epoch}`)
      else if (state.epoch === seen.epoch && state.seq < seen.seq)
        problems.push(
          `the chain head went back from record ${seen.seq} to ${state.seq} (the newest records were deleted)`,
        )
      else if (state.epoch === seen.epoch && state.seq === seen.seq && state.hash !== seen.hash)
        problems.push(`record ${state.seq} was replaced`)
      else if (state.epoch === seen.epoch && seen.seq > 0 && state.seenHash !== seen.hash)
        problems.push(
          `record ${seen.seq} is not the record this node saw there (the chain was cut and written again past it)`,
        )
    }
    this.checkedAt = Date.now()
    if (problems.length > 0) {
      this.refusedWrites++
      this.refusing = problems.join('; ')
      throw new AuditUnavailable(
        `the audit log refuses writes: ${this.refusing}. Investigate, then run \`mandate audit recover\``,
      )
    }
    this.refusing = undefined
    const head = { seq: state.seq, hash: state.hash, epoch: state.epoch }
    if (raise) this.raiseHighWater(head)
    return head
  }

  private raiseHighWater(head: AuditHead): void {
    const seen = this.highWater
    if (!seen || head.epoch > seen.epoch || (head.epoch === seen.epoch && head.seq >= seen.seq))
      this.highWater = { seq: head.seq, hash: head.hash, epoch: head.epoch }
  }

  // Epoch 0 keeps the first release's MAC input, so existing stores verify unchanged.
  private headMac(head: AuditHead): string {
    const input =
      head.epoch === 0 ? `head\n${head.seq}\n${head.hash}` : `head\n${head.epoch}\n${head.seq}\n${head.hash}`
    return createHmac('sha256', this.chainKey).update(input).digest('hex')
  }

  private insertText(tx: Executor, rows: number): string {
    const adapter = tx.getExecutor().adapter
    let texts = this.insertTexts.get(adapter)
    if (!texts) {
      texts = new Map()
      this.insertTexts.set(adapter, texts)
    }
    let text = texts.get(rows)
    if (text === undefined) {
      // Each column's own name as its value: the check below proves the parameters are bound in COLUMNS order, row
      // after row, as rowValues lists them (anything else would store values in the wrong columns).
      const row = Object.fromEntries(COLUMNS.map((column) => [column, column])) as unknown as AuditEventRow
      const compiled = tx
        .insertInto('audit_events')
        .values(Array.from({ length: rows }, () => row))
        .compile()
      if (
        compiled.parameters.length !== rows * COLUMNS.length ||
        compiled.parameters.some((value, k) => value !== COLUMNS[k % COLUMNS.length])
      )
        throw new Error('the audit insert does not bind its parameters in column order')
      text = compiled.sql
      // Batch sizes vary with the load: the texts kept are bounded, the oldest dropped first.
      if (texts.size >= INSERT_TEXTS_KEPT) texts.delete(texts.keys().next().value as number)
      texts.set(rows, text)
    }
    return text
  }

  private chainHash(prevHash: string, canonical: string): string {
    // One update of the same bytes (prevHash and the newline are ASCII): fewer crossings into the hash than three.
    return createHmac('sha256', this.chainKey).update(`${prevHash}\n${canonical}`).digest('hex')
  }
}

type HashedFields = ReturnType<typeof hashedFields>

// The hashed fields in canonical order (RFC 8785 sorts keys by UTF-16 code units): an event's canonical JSON is built
// without sorting its keys each time. It must equal canonicalJson(fields), which `verify` recomputes.
const HASHED_KEYS = [
  'action',
  'actors',
  'details',
  'id',
  'mode',
  'outcome',
  'reason',
  'request_id',
  'resource',
  'seq',
  'subjects',
  'time',
  'traceparent',
  'type',
] as const satisfies ReadonlyArray<keyof HashedFields>
const HASHED_PREFIXES = HASHED_KEYS.map((key) => `${JSON.stringify(key)}:`)

/** canonicalJson of an event's hashed fields, with their keys in the order sorted once above. */
export function canonicalFields(fields: HashedFields): string {
  let out = '{'
  for (let i = 0; i < HASHED_KEYS.length; i++) {
    const value = fields[HASHED_KEYS[i] as keyof HashedFields]
    if (value === undefined) continue
    out += `${out.length === 1 ? '' : ','}${HASHED_PREFIXES[i]}${canonicalJson(value)}`
  }
  return `${out}}`
}

/** The most rows one insert statement carries. */
const INSERT_CHUNK = 500

/** How many insert texts (row counts) a log keeps per dialect. */
const INSERT_TEXTS_KEPT = 128

/** The stored columns, in the order the insert's values list them (see `rowValues`). */
const COLUMNS = [
  'seq',
  'id',
  'time',
  'type',
  'outcome',
  'actors',
  'subjects',
  'mode',
  'action',
  'resource',
  'reason',
  'request_id',
  'traceparent',
  'details',
  'prev_hash',
  'hash',
] as const satisfies ReadonlyArray<keyof AuditEventRow>

// One row's values in COLUMNS order; the JSON columns as their JSON text.
function rowValues(event: AuditEvent, out: unknown[]): void {
  out.push(
    event.seq,
    event.id,
    event.time,
    event.type,
    event.outcome,
    JSON.stringify(event.actors),
    JSON.stringify(event.subjects),
    event.mode,
    event.action,
    event.resource,
    event.reason,
    event.request_id,
    event.traceparent,
    event.details === null ? null : JSON.stringify(event.details),
    event.prev_hash,
    event.hash,
  )
}

// Text columns hold what callers and clients said; nothing needs megabytes, and what is hashed must be what a text
// column stores: control characters (U+0000 included) and lone surrogates become U+FFFD before hashing.
function printable(text: string | undefined): string | null {
  if (text === undefined) return null
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is replaced
  const clean = text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '\ufffd').toWellFormed()
  if (clean.length <= 2000) return clean
  // Cut between code points, never inside a surrogate pair.
  const code = clean.charCodeAt(1999)
  return `${clean.slice(0, code >= 0xd800 && code <= 0xdbff ? 1999 : 2000)}…`
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}

function fromRow(row: AuditEventRow): AuditEvent {
  return {
    ...row,
    seq: Number(row.seq),
    outcome: row.outcome as AuditEvent['outcome'],
    actors: JSON.parse(row.actors),
    subjects: JSON.parse(row.subjects),
    details: row.details === null ? null : JSON.parse(row.details),
  }
}
