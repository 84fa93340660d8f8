// A mandate's budget spend as an effect step of an issuance's audit record: built where the token is issued, run by the
// audit writer in the record's transaction, so that the spend and the record commit together or not at all.
import type { EffectHandler, EffectRefusal, EffectStep } from '../audit/audit-batcher.ts'
import type { AuditEventInput } from '../audit/event.ts'
import { parseRfc3339 } from '../rfc3339.ts'
import type { Executor } from '../store/database.ts'
import { periodOf } from './limits.ts'
import type { MandateStore } from './mandate-store.ts'
import type { Mandate, MandateRefusal } from './model.ts'

/** The spend of one call and `amount` on a mandate: what the writer needs of the mandate, as data. */
export interface SpendStep extends EffectStep {
  kind: 'mandate.spend'
  mandate: Pick<Mandate, 'id' | 'human' | 'agent' | 'budget'>
  amount: number
}

/**
 * The guarded spend of one call and `amount` on `mandate`, as a step of the issuance record's effect.
 * @example
 * await recorder.record(issuance, [spendStep(mandate, 12.5)])
 */
export function spendStep(mandate: Mandate, amount: number): SpendStep {
  const { id, human, agent, budget } = mandate
  return { kind: 'mandate.spend', mandate: { id, human, agent, ...(budget ? { budget } : {}) }, amount }
}

/**
 * Runs spend steps: spent only while the mandate is active, unexpired and within its budget (one guarded upsert);
 * a refusal names why (`mandate_revoked`, `mandate_expired`, `mandate_exhausted`). When the spend uses the budget up,
 * a `mandate.exhausted` record joins the issuance's.
 */
export function spendHandler(store: MandateStore): EffectHandler {
  return async (tx, step, at) => {
    const { mandate, amount } = step as SpendStep
    const period = periodOf(mandate.budget?.period ?? 'total', at)
    const use = await store.spendUse(tx, {
      mandateId: mandate.id,
      period,
      amount,
      now: at.getTime(),
      maxCalls: mandate.budget?.calls,
      maxAmount: mandate.budget?.sum?.limit,
    })
    if (!use) return { ok: false, refusal: await whyNotSpent(store, tx, mandate.id, at.getTime()) }
    if (!mandate.budget) return { ok: true }
    const { calls, sum } = mandate.budget
    const exhausted =
      (calls !== undefined && use.calls >= calls) || (sum !== undefined && use.sum >= sum.limit - 1e-9)
    if (!exhausted) return { ok: true }
    const exhaustion: AuditEventInput = {
      type: 'mandate.exhausted',
      outcome: 'success',
      actors: [{ kind: 'system', id: 'mandate-budget' }],
      subjects: [`human:${mandate.human}`, `agent:${mandate.agent}`, `mandate:${mandate.id}`],
      resource: `mandate:${mandate.id}`,
      details: { period, calls: use.calls, sum: use.sum, budget: mandate.budget },
    }
    return { ok: true, events: [exhaustion] }
  }
}

async function whyNotSpent(
  store: MandateStore,
  tx: Executor,
  id: string,
  now: number,
): Promise<EffectRefusal> {
  const mandate = await store.get(tx, id)
  let cause: MandateRefusal = 'mandate_exhausted'
  if (!mandate || mandate.status === 'revoked') cause = 'mandate_revoked'
  else if ((parseRfc3339(mandate.expires_at) ?? 0) <= now) cause = 'mandate_expired'
  return { error: cause, message: `mandate ${id} refused the issuance (${cause})`, mandateId: id }
}
