// Assembles the node's HTTP surface: discovery, health, metrics and the admin API, with one error model.

import { randomUUID } from 'node:crypto'
import swagger from '@fastify/swagger'
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify'
import type { AuditLog } from '../audit/audit-log.ts'
import type { CheckpointSigner } from '../audit/checkpoint.ts'
import type { AccessTokenAuthenticator } from '../authn/access-token.ts'
import type { AdminTokens } from '../authn/admin-token.ts'
import type { FailureLimiter } from '../authn/failure-limiter.ts'
import { TooManyRequests, ValidationFailed } from '../errors/mandate-error.ts'
import { InvalidRequest, RateLimited } from '../errors/oauth-error.ts'
import type { IntrospectionEndpoint, RevocationEndpoint } from '../oauth/introspection-endpoint.ts'
import { OAUTH_PATHS } from '../oauth/metadata.ts'
import type { TokenEndpoint } from '../oauth/token-endpoint.ts'
import type { PolicyDecisionPoint } from '../policy/pdp.ts'
import type { Directory } from '../registry/directory.ts'
import type { Registry } from '../registry/registry.ts'
import { createAjv } from '../registry/validate.ts'
import type { Database } from '../store/database.ts'
import type { KeyRing } from '../tokens/key-ring.ts'
import type { Revocations } from '../tokens/revocations.ts'
import { registerAuditRoutes } from './admin/audit-routes.ts'
import { requireAdmin } from './admin/auth.ts'
import { registerDecisionRoutes } from './admin/decision-routes.ts'
import { registerKeyRoutes } from './admin/keys-routes.ts'
import { registerRegistryRoutes } from './admin/registry-routes.ts'
import { registerRevocationRoutes } from './admin/revocation-routes.ts'
import { registerAuthzenRoutes } from './authzen-routes.ts'
import { handleError } from './errors.ts'
import { registerHealth } from './health.ts'
import { parseJsonBody } from './json-body.ts'
import { Metrics } from './metrics.ts'
import { registerOAuthRoutes } from './oauth-routes.ts'
import { findUnstorable } from './storable-input.ts'
import { registerWellKnown } from './well-known.ts'

