// Admin bearer tokens for the admin API and PEP keys for the AuthZEN API: random, prefixed so secret scanners (and
// people) tell them apart, stored only as SHA-256 hashes.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { AuditLog } from '../audit/audit-log.ts'
import type { ActorRef } from '../audit/event.ts'
import type { AdminTokenStore } from '../store/admin-token-store.ts'
import type { Database } from '../store/database.ts'

/**
 * What an admin token may do: `admin` everything, `reader` only reads, `pep` only asks the AuthZEN API for decisions
 * (an API key for policy enforcement points outside Mandate).
 */
export type AdminRole = 'admin' | 'reader' | 'pep'

/** An authenticated admin caller. */
export interface AdminCaller {
  tokenId: string
  name: string
  role: AdminRole
  actor: ActorRef
}

/** How each role's tokens begin: `mnd_adm_` for admin and reader tokens, `mnd_pep_` for PEP keys. */
export const TOKEN_PREFIX: Readonly<Record<AdminRole, string>> = {
  admin: 'mnd_adm_',
  reader: 'mnd_adm_',
  pep: 'mnd_pep_',
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** Issues and checks admin tokens. */
export class AdminTokens {
  constructor(
    private readonly database: Database,
    private readonly store: AdminTokenStore,
    private readonly audit: AuditLog,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Creates a token and returns it: the only time it exists in clear. `token` lets automated deployments choose it.
   * @example
   * const { token } = await adminTokens.issue({ name: 'ci', role: 'admin', actor: { kind: 'system', id: 'cli' } })
   */
  async issue(options: {
    name: string
    role: AdminRole
    actor: ActorRef
    token?: string
    onlyIfNone?: boolean
  }): Promise<{ id: string; token: string } | undefined> {
    const token = options.token ?? `${TOKEN_PREFIX[options.role]}${randomBytes(32).toString('base64url')}`
    const id = randomUUID()
    const now = this.now()
    return this.database.transact(async (tx) => {
      if (options.onlyIfNone && (await this.store.count(tx)) > 0) return undefined
      await this.store.insert(tx, {
        id,
        name: options.name,
        token_hash: hashToken(token),
        role: options.role,
        created_at: now.toISOString(),
        revoked_at: null,
      })
      await this.audit.append(
        tx,
        {
          type: 'admin.token.create',
          outcome: 'success',
          actors: [options.actor],
          resource: `admin_token:${id}`,
          details: { name: options.name, role: options.role },
        },
        now,
      )
      return { id, token }
    })
  }

  /**
   * The caller a presented token belongs to, or undefined. Lookup is by hash, so the token itself is never compared,
   * and its prefix decides nothing: PEP keys issued before they had their own prefix keep working.
   */
  async authenticate(token: string): Promise<AdminCaller | undefined> {
    if (token.length < 32 || token.length > 512) return undefined
    const row = await this.store.findByHash(this.database.db, hashToken(token))
    if (!row) return undefined
    return {
      tokenId: row.id,
      name: row.name,
      role: row.role as AdminRole,
      actor: { kind: 'admin_token', id: row.id },
    }
  }
}
