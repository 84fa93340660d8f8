// Where mandates and their use are kept: one row per mandate (the document, plus the columns lists filter on and the
// spend guard reads) and one row per mandate and budget period. Every method takes the executor it runs on, so that a
// caller can put it inside its own write transaction. A version row in `meta` moves with every grant and revocation, in
// the transaction that makes it, so that nodes keeping mandates in memory know when to forget them.
import { randomUUID } from 'node:crypto'
import { type RawBuilder, sql } from 'kysely'
import type { Executor } from '../store/database.ts'
import type { Mandate, MandateUse } from './model.ts'

/** Filters of a mandate list. */
export interface MandateQuery {
  human?: string | undefined
  agent?: string | undefined
  status?: 'active' | 'revoked' | undefined
  /** At most this many, newest first. */
  limit?: number | undefined
}

/** What a guarded spend adds, and the limits it must stay within. */
export interface Spend {
  mandateId: string
  period: string
  amount: number
  /** Epoch milliseconds: the mandate must not have expired by then. */
  now: number
  maxCalls?: number | undefined
  maxAmount?: number | undefined
}

// Sums are floating point: a spend that reaches its limit exactly must not fail by a rounding error.
const EPSILON = 1e-9

const VERSION_KEY = 'mandates_version'

/** Mandates and their use. */
export class MandateStore {
  async insert(ex: Executor, mandate: Mandate, expiresAtMs: number): Promise<void> {
    await ex
      .insertInto('mandates')
      .values({
        id: mandate.id,
        doc: JSON.stringify(mandate),
        human_id: mandate.human,
        agent_id: mandate.agent,
        status: mandate.status,
        expires_at: expiresAtMs,
        created_at: mandate.created_at,
      })
      .execute()
    await this.moveVersion(ex)
  }

  /** Rewrites the document and status (a revocation). */
  async update(ex: Executor, mandate: Mandate): Promise<void> {
    await ex
      .updateTable('mandates')
      .set({ doc: JSON.stringify(mandate), status: mandate.status })
      .where('id', '=', mandate.id)
      .execute()
    await this.moveVersion(ex)
  }

  /** The version of the mandates: changes with every grant and revocation (empty before the first). */
  async version(ex: Executor): Promise<string> {
    const row = await ex.selectFrom('meta').select('value').where('key', '=', VERSION_KEY).executeTakeFirst()
    return row?.value ?? ''
  }

  private async moveVersion(ex: Executor): Promise<void> {
    const version = randomUUID()
    await ex
      .insertInto('meta')
      .values({ key: VERSION_KEY, value: version })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: version }))
      .execute()
  }

  async get(ex: Executor, id: string): Promise<Mandate | undefined> {
    if (id.includes('\u0000')) return undefined
    const row = await ex.selectFrom('mandates').select('doc').where('id', '=', id).executeTakeFirst()
    return row ? (JSON.parse(row.doc) as Mandate) : undefined
  }

  /** Mandates matching every given filter, newest first. */
  async list(ex: Executor, query: MandateQuery): Promise<Mandate[]> {
    let q = ex.selectFrom('mandates').select('doc')
    if (query.human !== undefined) q = q.where('human_id', '=', query.human)
    if (query.agent !== undefined) q = q.where('agent_id', '=', query.agent)
    if (query.status !== undefined) q = q.where('status', '=', query.status)
    const rows = await q
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(query.limit ?? 1000)
      .execute()
    return rows.map((row) => JSON.parse(row.doc) as Mandate)
  }

  /** The use in one period; zero when nothing was spent in it. */
  async use(ex: Executor, mandateId: string, period: string): Promise<MandateUse> {
    const row = await ex
      .selectFrom('mandate_usage')
      .select(['calls', 'amount'])
      .where('mandate_id', '=', mandateId)
      .where('period', '=', period)
      .executeTakeFirst()
    return { period, calls: Number(row?.calls ?? 0), sum: Number(row?.amount ?? 0) }
  }

  /**
   * Spends one call and `amount` if, and only if, the mandate is still active and unexpired and the period's use stays
   * within the limits: one guarded upsert, so that concurrent spends on any node never overrun (write transactions are
   * serialized, and the guard is re-read inside each). Answers whether it was spent.
   */
  async spend(ex: Executor, spend: Spend): Promise<boolean> {
    return (await this.spendUse(ex, spend)) !== undefined
  }

  /**
   * `spend`, answering the period's use after the spend, or undefined when nothing was spent. One statement: the row of
   * the period is created by the first spend (from the mandate's row, which must be active and unexpired: otherwise
   * nothing is selected, so nothing is written) and added to by the next ones, each within the limits.
   */
  async spendUse(ex: Executor, spend: Spend): Promise<MandateUse | undefined> {
    const amount = sql`cast(${spend.amount} as double precision)`
    const first: RawBuilder<unknown>[] = []
    const next: RawBuilder<unknown>[] = []
    if (spend.maxCalls !== undefined) {
      first.push(sql`1 <= ${spend.maxCalls}`)
      next.push(sql`mandate_usage.calls + 1 <= ${spend.maxCalls}`)
    }
    if (spend.maxAmount !== undefined) {
      const max = sql`cast(${spend.maxAmount + EPSILON} as double precision)`
      first.push(sql`${amount} <= ${max}`)
      next.push(sql`mandate_usage.amount + excluded.amount <= ${max}`)
    }
    const and = (conditions: RawBuilder<unknown>[]) =>
      conditions.length === 0 ? sql`` : sql` and ${sql.join(conditions, sql` and `)}`
    const result = await sql<{ calls: number | string; amount: number | string }>`
      insert into mandate_usage (mandate_id, period, calls, amount)
      select id, cast(${spend.period} as text), 1, ${amount} from mandates
      where id = ${spend.mandateId} and status = 'active' and expires_at > ${spend.now}${and(first)}
      on conflict (mandate_id, period) do update
      set calls = mandate_usage.calls + 1, amount = mandate_usage.amount + excluded.amount
      where true${and(next)}
      returning calls, amount`.execute(ex)
    const row = result.rows[0]
    return row ? { period: spend.period, calls: Number(row.calls), sum: Number(row.amount) } : undefined
  }
}
