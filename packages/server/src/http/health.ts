// Liveness and readiness: `/healthz` answers while the process serves, `/readyz` only while the database answers.
import type { FastifyInstance } from 'fastify'
import type { Database } from '../store/database.ts'

/** Registers `/healthz` and `/readyz`. */
export function registerHealth(app: FastifyInstance, database: Database): void {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }))
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const ok = await database.ping()
    void reply.status(ok ? 200 : 503)
    return { status: ok ? 'ready' : 'unavailable', checks: { database: ok ? 'ok' : 'unavailable' } }
  })
}
