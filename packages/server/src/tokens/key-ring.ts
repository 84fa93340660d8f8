// The signing key ring: generates keys, publishes a new key before it signs anything, and keeps retired keys
// published until every token they signed has expired. State is derived from times, so nodes never disagree on it.
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { calculateJwkThumbprint, type JWK } from 'jose'
import type { AuditLog } from '../audit/audit-log.ts'
import type { ActorRef } from '../audit/event.ts'
import type { Database } from '../store/database.ts'
import type { SigningKeyStore } from '../store/signing-key-store.ts'
import type { SigningKeyRow } from '../store/tables.ts'
import type { MasterKey } from './master-key.ts'

/** Algorithms Mandate can sign with. */
export type SigningAlg = 'ES256' | 'EdDSA' | 'RS256'

/** A key as the ring holds it in memory. */
export interface SigningKey {
  kid: string
  alg: SigningAlg
  publicJwk: JWK
  privateKey: KeyObject
  activatesAt: number
  publishUntil: number | null
}

/** The lifecycle state of a key at a given time. */
export type KeyState = 'pending' | 'active' | 'retired'

export interface KeyRingOptions {
  database: Database
  store: SigningKeyStore
  audit: AuditLog
  masterKey: MasterKey
  alg: SigningAlg
  propagationSeconds: number
  maxTokenLifetimeSeconds: number
  clockSkewSeconds: number
  now?: () => number
}

/** Holds the signing keys in memory and rotates them through the store. */
export class KeyRing {
  private keys: SigningKey[] = []
  /** Moves whenever the ring is reloaded, so that holders of derived key sets know to rebuild them. */
  generation = 0
  private readonly now: () => number

  constructor(private readonly options: KeyRingOptions) {
    this.now = options.now ?? Date.now
  }

  /** Loads every key from the store, creating the first one (active at once) when the ring is empty. */
  async load(): Promise<void> {
    const rows = await this.options.store.list(this.options.database.db)
    if (rows.length === 0) {
      await this.options.database.transact(async (tx) => {
        // Another node may have created it between our read and the write lock.
        if ((await this.options.store.list(tx)).length > 0) return
        const row = await this.generate(this.now())
        await this.options.store.insert(tx, row)
        await this.options.audit.append(
          tx,
          {
            type: 'key.create',
            outcome: 'success',
            actors: [{ kind: 'system', id: 'mandate' }],
            resource: `key:${row.kid}`,
            details: { kid: row.kid, alg: row.alg },
          },
          new Date(this.now()),
        )
      })
      return this.load()
    }
    this.keys = rows.map((row) => this.unseal(row))
    this.generation++
  }

  /** The key that signs now: the most recently activated one. */
  signingKey(): SigningKey {
    const now = this.now()
    let current: SigningKey | undefined
    for (const key of this.keys)
      if (key.activatesAt <= now && (current === undefined || key.activatesAt >= current.activatesAt))
        current = key
    if (!current) throw new Error('no active signing key')
    return current
  }

  /** The published key set (RFC 7517 §5): pending, active and retired keys that may still verify a live token. */
  jwks(): { keys: JWK[] } {
    const now = this.now()
    return {
      keys: this.keys.filter((k) => k.publishUntil === null || k.publishUntil > now).map((k) => k.publicJwk),
    }
  }

  /** Every key with its state, for `mandate keys list`. */
  describe(): Array<{
    kid: string
    alg: SigningAlg
    state: KeyState
    activates_at: string
    publish_until: string | null
  }> {
    const signing = this.signingKey().kid
    const now = this.now()
    return this.keys.map((k) => ({
      kid: k.kid,
      alg: k.alg,
      state: k.kid === signing ? 'active' : k.activatesAt > now ? 'pending' : 'retired',
      activates_at: new Date(k.activatesAt).toISOString(),
      publish_until: k.publishUntil === null ? null : new Date(k.publishUntil).toISOString(),
    }))
  }

  /**
   * Starts a rotation: the new key is published now and signs from `now + propagation`; every older key stays published
   * until the last token it can sign has expired (its last signing moment + the longest token lifetime + clock skew).
   */
  async rotate(
    ctx: { actor: ActorRef; requestId?: string | undefined; traceparent?: string | undefined },
    reason: string,
  ): Promise<{ kid: string; activates_at: string }> {
    const rotated = await this.rotateUnless(ctx, reason, () => false)
    if (!rotated) throw new Error('rotation was skipped')
    return rotated
  }

