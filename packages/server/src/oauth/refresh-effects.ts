// The refresh token rotation of an issuance under a mandate, as effect steps of its audit record (run by the audit
// writer in the record's transaction): the family must still be open, and the new refresh token is stored with the
// record or not at all.
import type { EffectHandlers, EffectStep } from '../audit/audit-batcher.ts'
import type { AuthorizationStore } from '../store/authorization-store.ts'
import type { RefreshTokenRow } from '../store/tables.ts'

/** The family must not have been revoked (a replayed code or refresh token): refused otherwise. */
export interface OpenFamilyStep extends EffectStep {
  kind: 'refresh.open_family'
  familyId: string
}

/** Stores the new refresh token (by the hash of its secret). */
export interface PutRefreshStep extends EffectStep {
  kind: 'refresh.put'
  row: Omit<RefreshTokenRow, 'used_at' | 'revoked_at'>
}

/** The step that checks (and opens) the family. */
export function openFamilyStep(familyId: string): OpenFamilyStep {
  return { kind: 'refresh.open_family', familyId }
}

/** The step that stores the rotated refresh token. */
export function putRefreshStep(row: PutRefreshStep['row']): PutRefreshStep {
  return { kind: 'refresh.put', row }
}

/** The handlers of the refresh steps, over the authorization store. */
export function refreshHandlers(store: AuthorizationStore): EffectHandlers {
  return {
    'refresh.open_family': async (tx, step) =>
      (await store.openFamily(tx, (step as OpenFamilyStep).familyId))
        ? { ok: true }
        : {
            ok: false,
            refusal: {
              error: 'invalid_grant',
              message: 'this grant has been revoked: a code or refresh token was replayed',
            },
          },
    'refresh.put': async (tx, step) => {
      await store.putRefresh(tx, (step as PutRefreshStep).row)
      return { ok: true }
    },
  }
}
