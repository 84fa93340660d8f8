// An approval's one-time redemption as an effect step of the issuance's audit record (run by the audit writer in the
// record's transaction): of concurrent redeemers on any node exactly one consumes it, and only with its record.
import type { EffectHandler, EffectStep } from '../audit/audit-batcher.ts'
import type { ApprovalStore } from './approval-store.ts'

/** Consumes approval `id` for `clientId`: refused unless it is approved, unexpired and not used yet. */
export interface ConsumeApprovalStep extends EffectStep {
  kind: 'approval.consume'
  id: string
  clientId: string
}

/** The step that redeems an approval. */
export function consumeApprovalStep(id: string, clientId: string): ConsumeApprovalStep {
  return { kind: 'approval.consume', id, clientId }
}

/** Runs consume steps over the approval store; a refusal is `invalid_grant`, as CIBA §11 answers a used request. */
export function consumeApprovalHandler(store: ApprovalStore): EffectHandler {
  return async (tx, step, at) => {
    const { id, clientId } = step as ConsumeApprovalStep
    if (await store.consume(tx, id, clientId, at.getTime())) return { ok: true }
    return {
      ok: false,
      refusal: {
        error: 'invalid_grant',
        message: 'auth_req_id is not valid for this client, or was already used',
      },
    }
  }
}
