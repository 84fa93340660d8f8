// The key-encryption key: seals secrets at rest (signing keys, later vault entries) with AES-256-GCM and derives the
// audit chain key. It comes from configuration, or from a 0600 file generated in the data directory.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { Executor } from '../store/database.ts'

/** Why the master key could not be used; the message says what to do, and never contains the key. */
export class MasterKeyError extends Error {
  readonly code = 'master_key_invalid'
}

/** Where the master key came from, for the start-up message. */
export type MasterKeySource = 'env' | 'file' | 'generated'

/** What a master key must look like, for messages. */
export const MASTER_KEY_FORMAT =
  'must be 32 random bytes as base64 or 64 hex digits (try: openssl rand -base64 32)'

/** Decodes a master key's text form (32 bytes as base64, base64url or hex), or undefined when it is not one. */
export function decodeMasterKey(text: string): Buffer | undefined {
  const trimmed = text.trim()
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex')
  if (!/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(trimmed)) return undefined
  const bytes = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
  return bytes.length === 32 ? bytes : undefined
}

const CHECK_PLAINTEXT = 'mandate master key check v1'

/** Seals and opens secrets under the master key. */
export class MasterKey {
  private constructor(private readonly key: Buffer) {}

  /** Builds a master key from its text form: 32 bytes as base64, base64url or hex. */
  static fromText(text: string, setting: string): MasterKey {
    const bytes = decodeMasterKey(text)
    if (!bytes) throw new MasterKeyError(`${setting} ${MASTER_KEY_FORMAT}`)
    return new MasterKey(bytes)
  }

  /**
   * Resolves the master key from configuration. With neither a key nor a key file, the embedded store gets a generated
   * key file in the data directory (mode 0600); PostgreSQL deployments must configure one, since every node needs the same.
   */
  static resolve(options: {
    masterKey?: string | undefined
    masterKeyFile?: string | undefined
    dataDir: string
    embedded: boolean
  }): {
    key: MasterKey
    source: MasterKeySource
    file?: string
  } {
    if (options.masterKey !== undefined)
      return { key: MasterKey.fromText(options.masterKey, 'MANDATE_MASTER_KEY'), source: 'env' }
    if (options.masterKeyFile !== undefined) {
      return {
        key: MasterKey.fromText(readKeyFile(options.masterKeyFile), 'MANDATE_MASTER_KEY_FILE'),
        source: 'file',
        file: options.masterKeyFile,
      }
    }
    if (!options.embedded) {
      throw new MasterKeyError(
        'MANDATE_MASTER_KEY (or MANDATE_MASTER_KEY_FILE) is required with PostgreSQL: every node must use the same key',
      )
    }
    const file = join(resolve(options.dataDir), 'master.key')
    if (existsSync(file)) return { key: MasterKey.fromText(readKeyFile(file), file), source: 'file', file }
    // A store without its key file lost the key: a new one could not open anything sealed in it.
    if (existsSync(join(resolve(options.dataDir), 'mandate.db'))) {
      throw new MasterKeyError(
        `${file} is missing but the store in ${options.dataDir} exists: restore the key file or set MANDATE_MASTER_KEY`,
      )
    }
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' })
    chmodSync(file, 0o600)
    return { key: MasterKey.fromText(readKeyFile(file), file), source: 'generated', file }
  }

  /** Encrypts `plaintext`, bound to `context` (e.g. the row it belongs to), as `v1.<iv>.<ciphertext>.<tag>` base64url. */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    cipher.setAAD(Buffer.from(context))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return [
      'v1',
      iv.toString('base64url'),
      body.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
    ].join('.')
  }

  /** Decrypts what `seal` produced for the same context; throws MasterKeyError if the key or context is wrong. */
  open(sealed: string, context: string): string {
    const [version, iv, body, tag] = sealed.split('.')
    if (version !== 'v1' || iv === undefined || body === undefined || tag === undefined)
      throw new MasterKeyError('sealed value has an unknown format')
    const nonce = Buffer.from(iv, 'base64url')
    const authTag = Buffer.from(tag, 'base64url')
    // Exactly a 96-bit IV and a full 128-bit tag: GCM would otherwise accept truncated tags.
    if (nonce.length !== 12 || authTag.length !== 16) throw new MasterKeyError('sealed value is malformed')
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, nonce, { authTagLength: 16 })
      decipher.setAAD(Buffer.from(context))
      decipher.setAuthTag(authTag)
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
        'utf8',
      )
    } catch {
      throw new MasterKeyError('cannot decrypt with this master key')
    }
  }

  /** Derives an independent 32-byte key for one purpose (HKDF-SHA256, RFC 5869). */
  derive(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.key, Buffer.alloc(0), `mandate:${purpose}`, 32))
  }

  /**
   * Checks that this is the key the store was sealed with (recording a check value on first use), so that a wrong key
   * stops start-up before anything is sealed twice under different keys.
   */
  async checkAgainst(ex: Executor): Promise<void> {
    const row = await ex
      .selectFrom('meta')
      .select('value')
      .where('key', '=', 'master_key_check')
      .executeTakeFirst()
    if (!row) {
      await ex
        .insertInto('meta')
        .values({ key: 'master_key_check', value: this.seal(CHECK_PLAINTEXT, 'master_key_check') })
        .onConflict((oc) => oc.doNothing())
        .execute()
      return this.checkAgainst(ex)
    }
    let plaintext: string
    try {
      plaintext = this.open(row.value, 'master_key_check')
    } catch {
      throw new MasterKeyError(
        'the master key does not match the one this store was created with; set MANDATE_MASTER_KEY to the original key',
      )
    }
    if (plaintext !== CHECK_PLAINTEXT) throw new MasterKeyError('the master key check value is corrupt')
  }
}

function readKeyFile(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    throw new MasterKeyError(
      `cannot read master key file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    )
  }
}
