// Durable revocations, honoured by every node sharing the store: one token by jti, every token of an agent or
// workload, every delegation a human gave, or every token issued under a mandate. Recorded with their audit record in
// one transaction.
import type { AuditLog } from '../audit/audit-log.ts'
import type { ActorRef } from '../audit/event.ts'
import type { Database, Executor } from '../store/database.ts'
import type { MandateTokenClaims } from './token-verifier.ts'

/** What can be revoked. */
export type RevocationTarget =
  | { kind: 'token'; jti: string; exp: number }
  | { kind: 'agent' | 'workload'; id: string }
  | { kind: 'human_delegations'; id: string }
  | { kind: 'mandate'; id: string }

function keyOf(target: RevocationTarget): string {
  switch (target.kind) {
    case 'token':
      return `jti:${target.jti}`
    case 'human_delegations':
      return `delegations:${target.id}`
    case 'mandate':
      return `mandate:${target.id}`
    default:
      return `principal:${target.kind}:${target.id}`
  }
}

// Every revocation key that can cover a token: its jti, its client and every actor in its chain, and its human's
// delegations when it is a delegated token.
function keysCovering(claims: MandateTokenClaims): string[] {
  const keys = [
    `jti:${claims.jti}`,
    `principal:agent:${claims.client_id}`,
    `principal:workload:${claims.client_id}`,
  ]
  let act: unknown = claims.act
  for (let depth = 0; act && typeof act === 'object' && depth < 16; depth++) {
    const { sub, act: inner } = act as { sub?: unknown; act?: unknown }
    if (typeof sub === 'string') keys.push(`principal:agent:${sub}`)
    act = inner
  }
  if (claims.act) keys.push(`delegations:${claims.sub}`)
  if (typeof claims.mandate_id === 'string') keys.push(`mandate:${claims.mandate_id}`)
  if (!claims.act) keys.push(`principal:agent:${claims.sub}`, `principal:workload:${claims.sub}`)
  return [...new Set(keys)]
}

/** Records and checks revocations. */
export class Revocations {
  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
    private readonly options: { maxTokenLifetimeSeconds: number; now?: () => number },
  ) {}

  private now(): number {
    return (this.options.now ?? Date.now)()
  }

  /**
   * Revokes `target` from now on: tokens it covers that were issued up to now are refused everywhere. Idempotent:
   * revoking again moves the cut-off forward.
   */
  async revoke(
    target: RevocationTarget,
    ctx: { actor: ActorRef; reason?: string | undefined; requestId?: string | undefined },
  ): Promise<void> {
    const now = this.now()
    // A revocation is needed only while a token it covers can still be valid.
    const expiresAt =
      target.kind === 'token' ? target.exp * 1000 : now + this.options.maxTokenLifetimeSeconds * 1000
    const key = keyOf(target)
    await this.database.transact(async (tx) => {
      await this.write(tx, key, now, expiresAt, ctx.reason)
      await this.audit.append(
        tx,
        {
          type: 'token.revoke',
          outcome: 'success',
          actors: [ctx.actor],
          subjects:
            target.kind === 'token'
              ? []
              : [`${target.kind === 'human_delegations' ? 'human' : target.kind}:${target.id}`],
          resource: key,
          ...(ctx.reason ? { reason: ctx.reason } : {}),
          ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
          details: { target: target.kind },
        },
        new Date(now),
      )
    })
  }

  /**
   * Writes a revocation of every token `target` covers inside the caller's transaction, whose audit record (e.g.
   * `mandate.revoke`) says why: for a change that revokes tokens as one of its effects.
   */
  async revokeIn(
    tx: Executor,
    target: Exclude<RevocationTarget, { kind: 'token' }>,
    reason: string,
  ): Promise<void> {
    const now = this.now()
    await this.write(tx, keyOf(target), now, now + this.options.maxTokenLifetimeSeconds * 1000, reason)
  }

  private async write(
    tx: Executor,
    key: string,
    now: number,
    expiresAt: number,
    reason: string | undefined,
  ): Promise<void> {
    await tx
      .insertInto('revocations')
      .values({ key, revoked_at: now, expires_at: expiresAt, reason: reason ?? null })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({ revoked_at: now, expires_at: expiresAt, reason: reason ?? null }),
      )
      .execute()
  }

  /** Whether a revocation covers this token (read from the store, so every node answers the same at once). */
  async isRevoked(claims: MandateTokenClaims): Promise<boolean> {
    const rows = await this.database.db
      .selectFrom('revocations')
      .select(['key', 'revoked_at'])
      .where('key', 'in', keysCovering(claims))
      .execute()
    return rows.some((row) =>
      row.key.startsWith('jti:') ? true : claims.iat * 1000 <= Number(row.revoked_at),
    )
  }

  /** Deletes revocations no token can need any more. */
  async purge(): Promise<number> {
    const result = await this.database.db
      .deleteFrom('revocations')
      .where('expires_at', '<=', this.now())
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  }
}
