// Liveness and readiness: `/healthz` answers while the process serves; `/readyz` only while the database answers and
// the audit writer thread is ready (a node whose writer starts, or starts again after it stopped, refuses every record,
// so every request that must be recorded: a load balancer should send it nothing meanwhile).
import type { FastifyInstance } from 'fastify'
import type { AuditLogStatus } from '../audit/audit-log.ts'
import type { Database } from '../store/database.ts'

/** Registers `/healthz` and `/readyz`; `auditStatus` tells whether the node's audit writer is ready, when it has one. */
export function registerHealth(
  app: FastifyInstance,
  database: Database,
  auditStatus?: () => AuditLogStatus,
): void {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }))
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const writer = auditStatus?.().writer
    const databaseOk = await database.ping()
    const ok = databaseOk && writer !== 'unavailable'
    void reply.status(ok ? 200 : 503)
    return {
      status: ok ? 'ready' : 'unavailable',
      checks: {
        database: databaseOk ? 'ok' : 'unavailable',
        ...(writer ? { audit_writer: writer === 'ready' ? 'ok' : 'unavailable' } : {}),
      },
    }
  })
}
