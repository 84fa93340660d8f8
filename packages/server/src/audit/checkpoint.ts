// Signed checkpoints of the audit chain head, published outside the database: whoever can rewrite the database can
// delete the newest records and put an old head back, but cannot change what was already published. A checkpoint is
// an Ed25519 JWS (key derived from the master key) over the head's sequence number, hash, epoch and time.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { CompactSign, compactVerify, exportJWK, type JWK } from 'jose'
import { canonicalJson } from './canonical-json.ts'

/** The head of the chain at one moment. */
export interface Checkpoint {
  seq: number
  hash: string
  epoch: number
  /** When it was taken, RFC 3339. */
  time: string
}

/** A checkpoint with its signature: a compact JWS whose payload is the checkpoint's canonical JSON. */
export interface SignedCheckpoint extends Checkpoint {
  signature: string
}

/** JWS `typ` of a checkpoint. */
const CHECKPOINT_TYP = 'mandate-audit-checkpoint+jws'

// RFC 8410 §7: the DER prefix of a PKCS #8 Ed25519 private key, followed by its 32-byte seed.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

/** Signs and verifies checkpoints with an Ed25519 key derived from the master key (so every node has the same one). */
export class CheckpointSigner {
  private readonly privateKey: KeyObject
  private readonly publicKey: KeyObject

  /** `seed`: 32 bytes, derived from the master key for this purpose only. */
  constructor(seed: Buffer) {
    if (seed.length !== 32) throw new Error('a checkpoint key seed is 32 bytes')
    this.privateKey = createPrivateKey({
      key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
      format: 'der',
      type: 'pkcs8',
    })
    this.publicKey = createPublicKey(this.privateKey)
  }

  /** Signs a checkpoint. */
  async sign(checkpoint: Checkpoint): Promise<SignedCheckpoint> {
    const payload = new TextEncoder().encode(canonicalJson(pick(checkpoint)))
    const signature = await new CompactSign(payload)
      .setProtectedHeader({ alg: 'EdDSA', typ: CHECKPOINT_TYP })
      .sign(this.privateKey)
    return { ...pick(checkpoint), signature }
  }

  /** The checkpoint a signature proves, when it was signed by this key and matches its stated fields; else undefined. */
  async verify(signed: unknown): Promise<Checkpoint | undefined> {
    if (!isSignedCheckpoint(signed)) return undefined
    try {
      const { payload, protectedHeader } = await compactVerify(signed.signature, this.publicKey, {
        algorithms: ['EdDSA'],
      })
      if (protectedHeader.typ !== CHECKPOINT_TYP) return undefined
      const claimed = JSON.parse(new TextDecoder().decode(payload)) as Checkpoint
      if (canonicalJson(pick(claimed)) !== canonicalJson(pick(signed))) return undefined
      return pick(signed)
    } catch {
      return undefined
    }
  }

  /** The public key, as a JWK, for anyone who verifies checkpoint files without the master key. */
  async publicJwk(): Promise<JWK> {
    return { ...(await exportJWK(this.publicKey)), alg: 'EdDSA', use: 'sig' }
  }
}

function pick(c: Checkpoint): Checkpoint {
  return { seq: c.seq, hash: c.hash, epoch: c.epoch, time: c.time }
}

function isSignedCheckpoint(value: unknown): value is SignedCheckpoint {
  const v = value as Partial<SignedCheckpoint> | null
  return (
    v !== null &&
    typeof v === 'object' &&
    Number.isSafeInteger(v.seq) &&
    Number.isSafeInteger(v.epoch) &&
    typeof v.hash === 'string' &&
    typeof v.time === 'string' &&
    typeof v.signature === 'string' &&
    v.signature.length < 4096
  )
}

/** Where checkpoints go: outside the database. A file today; a stream later. */
export interface CheckpointSink {
  /** Publishes one checkpoint durably. */
  publish(checkpoint: SignedCheckpoint): Promise<void>
  /** The newest checkpoint published, when there is one. */
  latest(): Promise<SignedCheckpoint | undefined>
}

/** How much of a checkpoint file's end is read to find its newest line. */
const TAIL_BYTES = 64 * 1024

/** Appends checkpoints to a file, one JSON object per line, each write flushed to disk. */
export class FileCheckpointSink implements CheckpointSink {
  constructor(readonly file: string) {}

  async publish(checkpoint: SignedCheckpoint): Promise<void> {
    mkdirSync(dirname(this.file), { recursive: true })
    const handle = await open(this.file, 'a', 0o644)
    try {
      await handle.appendFile(`${JSON.stringify(checkpoint)}\n`)
      await handle.sync()
    } finally {
      await handle.close()
    }
  }

  async latest(): Promise<SignedCheckpoint | undefined> {
    return (await readCheckpointLines(this.file, TAIL_BYTES)).at(-1)
  }
}

/**
 * The checkpoints of a file that parse (signatures unchecked), oldest first; with `tailBytes`, only those in the file's
 * last bytes. A missing file has none.
 */
export async function readCheckpointLines(file: string, tailBytes?: number): Promise<SignedCheckpoint[]> {
  let text: string
  try {
    const handle = await open(file, 'r')
    try {
      const { size } = await handle.stat()
      const length = tailBytes === undefined ? size : Math.min(size, tailBytes)
      const buffer = Buffer.alloc(length)
      await handle.read(buffer, 0, length, size - length)
      text = buffer.toString('utf8')
    } finally {
      await handle.close()
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  const checkpoints: SignedCheckpoint[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    try {
      const parsed: unknown = JSON.parse(line)
      if (isSignedCheckpoint(parsed)) checkpoints.push(parsed)
    } catch {
      // A partial first line (cut by the tail read) or a torn last line is not a checkpoint.
    }
  }
  return checkpoints
}
