// Admin API for the audit log: paged export with filters, and verification of the hash chain.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { AuditBreak, AuditLog } from '../../audit/audit-log.ts'
import type { Checkpoint, CheckpointSigner } from '../../audit/checkpoint.ts'
import { ValidationFailed } from '../../errors/mandate-error.ts'
import { normalizeRfc3339 } from '../../rfc3339.ts'
import type { Database } from '../../store/database.ts'
import { errorResponses } from './schemas.ts'

const EventsQuery = Type.Object(
  {
    after: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description: 'Return events after this sequence number.',
      }),
    ),
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'Page size.' }),
    ),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'From this time (inclusive).' })),
    until: Type.Optional(Type.String({ format: 'date-time', description: 'To this time (exclusive).' })),
    principal: Type.Optional(
      Type.String({ pattern: '^[a-z_]+:.{1,128}$', description: '`kind:id`, e.g. `agent:support-bot`.' }),
    ),
    type: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'Exact type, or a prefix ending in `.`.' }),
    ),
  },
  { additionalProperties: false },
)

const Actor = Type.Object({ kind: Type.String(), id: Type.String() })
const AuditEvent = Type.Object(
  {
    seq: Type.Integer({ minimum: 1 }),
    id: Type.String(),
    time: Type.String({ format: 'date-time' }),
    type: Type.String({
      description: 'Dotted, e.g. `admin.agent.create`, `token.issue`, `policy.decision`.',
    }),
    outcome: Type.Union([Type.Literal('success'), Type.Literal('failure'), Type.Literal('deny')]),
    actors: Type.Array(Actor, { description: 'Who acted, outermost first.' }),
    subjects: Type.Array(Type.String(), { description: 'Principals the event is about, as `kind:id`.' }),
    mode: Type.Union([Type.String(), Type.Null()]),
    action: Type.Union([Type.String(), Type.Null()]),
    resource: Type.Union([Type.String(), Type.Null()]),
    reason: Type.Union([Type.String(), Type.Null()]),
    request_id: Type.Union([Type.String(), Type.Null()]),
    traceparent: Type.Union([Type.String(), Type.Null()]),
    details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
    prev_hash: Type.String(),
    hash: Type.String({ description: 'HMAC-SHA256 over the previous hash and this event.' }),
  },
  { additionalProperties: true },
)

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
        maxItems: 10_000,
        description:
          'Checkpoints the node published (lines of its checkpoint file): each must verify, and the record it signed must still be in the log.',
      }),
    ),
  },
  { additionalProperties: false },
)

const Break = Type.Object({
  seq: Type.Integer(),
  problem: Type.Union(
    [
      'missing',
      'altered',
      'chain_broken',
      'truncated',
      'head_altered',
      'checkpoint_invalid',
      'checkpoint_mismatch',
    ].map((p) => Type.Literal(p)),
  ),
  message: Type.String(),
})

const AuditVerificationSchema = Type.Object(
  {
    ok: Type.Boolean(),
    records: Type.Integer({ minimum: 0 }),
    headSeq: Type.Integer({ minimum: 0 }),
    breaks: Type.Array(Break, { maxItems: 100, description: 'Every break found, in order (at most 100).' }),
    breakCount: Type.Integer({ minimum: 0, description: 'How many breaks there are in all.' }),
    firstBreak: Type.Optional(Break),
    incidents: Type.Integer({ minimum: 0, description: 'Recorded recoveries (`audit.recover` records).' }),
    checkpoints: Type.Optional(
      Type.Object({
        checked: Type.Integer({ minimum: 0 }),
        matched: Type.Integer({ minimum: 0 }),
        acknowledged: Type.Integer({
          minimum: 0,
          description: 'Checkpoints whose records were lost in a recorded recovery.',
        }),
      }),
    ),
  },
  { description: 'Whether the chain is intact, and if not, every place it breaks.' },
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
    {
      schema: {
        tags: ['audit'],
        summary: 'Read audit events',
        description:
          'In sequence order, a page at a time: pass `next_after` as `after` for the next page (null on the last).',
        querystring: EventsQuery,
        response: {
          200: Type.Object(
            {
              items: Type.Array(AuditEvent),
              next_after: Type.Union([Type.Integer(), Type.Null()], {
                description: 'Pass as `after` for the next page; null on the last page.',
              }),
            },
            { description: 'A page of events.' },
          ),
          ...errorResponses(400),
        },
      },
    },
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
      // Up to 10,000 checkpoints (a few MiB), whatever the node's general body limit.
      bodyLimit: 4 * 1024 * 1024,
      // A verification without a body checks the chain alone.
      preValidation: async (request) => {
        request.body ??= {}
      },
      schema: {
        tags: ['audit'],
        summary: 'Verify the audit chain',
        description:
          'Walks the hash chain and reports every record that is missing, altered, out of chain or cut off (the first 100, and their count). Given checkpoints the node published, also proves that the record each one signed is still there, so nothing before it was removed. It changes nothing, so read-only tokens may call it.',
        body: VerifyBody,
        response: {
          200: AuditVerificationSchema,
          ...errorResponses(),
        },
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
        summary: 'Get the key that verifies audit checkpoints',
        description:
          'The Ed25519 public key (a JWK) that verifies the checkpoints of the audit chain head this deployment publishes, for checking a checkpoint file without the master key.',
        response: {
          200: Type.Object(
            { kty: Type.Literal('OKP'), crv: Type.Literal('Ed25519'), x: Type.String() },
            { additionalProperties: true, description: 'A public JWK.' },
          ),
          ...errorResponses(),
        },
      },
    },
    async () => deps.checkpointSigner.publicJwk(),
  )
}
