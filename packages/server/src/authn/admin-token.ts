// Admin bearer tokens for the admin API and PEP keys for the AuthZEN API: random, prefixed so secret scanners (and
// people) tell them apart, stored only as SHA-256 hashes.
//
// Every admin call and every AuthZEN call of a PEP presents one, so the callers found are kept in memory by hash.
// Only found callers are kept: a token created on any node works at its first use. A revocation clears this node's
// cache at once and moves a version row that every node polls (`start`, every 500 ms in a serving node, the delay
// registry changes have too), so that a token revoked on one node is refused by all within that delay.
import * as crypto from 'node:crypto'
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

// Every admin and PEP call hashes its token: the one-shot `crypto.hash` (Node.js 20.12 and later) makes no Hash object.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash

function hashToken(token: string): string {
  return oneShot ? oneShot('sha256', token, 'hex') : createHash('sha256').update(token).digest('hex')
}

/** Callers kept at most; beyond it the cache starts again empty (tokens are few; this bounds a flood of new ones). */
const MAX_CACHED = 10_000

/** Issues, checks and revokes admin tokens. */
export class AdminTokens {
  /** Callers by token hash. */
  private readonly cache = new Map<string, AdminCaller>()
  /** Moves on every clear: a lookup that began before a clear must not put back what the clear removed. */
  private generation = 0
  private seenVersion: string | undefined
  private timer: NodeJS.Timeout | undefined

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
    const hash = hashToken(token)
    const cached = this.cache.get(hash)
    if (cached) return cached
    const generation = this.generation
    const row = await this.store.findByHash(this.database.db, hash)
    if (!row) return undefined
    const caller: AdminCaller = {
      tokenId: row.id,
      name: row.name,
      role: row.role as AdminRole,
      actor: { kind: 'admin_token', id: row.id },
    }
    if (generation === this.generation) {
      if (this.cache.size >= MAX_CACHED) this.cache.clear()
      this.cache.set(hash, caller)
    }
    return caller
  }

  /**
   * The caller of a token this node has already found, without waiting; undefined when it is not cached (then
   * `authenticate` looks it up). What it answers, `authenticate` would answer.
   */
  knownCaller(token: string): AdminCaller | undefined {
    if (token.length < 32 || token.length > 512) return undefined
    return this.cache.get(hashToken(token))
  }

  /**
   * Revokes a token by id, recorded; answers false when no live token has it. Refused here at once, and on every
   * other node by its next poll.
   * @example
   * await adminTokens.revoke('8b1c…', { kind: 'system', id: 'cli' })
   */
  async revoke(id: string, actor: ActorRef): Promise<boolean> {
    const now = this.now()
    const revoked = await this.database.transact(async (tx) => {
      if (!(await this.store.revoke(tx, id, now.toISOString()))) return false
      await this.audit.append(
        tx,
        { type: 'admin.token.revoke', outcome: 'success', actors: [actor], resource: `admin_token:${id}` },
        now,
      )
      return true
    })
    if (revoked) this.forget()
    return revoked
  }

  /** Forgets every cached caller when a token was revoked anywhere since the last look. */
  async refresh(): Promise<void> {
    const version = await this.store.version(this.database.db)
    // The first look forgets too: a token cached before it may have been revoked before it.
    if (version !== this.seenVersion) this.forget()
    this.seenVersion = version
  }

  /** Polls for revocations made on other nodes every `intervalMs`. */
  start(intervalMs: number, onError: (error: unknown) => void): void {
    this.timer = setInterval(() => this.refresh().catch(onError), intervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  private forget(): void {
    this.generation++
    this.cache.clear()
  }
}
