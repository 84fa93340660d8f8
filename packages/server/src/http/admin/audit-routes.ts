// Admin API for the audit log: paged export with filters, and verification of the hash chain.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { AuditBreak, AuditLog } from '../../audit/audit-log.ts'
import type { Checkpoint, CheckpointSigner } from '../../audit/checkpoint.ts'
import { ValidationFailed } from '../../errors/mandate-error.ts'
import { normalizeRfc3339 } from '../../rfc3339.ts'
import type { Database } from '../../store/database.ts'

const EventsQuery = Type.Object({
  after: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'Return events after this sequence number.',
    }),
  ),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  since: Type.Optional(Type.String({ format: 'date-time' })),
  until: Type.Optional(Type.String({ format: 'date-time' })),
  principal: Type.Optional(
    Type.String({ pattern: '^[a-z_]+:.{1,128}$', description: '`kind:id`, e.g. `agent:support-bot`.' }),
  ),
  type: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, description: 'Exact type, or a prefix ending in `.`.' }),
  ),
})

const SignedCheckpoint = Type.Object({
  seq: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  hash: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  epoch: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  time: Type.String({ maxLength: 64 }),
  signature: Type.String({ maxLength: 4096 }),
})

const VerifyBody = Type.Object(
  {
    checkpoints: Type.Optional(
      Type.Array(SignedCheckpoint, {
        maxItems: 1000,
        description:
          'Checkpoints the node published (lines of its checkpoint file): each must verify, and the record it signed must still be in the log.',
      }),
    ),
  },
  { additionalProperties: false },
)

function toTime(text: string, name: string): string {
  const time = normalizeRfc3339(text)
  if (time === undefined)
    throw new ValidationFailed([{ path: `/querystring/${name}`, message: 'must be an RFC 3339 time' }])
  return time
}

/** Registers `/audit/events` and `/audit/verify`. */
export function registerAuditRoutes(
  app: FastifyInstance,
  deps: { audit: AuditLog; database: Database; checkpointSigner: CheckpointSigner },
): void {
  app.get(
    '/audit/events',
    { schema: { tags: ['audit'], summary: 'Read audit events in order', querystring: EventsQuery } },
    async (request) => {
      const q = request.query as {
        after?: number
        limit: number
        since?: string
        until?: string
        principal?: string
        type?: string
      }
      const items = await deps.audit.read(deps.database.db, {
        limit: q.limit,
        afterSeq: q.after,
        ...(q.since ? { since: toTime(q.since, 'since') } : {}),
        ...(q.until ? { until: toTime(q.until, 'until') } : {}),
        ...(q.principal ? { principal: q.principal } : {}),
        ...(q.type ? { type: q.type } : {}),
      })
      const last = items.at(-1)
      return { items, next_after: items.length === q.limit && last ? last.seq : null }
    },
  )
  app.post(
    '/audit/verify',
    {
      // A verification without a body checks the chain alone.
      preValidation: async (request) => {
        request.body ??= {}
      },
      schema: {
        tags: ['audit'],
        summary: 'Verify the hash chain (and, given checkpoints, that nothing before them was removed)',
        body: VerifyBody,
      },
    },
    async (request) => {
      const given = (request.body as { checkpoints?: unknown[] } | undefined)?.checkpoints
      if (!given) return deps.audit.verify(deps.database.db)
      const checkpoints: Checkpoint[] = []
      const forged: AuditBreak[] = []
      for (const [i, signed] of given.entries()) {
        const checkpoint = await deps.checkpointSigner.verify(signed)
        if (checkpoint) checkpoints.push(checkpoint)
        else
          forged.push({
            seq: (signed as { seq: number }).seq,
            problem: 'checkpoint_invalid',
            message: `checkpoint ${i} is not signed by this deployment (the checkpoint file was edited, or another master key signed it)`,
          })
      }
      const result = await deps.audit.verify(deps.database.db, { checkpoints })
      if (forged.length === 0) return result
      const breaks = [...result.breaks, ...forged].slice(0, 100)
      return {
        ...result,
        ok: false,
        breaks,
        breakCount: result.breakCount + forged.length,
        firstBreak: breaks[0],
      }
    },
  )
  app.get(
    '/audit/checkpoint-key',
    {
      schema: {
        tags: ['audit'],
        summary: 'The public key (JWK) that verifies the audit checkpoints this deployment publishes',
      },
    },
    async () => deps.checkpointSigner.publicJwk(),
  )
}