/** What the HTTP layer needs from the node. */
export interface AppDeps {
  /** HTTPS material; with it the node asks for client certificates (RFC 8705) without requiring them. */
  tls?: { key: Buffer; cert: Buffer; ca?: Buffer } | undefined
  /** The issuer URL (a function: with port 0 it is known only once the server listens). */
  issuer: () => string
  bodyLimitBytes: number
  database: Database
  registry: Registry
  keyRing: KeyRing
  audit: AuditLog
  /** Verifies audit checkpoints given to `/audit/verify`, and publishes their public key. */
  checkpointSigner: CheckpointSigner
  adminTokens: AdminTokens
  tokenEndpoint: TokenEndpoint
  introspectionEndpoint: IntrospectionEndpoint
  revocationEndpoint: RevocationEndpoint
  revocations: Revocations
  pdp: PolicyDecisionPoint
  accessTokens: AccessTokenAuthenticator
  directory: Directory
  /** Failed authentications per source address: a source over its budget is answered 429. */
  failures: FailureLimiter
  logger: FastifyServerOptions['loggerInstance']
  version: string
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

// The surfaces whose callers authenticate, by path.
function surfaceOf(url: string): 'oauth' | 'authzen' | 'admin' | undefined {
  if (url.startsWith('/oauth/')) return 'oauth'
  if (url.startsWith('/access/')) return 'authzen'
  if (url.startsWith('/api/v1/')) return 'admin'
  return undefined
}

/** Builds the Fastify app (not listening). Tests may call it in-process with `app.inject`. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // Client certificates are requested but not required, and not rejected here: RFC 8705 §2.2 accepts self-signed
    // ones, and the client authentication method decides what a certificate proves.
    ...(deps.tls ? { https: { ...deps.tls, requestCert: true, rejectUnauthorized: false } } : {}),
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: deps.bodyLimitBytes,
    // Request lines would cost on the hot paths; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    // X-Request-ID is echoed when it is safe to, else one is made.
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    routerOptions: { maxParamLength: 256 },
    // Errors Fastify raises before routing (bad percent-encoding, over-long parameters) use our error model too.
    frameworkErrors: (error, request, reply) => handleError(error, request, reply),
  })
  app.addHook('onRequest', async (request, reply) => {
    const incoming = request.headers['x-request-id']
    if (typeof incoming !== 'string' || !REQUEST_ID.test(incoming)) request.id = randomUUID()
    void reply.header('x-request-id', request.id)
  })

  // Sources that keep failing to authenticate are answered 429 before any work, on every authenticated surface. The
  // token endpoint applies the same budget itself, where it knows whether the caller proved who it is.
  app.addHook('onRequest', async (request) => {
    const surface = surfaceOf(request.url)
    if (surface === undefined || request.url.startsWith(OAUTH_PATHS.token)) return
    const wait = deps.failures.retryAfter(request.ip)
    if (wait === 0) return
    const message = `too many failed requests from this address; retry in ${wait} s`
    throw surface === 'oauth' ? new RateLimited(message, wait) : new TooManyRequests(message, wait)
  })
  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode === 401 && !request.url.startsWith(OAUTH_PATHS.token)) deps.failures.fail(request.ip)
  })
  // What is recorded must be storable exactly as it is hashed: refuse NUL and lone surrogates in every input.
  app.addHook('preValidation', async (request) => {
    for (const [part, value] of [
      ['params', request.params],
      ['querystring', request.query],
      ['body', request.body],
    ] as const) {
      const problem = findUnstorable(value)
      if (!problem) continue
      if (surfaceOf(request.url) === 'oauth') {
        const name = problem.path.split('/')[1] ?? 'a parameter'
        throw new InvalidRequest(`${name} ${problem.message}`)
      }
      throw new ValidationFailed([
        { path: part === 'body' ? problem.path : `/${part}${problem.path}`, message: problem.message },
      ])
    }
  })

  const bodyAjv = createAjv()
  const paramsAjv = createAjv({ coerceTypes: 'array' })
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : paramsAjv).compile(schema),
  )
  app.removeAllContentTypeParsers()
  for (const type of ['application/json', 'application/merge-patch+json']) {
    app.addContentTypeParser(type, { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, parseJsonBody(body as string))
      } catch (error) {
        done(error as Error, undefined)
      }
    })
  }
  app.setErrorHandler(handleError)
  app.setNotFoundHandler((_request, reply) => {
    void reply.status(404).send({ error: 'not_found', error_description: 'no such endpoint' })
  })

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Mandate admin API',
        version: deps.version,
        description: 'Registry, signing keys and audit log of a Mandate node.',
      },
      components: { securitySchemes: { adminToken: { type: 'http', scheme: 'bearer' } } },
      security: [{ adminToken: [] }],
    },
  })
  new Metrics(() => deps.audit.status()).install(app)
  registerHealth(app, deps.database)
  registerWellKnown(app, { issuer: deps.issuer, keyRing: deps.keyRing, tls: deps.tls !== undefined })
  registerOAuthRoutes(app, {
    tokenEndpoint: deps.tokenEndpoint,
    introspectionEndpoint: deps.introspectionEndpoint,
    revocationEndpoint: deps.revocationEndpoint,
  })
  registerAuthzenRoutes(app, {
    pdp: deps.pdp,
    accessTokens: deps.accessTokens,
    adminTokens: deps.adminTokens,
    directory: deps.directory,
    issuer: deps.issuer,
  })
  app.get('/api/docs', { schema: { hide: true } }, async () => app.swagger())
  await app.register(
    async (admin) => {
      requireAdmin(admin, deps.adminTokens)
      registerRegistryRoutes(admin, deps.registry)
      registerKeyRoutes(admin, deps.keyRing)
      registerAuditRoutes(admin, {
        audit: deps.audit,
        database: deps.database,
        checkpointSigner: deps.checkpointSigner,
      })
      registerRevocationRoutes(admin, deps.revocations)
      registerDecisionRoutes(admin, { pdp: deps.pdp, directory: deps.directory })
    },
    { prefix: '/api/v1' },
  )
  return app
}
