// Key ring rotation: a new key is published before it signs, and retired keys stay published until their tokens expire.
import assert from 'node:assert/strict'
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createLocalJWKSet, jwtVerify, SignJWT } from 'jose'
import { AuditLog } from '../../src/audit/audit-log.ts'
import { type Database, openDatabase } from '../../src/store/database.ts'
import { SigningKeyStore } from '../../src/store/signing-key-store.ts'
import { KeyRing, type SigningAlg } from '../../src/tokens/key-ring.ts'
import { MasterKey, MasterKeyError } from '../../src/tokens/master-key.ts'
import { newMasterKey, tempDir } from '../support/harness.ts'

const PROPAGATION = 600
const MAX_TTL = 3600
const SKEW = 30
const system = { kind: 'system' as const, id: 'test' }

describe('signing key ring', () => {
  const dir = tempDir()
  let database: Database
  let clock = Date.parse('2026-06-01T00:00:00Z')
  const masterKey = MasterKey.fromText(newMasterKey(), 'test')
  const audit = new AuditLog(masterKey.derive('audit-chain'))
  const ring = (alg: SigningAlg = 'ES256') =>
    new KeyRing({
      database,
      store: new SigningKeyStore(),
      audit,
      masterKey,
      alg,
      propagationSeconds: PROPAGATION,
      maxTokenLifetimeSeconds: MAX_TTL,
      clockSkewSeconds: SKEW,
      now: () => clock,
    })

  before(async () => {
    database = await openDatabase({ dialect: 'sqlite', file: join(dir.path, 'mandate.db') })
    await database.migrate()
    await audit.initialize(database.db)
  })
  after(async () => {
    await database.close()
    dir.drop()
  })

  async function sign(keyRing: KeyRing, exp: number): Promise<string> {
    const key = keyRing.signingKey()
    return new SignJWT({})
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .setIssuedAt(Math.floor(clock / 1000))
      .setExpirationTime(Math.floor(exp / 1000))
      .sign(key.privateKey)
  }

  it('creates one active key on first load, with its private key sealed at rest', async () => {
    const keyRing = ring()
    await keyRing.load()
    assert.equal(keyRing.jwks().keys.length, 1)
    const [row] = await new SigningKeyStore().list(database.db)
    assert.ok(row)
    const privateJwk = JSON.parse(masterKey.open(row.private_jwk_sealed, `signing_key:${row.kid}`))
    assert.ok(
      typeof privateJwk.d === 'string' && !row.private_jwk_sealed.includes(privateJwk.d),
      'the private key is not stored in clear',
    )
    assert.equal('d' in (keyRing.jwks().keys[0] ?? {}), false, 'the JWKS holds public keys only')
    assert.throws(
      () =>
        MasterKey.fromText(newMasterKey(), 'other').open(row.private_jwk_sealed, `signing_key:${row.kid}`),
      MasterKeyError,
    )
  })

  it('publishes a rotated key before it signs anything, and keeps the old key until its tokens have expired', async () => {
    const keyRing = ring()
    await keyRing.load()
    const oldKid = keyRing.signingKey().kid
    const { kid: newKid } = await keyRing.rotate({ actor: system }, 'test')
    assert.deepEqual(
      keyRing
        .jwks()
        .keys.map((k) => k.kid)
        .sort(),
      [oldKid, newKid].sort(),
      'the new key is published at once',
    )
    assert.equal(keyRing.signingKey().kid, oldKid, 'but the old key still signs during propagation')
    assert.equal(keyRing.describe().find((k) => k.kid === newKid)?.state, 'pending')

    // The last token the old key signs, just before the switch, lives for the longest lifetime.
    clock += PROPAGATION * 1000 - 1
    const lastOldToken = await sign(keyRing, clock + MAX_TTL * 1000)
    clock += 1
    assert.equal(keyRing.signingKey().kid, newKid, 'the new key signs once propagation is over')
    assert.equal(keyRing.describe().find((k) => k.kid === oldKid)?.state, 'retired')

    clock += MAX_TTL * 1000 - 2000
    const stillPublished = createLocalJWKSet(keyRing.jwks())
    await jwtVerify(lastOldToken, stillPublished, { currentDate: new Date(clock) })

    clock += (SKEW + 3) * 1000
    assert.deepEqual(
      keyRing.jwks().keys.map((k) => k.kid),
      [newKid],
      'the old key leaves the JWKS after its last token expired',
    )
  })

  it('lets another node sharing the store see a rotation on reload', async () => {
    const nodeA = ring()
    const nodeB = ring()
    await nodeA.load()
    await nodeB.load()
    const { kid } = await nodeA.rotate({ actor: system }, 'test')
    assert.equal(
      nodeB.jwks().keys.some((k) => k.kid === kid),
      false,
    )
    await nodeB.rotateIfDue(0)
    assert.equal(
      nodeB.jwks().keys.some((k) => k.kid === kid),
      true,
    )
    assert.notEqual(nodeB.signingKey().kid, kid, 'node B does not sign with the pending key either')
  })

  it('rotates on schedule only when the signing key is old enough and no key is pending', async () => {
    clock += (PROPAGATION + 1) * 1000
    const keyRing = ring()
    assert.equal(await keyRing.rotateIfDue(86400), false, 'a key younger than the interval is kept')
    clock += 86400 * 1000
    assert.equal(await keyRing.rotateIfDue(86400), true)
    assert.equal(await keyRing.rotateIfDue(86400), false, 'no second rotation while a key is pending')
  })

  it('rotates once when two nodes find the key due at the same moment', async () => {
    clock += (PROPAGATION + 1) * 1000 + 86400 * 1000
    const rotations = async () => (await audit.read(database.db, { limit: 100, type: 'key.rotate' })).length
    const before = await rotations()
    const results = await Promise.all([ring().rotateIfDue(86400), ring().rotateIfDue(86400)])
    assert.deepEqual(results.sort(), [false, true])
    assert.equal((await rotations()) - before, 1)
  })

  it('records every rotation in the audit log', async () => {
    const rotations = await audit.read(database.db, { limit: 100, type: 'key.rotate' })
    assert.equal(rotations.length, 4)
    assert.ok(
      rotations.every((e) => typeof e.details?.kid === 'string' && !JSON.stringify(e).includes('"d":')),
    )
  })

  for (const alg of ['EdDSA', 'RS256'] as const) {
    it(`signs with ${alg} keys that verify against the published JWKS`, async () => {
      const keyRing = ring(alg)
      await keyRing.load()
      await keyRing.rotate({ actor: system }, alg)
      clock += PROPAGATION * 1000
      const key = keyRing.signingKey()
      assert.equal(key.alg, alg)
      const token = await sign(keyRing, clock + 60_000)
      const { protectedHeader } = await jwtVerify(token, createLocalJWKSet(keyRing.jwks()), {
        currentDate: new Date(clock),
      })
      assert.equal(protectedHeader.kid, key.kid)
    })
  }
})

