// Prometheus metrics on a registry of the node's own (never the global one): request counts and latencies by route.
import type { FastifyInstance } from 'fastify'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { AuditLogStatus } from '../audit/audit-log.ts'
import type { EngineStatus } from '../policy/pdp.ts'

/** The node's metrics. Labels never carry request data beyond the route pattern and status. */
export class Metrics {
  readonly registry = new Registry()
  readonly requests = new Counter({
    name: 'mandate_http_requests_total',
    help: 'HTTP requests by route and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [this.registry],
  })
  readonly duration = new Histogram({
    name: 'mandate_http_request_duration_seconds',
    help: 'HTTP request latency by route.',
    labelNames: ['method', 'route'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  })

  constructor(auditStatus: () => AuditLogStatus, policyEngine: () => EngineStatus) {
    collectDefaultMetrics({ register: this.registry, prefix: 'mandate_' })
    new Gauge({
      name: 'mandate_audit_refusing_writes',
      help: '1 while the audit log refuses writes (its head cannot be trusted), else 0.',
      registers: [this.registry],
      collect() {
        this.set(auditStatus().refusing === undefined ? 0 : 1)
      },
    })
    new Counter({
      name: 'mandate_audit_refused_writes_total',
      help: 'Writes the audit log refused because its head could not be trusted.',
      registers: [this.registry],
      collect() {
        this.reset()
        this.inc(auditStatus().refusedWrites)
      },
    })
    // The construct is a Cedar language feature the compiler names (a handful of values), never request data.
    new Gauge({
      name: 'mandate_policy_fallback',
      help: '1 while the loaded policy set is evaluated by cedar-wasm because the compiler does not handle a construct it uses (labelled with the construct), else 0.',
      labelNames: ['construct'],
      registers: [this.registry],
      collect() {
        this.reset()
        const { fallback } = policyEngine()
        if (fallback === undefined) this.set({ construct: '' }, 0)
        else this.set({ construct: fallback }, 1)
      },
    })
    new Counter({
      name: 'mandate_policy_fallback_decisions_total',
      help: 'Decisions evaluated by cedar-wasm because the loaded policy set uses a construct the compiler does not handle.',
      registers: [this.registry],
      collect() {
        this.reset()
        this.inc(policyEngine().fallbackDecisions)
      },
    })
  }

  /** Records every response of `app`, and serves `GET /metrics`. */
  install(app: FastifyInstance): void {
    // A callback hook: every response passes here, and an async hook costs a promise each.
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched'
      this.requests.inc({ method: request.method, route, status: String(reply.statusCode) })
      this.duration.observe({ method: request.method, route }, reply.elapsedTime / 1000)
      done()
    })
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      void reply.type(this.registry.contentType)
      return this.registry.metrics()
    })
  }
}
