// Where the authorization code flow keeps its one-time things: authorization requests (pushed, or waiting for
// consent), codes and refresh tokens, each by the SHA-256 of its secret. Spending one is a conditional update
// (`used_at IS NULL`): of concurrent spenders on any node exactly one sees a row updated.
import { createHash } from 'node:crypto'
import type { Executor } from './database.ts'
import type { AuthorizationCodeRow, RefreshTokenRow } from './tables.ts'

/** The SHA-256 (hex) a secret is stored under. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

/** A stored authorization request. */
export interface StoredRequest {
  kind: 'par' | 'pending'
  clientId: string
  doc: string
  expiresAt: number
}

/** What spending a one-time row found: the row, and whether this caller spent it (false: it was spent before). */
export interface Spent<Row> {
  row: Row
  first: boolean
}

/** Authorization requests, codes and refresh tokens. Every method runs on the executor it is given. */
export class AuthorizationStore {
  async putRequest(ex: Executor, hash: string, request: StoredRequest): Promise<void> {
    await ex
      .insertInto('authorization_requests')
      .values({
        hash,
        kind: request.kind,
        client_id: request.clientId,
        doc: request.doc,
        expires_at: request.expiresAt,
        used_at: null,
      })
      .execute()
  }

  /** An unspent, unexpired request of this kind, without spending it. */
  async peekRequest(
    ex: Executor,
    hash: string,
    kind: StoredRequest['kind'],
    now: number,
  ): Promise<StoredRequest | undefined> {
    const row = await ex
      .selectFrom('authorization_requests')
      .selectAll()
      .where('hash', '=', hash)
      .where('kind', '=', kind)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst()
    return row
      ? { kind, clientId: row.client_id, doc: row.doc, expiresAt: Number(row.expires_at) }
      : undefined
  }

  /** Spends an unspent, unexpired request of this kind: answers it to the one caller that spends it. */
  async takeRequest(
    ex: Executor,
    hash: string,
    kind: StoredRequest['kind'],
    now: number,
  ): Promise<StoredRequest | undefined> {
    const request = await this.peekRequest(ex, hash, kind, now)
    if (!request) return undefined
    const result = await ex
      .updateTable('authorization_requests')
      .set({ used_at: now })
      .where('hash', '=', hash)
      .where('used_at', 'is', null)
      .executeTakeFirst()
    return Number(result.numUpdatedRows) === 1 ? request : undefined
  }

  async putCode(ex: Executor, row: Omit<AuthorizationCodeRow, 'used_at' | 'family_id'>): Promise<void> {
    await ex
      .insertInto('authorization_codes')
      .values({ ...row, used_at: null, family_id: null })
      .execute()
  }

  async getCode(ex: Executor, hash: string): Promise<AuthorizationCodeRow | undefined> {
    const row = await ex
      .selectFrom('authorization_codes')
      .selectAll()
      .where('hash', '=', hash)
      .executeTakeFirst()
    return row ? { ...row, expires_at: Number(row.expires_at) } : undefined
  }

  /**
   * Spends a code and names the refresh family its redemption starts, in one statement (a replay always finds the
   * family); false when it had been spent already.
   */
  async spendCode(ex: Executor, hash: string, now: number, familyId: string): Promise<boolean> {
    const result = await ex
      .updateTable('authorization_codes')
      .set({ used_at: now, family_id: familyId })
      .where('hash', '=', hash)
      .where('used_at', 'is', null)
      .executeTakeFirst()
    return Number(result.numUpdatedRows) === 1
  }

  /**
   * Opens a family for a new refresh token, in the issuance's transaction: false when it has been revoked (a replay of
   * its code or of one of its refresh tokens got there first).
   */
  async openFamily(ex: Executor, familyId: string): Promise<boolean> {
    await ex
      .insertInto('refresh_families')
      .values({ id: familyId, revoked_at: null })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute()
    const row = await ex
      .selectFrom('refresh_families')
      .select('revoked_at')
      .where('id', '=', familyId)
      .executeTakeFirst()
    return row !== undefined && row.revoked_at === null
  }

  async putRefresh(ex: Executor, row: Omit<RefreshTokenRow, 'used_at' | 'revoked_at'>): Promise<void> {
    await ex
      .insertInto('refresh_tokens')
      .values({ ...row, used_at: null, revoked_at: null })
      .execute()
  }

  async getRefresh(ex: Executor, hash: string): Promise<RefreshTokenRow | undefined> {
    const row = await ex.selectFrom('refresh_tokens').selectAll().where('hash', '=', hash).executeTakeFirst()
    return row ? numeric(row) : undefined
  }

  /** Spends a refresh token (rotation); false when it had been spent or revoked already. */
  async spendRefresh(ex: Executor, hash: string, now: number): Promise<boolean> {
    const result = await ex
      .updateTable('refresh_tokens')
      .set({ used_at: now })
      .where('hash', '=', hash)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
    return Number(result.numUpdatedRows) === 1
  }

  /**
   * Revokes a family (written first if no token of it was issued yet) and every refresh token of it; answers the
   * family's rows, whose access tokens are to be revoked too. Run it in a write transaction: an issuance into the
   * family then commits either before (and its row is answered here) or after (and openFamily refuses it).
   */
  async revokeFamily(ex: Executor, familyId: string, now: number): Promise<RefreshTokenRow[]> {
    await ex
      .insertInto('refresh_families')
      .values({ id: familyId, revoked_at: now })
      .onConflict((oc) => oc.column('id').doUpdateSet({ revoked_at: now }))
      .execute()
    await ex
      .updateTable('refresh_tokens')
      .set({ revoked_at: now })
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .execute()
    const rows = await ex.selectFrom('refresh_tokens').selectAll().where('family_id', '=', familyId).execute()
    return rows.map(numeric)
  }

  /** Deletes what has expired. */
  async purge(ex: Executor, now: number): Promise<void> {
    await ex.deleteFrom('authorization_requests').where('expires_at', '<=', now).execute()
    await ex
      .deleteFrom('authorization_codes')
      .where('expires_at', '<=', now - 86_400_000)
      .execute()
    await ex.deleteFrom('refresh_tokens').where('expires_at', '<=', now).execute()
  }
}

// PostgreSQL answers bigint columns as strings.
function numeric(row: RefreshTokenRow): RefreshTokenRow {
  return {
    ...row,
    access_exp: Number(row.access_exp),
    created_at: Number(row.created_at),
    expires_at: Number(row.expires_at),
    used_at: row.used_at === null ? null : Number(row.used_at),
    revoked_at: row.revoked_at === null ? null : Number(row.revoked_at),
  }
}
