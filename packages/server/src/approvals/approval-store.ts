// Storage of approval requests. Every transition is one conditional UPDATE whose WHERE clause names the state it
// leaves, so that of concurrent callers on any number of nodes exactly one moves a row (the others see 0 rows).
import type { Executor } from '../store/database.ts'
import type { ApprovalRow } from '../store/tables.ts'

/** Filters of a listing. */
export interface ApprovalFilter {
  state?: string | undefined
  /** Only approvals one of these approvers may decide (`human:<id>`, `group:<id>`). */
  approvers?: readonly string[] | undefined
  /** Rows created before this id's row, for paging (newest first). */
  before?: { created_at: number; id: string } | undefined
  limit: number
}

/** The approvals table. */
export class ApprovalStore {
  /** Inserts a new request. */
  async insert(ex: Executor, row: ApprovalRow): Promise<void> {
    await ex.insertInto('approvals').values(row).execute()
  }

  /** How many unexpired requests of a client wait for a decision. */
  async countPending(ex: Executor, clientId: string, at: number): Promise<number> {
    const row = await ex
      .selectFrom('approvals')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('client_id', '=', clientId)
      .where('state', '=', 'pending')
      .where('expires_at', '>', at)
      .executeTakeFirst()
    return Number(row?.n ?? 0)
  }

  /** One request by id. */
  async get(ex: Executor, id: string): Promise<ApprovalRow | undefined> {
    return ex.selectFrom('approvals').selectAll().where('id', '=', id).executeTakeFirst()
  }

  /** Requests, newest first. */
  async list(ex: Executor, filter: ApprovalFilter): Promise<ApprovalRow[]> {
    let query = ex.selectFrom('approvals').selectAll()
    if (filter.state !== undefined) query = query.where('state', '=', filter.state)
    if (filter.approvers !== undefined) {
      const approvers = filter.approvers.map((a) => a.split(':'))
      if (approvers.length === 0) return []
      query = query.where((eb) =>
        eb.or(
          approvers.map(([kind, ...id]) =>
            eb.and([eb('approver_kind', '=', kind ?? ''), eb('approver_id', '=', id.join(':'))]),
          ),
        ),
      )
    }
    const before = filter.before
    if (before)
      query = query.where((eb) =>
        eb.or([
          eb('created_at', '<', before.created_at),
          eb.and([eb('created_at', '=', before.created_at), eb('id', '<', before.id)]),
        ]),
      )
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute()
  }

  /** pending → approved | denied, while unexpired. Answers whether this call moved it. */
  async decide(
    tx: Executor,
    id: string,
    change: {
      state: 'approved' | 'denied'
      by: string
      as: 'approver' | 'admin'
      reason: string | null
      at: number
    },
  ): Promise<boolean> {
    const result = await tx
      .updateTable('approvals')
      .set({
        state: change.state,
        decided_by: change.by,
        decided_as: change.as,
        decided_at: change.at,
        reason: change.reason,
      })
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .where('expires_at', '>', change.at)
      .executeTakeFirst()
    return result.numUpdatedRows === 1n
  }

  /** pending | approved → expired, once its time has passed. Answers whether this call moved it. */
  async expire(tx: Executor, id: string, at: number): Promise<boolean> {
    const result = await tx
      .updateTable('approvals')
      .set({ state: 'expired' })
      .where('id', '=', id)
      .where('state', 'in', ['pending', 'approved'])
      .where('expires_at', '<=', at)
      .executeTakeFirst()
    return result.numUpdatedRows === 1n
  }

  /** approved → used, by the client it was requested for, while unexpired: the one-time redemption. */
  async consume(tx: Executor, id: string, clientId: string, at: number): Promise<boolean> {
    const result = await tx
      .updateTable('approvals')
      .set({ state: 'used', used_at: at })
      .where('id', '=', id)
      .where('client_id', '=', clientId)
      .where('state', '=', 'approved')
      .where('expires_at', '>', at)
      .executeTakeFirst()
    return result.numUpdatedRows === 1n
  }

  /**
   * Notes a poll at `at`: when the previous poll was less than `interval_seconds` before, the interval grows by 5 s
   * (CIBA §11 `slow_down`, for this and every later request). Answers whether the poll was too early. The update is
   * conditional on the poll time it read, so two overlapping polls cannot both pass as timely.
   */
  async notePoll(ex: Executor, row: ApprovalRow, at: number): Promise<boolean> {
    const early = row.last_poll_at !== null && at - row.last_poll_at < row.interval_seconds * 1000
    let query = ex
      .updateTable('approvals')
      .set({
        last_poll_at: at,
        ...(early ? { interval_seconds: row.interval_seconds + 5 } : {}),
      })
      .where('id', '=', row.id)
    query =
      row.last_poll_at === null
        ? query.where('last_poll_at', 'is', null)
        : query.where('last_poll_at', '=', row.last_poll_at)
    const result = await query.executeTakeFirst()
    // Another poll moved it first: this one overlapped it, which is polling too fast.
    if (result.numUpdatedRows !== 1n) {
      await ex
        .updateTable('approvals')
        .set((eb) => ({ interval_seconds: eb('interval_seconds', '+', 5) }))
        .where('id', '=', row.id)
        .execute()
      return true
    }
    return early
  }
}
