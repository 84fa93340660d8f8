// Admin API for the audit log: paged export with filters, and verification of the hash chain.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { AuditLog } from '../../audit/audit-log.ts'
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

function toTime(text: string, name: string): string {
  const time = normalizeRfc3339(text)
  if (time === undefined)
    throw new ValidationFailed([{ path: `/querystring/${name}`, message: 'must be an RFC 3339 time' }])
  return time
}

/** Registers `/audit/events` and `/audit/verify`. */
export function registerAuditRoutes(
  app: FastifyInstance,
  deps: { audit: AuditLog; database: Database },
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
      schema: {
        tags: ['audit'],
        summary: 'Verify the audit chain',
        description:
          'Walks the hash chain and reports the first record that is missing, altered, out of chain or cut off. It changes nothing, so read-only tokens may call it.',
        response: {
          200: Type.Object(
            {
              ok: Type.Boolean(),
              records: Type.Integer({ minimum: 0 }),
              headSeq: Type.Integer({ minimum: 0 }),
              firstBreak: Type.Optional(
                Type.Object({
                  seq: Type.Integer(),
                  problem: Type.Union(
                    ['missing', 'altered', 'chain_broken', 'truncated', 'head_altered'].map((p) =>
                      Type.Literal(p),
                    ),
                  ),
                  message: Type.String(),
                }),
              ),
            },
            { description: 'Whether the chain is intact, and if not, where it breaks.' },
          ),
          ...errorResponses(),
        },
      },
    },
    async () => deps.audit.verify(deps.database.db),
  )
}