  // Rotates unless `skip` says otherwise, judged on the keys as they are inside the write transaction, so two nodes
  // deciding at once rotate only once.
  private async rotateUnless(
    ctx: { actor: ActorRef; requestId?: string | undefined; traceparent?: string | undefined },
    reason: string,
    skip: (rows: SigningKeyRow[]) => boolean,
  ): Promise<{ kid: string; activates_at: string } | undefined> {
    const now = this.now()
    const row = await this.generate(now + this.options.propagationSeconds * 1000)
    const activatesAt = Date.parse(row.activates_at)
    const until = new Date(
      activatesAt + (this.options.maxTokenLifetimeSeconds + this.options.clockSkewSeconds) * 1000,
    ).toISOString()
    const done = await this.options.database.transact(async (tx) => {
      if (skip(await this.options.store.list(tx))) return false
      // A key still waiting to sign is superseded: it never signed anything, so it can go at once.
      const superseded = await this.options.store.deletePending(tx, new Date(now).toISOString(), '')
      await this.options.store.insert(tx, row)
      const retiring = await this.options.store.schedulePublishedUntil(tx, row.kid, until)
      const removed = await this.options.store.deleteUnpublished(tx, new Date(now).toISOString())
      await this.options.audit.append(
        tx,
        {
          type: 'key.rotate',
          outcome: 'success',
          actors: [ctx.actor],
          resource: `key:${row.kid}`,
          reason,
          ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
          ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
          details: {
            kid: row.kid,
            alg: row.alg,
            activates_at: row.activates_at,
            retiring,
            retiring_published_until: until,
            removed: [...superseded, ...removed],
          },
        },
        new Date(now),
      )
      return true
    })
    await this.load()
    return done ? { kid: row.kid, activates_at: row.activates_at } : undefined
  }

  /** Reloads the ring (other nodes may have rotated), then rotates when the signing key has signed for `rotationSeconds` and no newer key is waiting. */
  async rotateIfDue(rotationSeconds: number): Promise<boolean> {
    await this.load()
    if (rotationSeconds <= 0) return false
    const notDue = (activations: number[]) => {
      const newest = Math.max(...activations)
      return newest > this.now() || this.now() - newest < rotationSeconds * 1000
    }
    if (notDue(this.keys.map((k) => k.activatesAt))) return false
    const rotated = await this.rotateUnless(
      { actor: { kind: 'system', id: 'scheduler' } },
      'scheduled rotation',
      (rows) => notDue(rows.map((r) => Date.parse(r.activates_at))),
    )
    return rotated !== undefined
  }

  private async generate(activatesAt: number): Promise<SigningKeyRow> {
    const { privateKey, publicKey } = generatePair(this.options.alg)
    const publicJwk = publicKey.export({ format: 'jwk' }) as JWK
    const privateJwk = privateKey.export({ format: 'jwk' }) as JWK
    // RFC 7638 thumbprint as kid: stable, collision-free and meaningful to anyone holding the key.
    const kid = await calculateJwkThumbprint(publicJwk, 'sha256')
    return {
      kid,
      alg: this.options.alg,
      public_jwk: JSON.stringify({ ...publicJwk, kid, alg: this.options.alg, use: 'sig' }),
      private_jwk_sealed: this.options.masterKey.seal(JSON.stringify(privateJwk), `signing_key:${kid}`),
      created_at: new Date(this.now()).toISOString(),
      activates_at: new Date(activatesAt).toISOString(),
      publish_until: null,
    }
  }

  private unseal(row: SigningKeyRow): SigningKey {
    const privateJwk = JSON.parse(
      this.options.masterKey.open(row.private_jwk_sealed, `signing_key:${row.kid}`),
    )
    return {
      kid: row.kid,
      alg: row.alg as SigningAlg,
      publicJwk: JSON.parse(row.public_jwk),
      privateKey: createPrivateKey({ key: privateJwk, format: 'jwk' }),
      activatesAt: Date.parse(row.activates_at),
      publishUntil: row.publish_until === null ? null : Date.parse(row.publish_until),
    }
  }
}

function generatePair(alg: SigningAlg) {
  if (alg === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' })
  if (alg === 'EdDSA') return generateKeyPairSync('ed25519')
  return generateKeyPairSync('rsa', { modulusLength: 2048 })
}