describe('master key', () => {
  it('accepts 32 bytes as base64, base64url or hex, and refuses anything else without echoing it', () => {
    const bytes = Buffer.alloc(32, 7)
    for (const text of [bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex')])
      MasterKey.fromText(text, 'K')
    for (const bad of [
      'short',
      Buffer.alloc(16).toString('base64'),
      'x'.repeat(64),
      `${bytes.toString('hex')}00`,
    ]) {
      assert.throws(
        () => MasterKey.fromText(bad, 'MANDATE_MASTER_KEY'),
        (error: Error) =>
          error instanceof MasterKeyError &&
          error.message.includes('MANDATE_MASTER_KEY') &&
          !error.message.includes(bad),
      )
    }
  })

  it('seals with AES-256-GCM bound to a context: another context or key cannot open it', () => {
    const key = MasterKey.fromText(newMasterKey(), 'K')
    const sealed = key.seal('secret value', 'row:1')
    assert.equal(key.open(sealed, 'row:1'), 'secret value')
    assert.notEqual(key.seal('secret value', 'row:1'), sealed, 'a fresh IV every time')
    assert.throws(() => key.open(sealed, 'row:2'), MasterKeyError)
    assert.throws(() => MasterKey.fromText(newMasterKey(), 'K').open(sealed, 'row:1'), MasterKeyError)
    const [v, iv, body, tag] = sealed.split('.')
    const flipped = `${v}.${iv}.${Buffer.from(Buffer.from(String(body), 'base64url').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64url')}.${tag}`
    assert.throws(() => key.open(flipped, 'row:1'), MasterKeyError, 'a modified ciphertext is refused')
    const shortTag = `${v}.${iv}.${body}.${Buffer.from(String(tag), 'base64url').subarray(0, 4).toString('base64url')}`
    assert.throws(
      () => key.open(shortTag, 'row:1'),
      MasterKeyError,
      'a truncated authentication tag is refused',
    )
  })

  it('generates a 0600 key file for the embedded store, and requires a configured key with PostgreSQL', () => {
    const dir = tempDir()
    try {
      const generated = MasterKey.resolve({ dataDir: dir.path, embedded: true })
      assert.equal(generated.source, 'generated')
      assert.equal(statSync(String(generated.file)).mode & 0o777, 0o600)
      const again = MasterKey.resolve({ dataDir: dir.path, embedded: true })
      assert.equal(again.source, 'file')
      assert.equal(again.key.open(generated.key.seal('x', 'c'), 'c'), 'x', 'the same key is read back')
      assert.throws(
        () => MasterKey.resolve({ dataDir: dir.path, embedded: false }),
        /MANDATE_MASTER_KEY.*required with PostgreSQL/,
      )
      // A store whose key file is gone is refused, and no new key is written beside it.
      rmSync(String(generated.file))
      writeFileSync(join(dir.path, 'mandate.db'), '')
      assert.throws(
        () => MasterKey.resolve({ dataDir: dir.path, embedded: true }),
        /master\.key is missing but the store/,
      )
      assert.equal(existsSync(String(generated.file)), false)
    } finally {
      dir.drop()
    }
  })

  it('refuses a store sealed under another key', async () => {
    const dir = tempDir()
    const database = await openDatabase({ dialect: 'sqlite', file: join(dir.path, 'mandate.db') })
    try {
      await database.migrate()
      await MasterKey.fromText(newMasterKey(), 'K').checkAgainst(database.db)
      await assert.rejects(
        MasterKey.fromText(newMasterKey(), 'K').checkAgainst(database.db),
        /does not match/,
      )
    } finally {
      await database.close()
      dir.drop()
    }
  })
})
