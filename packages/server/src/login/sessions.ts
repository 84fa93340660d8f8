// Browser sessions of logged-in humans: a random id in a cookie, of which only a SHA-256 hash is stored, with an idle
// and an absolute end, and a CSRF token derived from the session (an HMAC of its hash) so that it needs no storage.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { AuditLog } from '../audit/audit-log.ts'
import type { Database } from '../store/database.ts'
import type { SessionStore } from '../store/session-store.ts'

/** A live session. */
export interface Session {
  /** The SHA-256 (hex) of the session id: names the session in the audit log without revealing it. */
  idHash: string
  humanId: string
  /** The registry id of the TrustedIssuer the human logged in through. */
  issuerId: string
  createdAt: string
  expiresAt: string
}

/** Who asked, for the audit record. */
export interface SessionTrace {
  requestId?: string | undefined
  traceparent?: string | undefined
}

const hash = (id: string) => createHash('sha256').update(id).digest('hex')
// A session id is 32 random bytes, base64url: anything else is not looked up.
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/

/** Starts, finds and ends browser sessions; created by the wiring. */
export class Sessions {
  constructor(
    private readonly deps: {
      database: Database
      store: SessionStore
      audit: AuditLog
      /** Keys the CSRF tokens (derived from the master key, so every node agrees). */
      csrfKey: Buffer
      idleSeconds: number
      maxSeconds: number
      now: () => number
    },
  ) {}

  /** Starts a session for a human who just logged in; answers its id (for the cookie only) and the session. */
  async start(
    humanId: string,
    issuerId: string,
    trace: SessionTrace,
  ): Promise<{ id: string; session: Session }> {
    const id = randomBytes(32).toString('base64url')
    const now = new Date(this.deps.now())
    const session: Session = {
      idHash: hash(id),
      humanId,
      issuerId,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.deps.maxSeconds * 1000).toISOString(),
    }
    await this.deps.database.transact(async (tx) => {
      await this.deps.store.insert(tx, {
        id_hash: session.idHash,
        human_id: humanId,
        issuer_id: issuerId,
        created_at: session.createdAt,
        last_seen_at: session.createdAt,
        expires_at: session.expiresAt,
      })
      await this.deps.audit.append(
        tx,
        {
          type: 'session.start',
          outcome: 'success',
          actors: [{ kind: 'human', id: humanId }],
          details: { session: session.idHash.slice(0, 16), issuer: issuerId },
          ...traceOf(trace),
        },
        now,
      )
    })
    return { id, session }
  }

  /** The live session with this id, recording the use; undefined when unknown, idle too long or past its end. */
  async find(id: string): Promise<Session | undefined> {
    if (!SESSION_ID.test(id)) return undefined
    const row = await this.deps.store.find(this.deps.database.db, hash(id))
    if (!row) return undefined
    const now = this.deps.now()
    if (Date.parse(row.expires_at) <= now) return undefined
    if (Date.parse(row.last_seen_at) + this.deps.idleSeconds * 1000 <= now) return undefined
    // One write a minute at most per session: the idle end needs no finer grain.
    if (Date.parse(row.last_seen_at) + 60_000 <= now)
      await this.deps.store.touch(this.deps.database.db, row.id_hash, new Date(now).toISOString())
    return {
      idHash: row.id_hash,
      humanId: row.human_id,
      issuerId: row.issuer_id,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    }
  }

  /** Ends a session (logout); answers the session it ended, if it was live. */
  async end(id: string, trace: SessionTrace): Promise<Session | undefined> {
    if (!SESSION_ID.test(id)) return undefined
    const now = new Date(this.deps.now())
    return this.deps.database.transact(async (tx) => {
      const row = await this.deps.store.delete(tx, hash(id))
      if (!row) return undefined
      await this.deps.audit.append(
        tx,
        {
          type: 'session.end',
          outcome: 'success',
          actors: [{ kind: 'human', id: row.human_id }],
          details: { session: row.id_hash.slice(0, 16), reason: 'logout' },
          ...traceOf(trace),
        },
        now,
      )
      return {
        idHash: row.id_hash,
        humanId: row.human_id,
        issuerId: row.issuer_id,
        createdAt: row.created_at,
        expiresAt: row.expires_at,
      }
    })
  }

  /** Records a refused login (no state changes, but an admin should see who was turned away and why). */
  async refused(
    refusal: { reason: string; humanId?: string | undefined; issuerId?: string | undefined },
    trace: SessionTrace,
  ): Promise<void> {
    await this.deps.database.transact((tx) =>
      this.deps.audit.append(
        tx,
        {
          type: 'session.refuse',
          outcome: 'deny',
          actors: refusal.humanId
            ? [{ kind: 'human', id: refusal.humanId }]
            : [{ kind: 'system', id: 'login' }],
          reason: refusal.reason,
          ...(refusal.issuerId ? { details: { issuer: refusal.issuerId } } : {}),
          ...traceOf(trace),
        },
        new Date(this.deps.now()),
      ),
    )
  }

  /** Ends every session of a human (deactivated at login); answers how many. */
  async endAllOf(humanId: string): Promise<number> {
    return this.deps.store.deleteOfHuman(this.deps.database.db, humanId)
  }

  /** Deletes ended sessions. */
  async purge(): Promise<void> {
    const now = this.deps.now()
    await this.deps.store.purge(
      this.deps.database.db,
      new Date(now).toISOString(),
      new Date(now - this.deps.idleSeconds * 1000).toISOString(),
    )
  }

  /** The CSRF token of a session: the same on every node and for the session's whole life. */
  csrfToken(session: Session): string {
    return createHmac('sha256', this.deps.csrfKey).update(`csrf:${session.idHash}`).digest('base64url')
  }

  /** Whether `value` is the session's CSRF token, compared in constant time. */
  checkCsrf(session: Session, value: unknown): boolean {
    if (typeof value !== 'string') return false
    const expected = Buffer.from(this.csrfToken(session))
    const given = Buffer.from(value)
    return given.length === expected.length && timingSafeEqual(given, expected)
  }
}

function traceOf(trace: SessionTrace): { requestId?: string; traceparent?: string } {
  return {
    ...(trace.requestId ? { requestId: trace.requestId } : {}),
    ...(trace.traceparent ? { traceparent: trace.traceparent } : {}),
  }
}
