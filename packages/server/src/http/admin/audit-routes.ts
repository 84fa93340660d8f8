// Admin API for the audit log: paged export with filters, and verification of the hash chain.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { AuditLog } from '../../audit/audit-log.ts'
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
    { schema: { tags: ['audit'], summary: 'Verify the hash chain; reports the first broken record' } },
    async () => deps.audit.verify(deps.database.db),
  )
}
