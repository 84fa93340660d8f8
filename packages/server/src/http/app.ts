// Assembles the node's HTTP surface: discovery, health, metrics, the admin API and its documentation, with one error
// model and one log line per request.

import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Approvals } from '../approvals/approvals.ts'
import type { AuditLog, AuditLogStatus } from '../audit/audit-log.ts'
import type { CheckpointSigner } from '../audit/checkpoint.ts'
import { findUnstorable } from '../audit/storable.ts'
import type { AccessTokenAuthenticator } from '../authn/access-token.ts'
import type { AdminTokens } from '../authn/admin-token.ts'
import type { FailureLimiter } from '../authn/failure-limiter.ts'
import { TooManyRequests, ValidationFailed } from '../errors/mandate-error.ts'
import { InvalidRequest, RateLimited } from '../errors/oauth-error.ts'
import type { DevIdp } from '../login/dev-idp.ts'
import type { RelyingParty } from '../login/relying-party.ts'
import type { Sessions } from '../login/sessions.ts'
import type { Mandates } from '../mandates/mandates.ts'
import type { AuthorizationEndpoint } from '../oauth/authorization-endpoint.ts'
import type { BackchannelEndpoint } from '../oauth/backchannel-endpoint.ts'
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
import { registerApprovalRoutes } from './admin/approval-routes.ts'
import { registerAuditRoutes } from './admin/audit-routes.ts'
import { requireAdmin } from './admin/auth.ts'
import { registerDecisionRoutes } from './admin/decision-routes.ts'
import { registerKeyRoutes } from './admin/keys-routes.ts'
import { registerMandateRoutes } from './admin/mandate-routes.ts'
import { registerRegistryRoutes } from './admin/registry-routes.ts'
import { registerRevocationRoutes } from './admin/revocation-routes.ts'
import { registerAdminSchemas } from './admin/schemas.ts'
import { registerAuthorizationRoutes } from './authorization-routes.ts'
import { registerAuthzenRoutes } from './authzen-routes.ts'
import { handleError } from './errors.ts'
import { registerHealth } from './health.ts'
import { parsedStorable, parseJsonBody } from './json-body.ts'
import { answerWrongMethods } from './method-not-allowed.ts'
import { Metrics } from './metrics.ts'
import { registerOAuthRoutes } from './oauth-routes.ts'
import { openApiDocument } from './openapi.ts'
import { lazyChildLogger, RequestLog } from './request-log.ts'
import { requestPath } from './request-path.ts'
import { registerApprovalPages } from './web/approval-routes.ts'
import { registerConsentRoutes } from './web/consent-routes.ts'
import { registerDevIdpRoutes } from './web/dev-idp-routes.ts'
import { registerLoginRoutes } from './web/login-routes.ts'
import { registerMyMandatesRoutes } from './web/my-mandates-routes.ts'
import { WebSessions } from './web/session.ts'
import { registerWellKnown } from './well-known.ts'

/** What the HTTP layer needs from the node. */
export interface AppDeps {
  /** Proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges, comma-separated); none when unset. */
  trustProxy?: string | undefined
  /** HTTPS material; with it the node asks for client certificates (RFC 8705) without requiring them. */
  tls?: { key: Buffer; cert: Buffer; ca?: Buffer } | undefined
  /** The issuer URL (a function: with port 0 it is known only once the server listens). */
  issuer: () => string
  bodyLimitBytes: number
  database: Database
  registry: Registry
  keyRing: KeyRing
  audit: AuditLog
  /** The node's audit health for /metrics: its own log's and its writer thread's. */
  auditStatus: () => AuditLogStatus
  /** Verifies audit checkpoints given to `/audit/verify`, and publishes their public key. */
  checkpointSigner: CheckpointSigner
  adminTokens: AdminTokens
  tokenEndpoint: TokenEndpoint
  introspectionEndpoint: IntrospectionEndpoint
  revocationEndpoint: RevocationEndpoint
  /** CIBA backchannel authentication (poll mode). */
  backchannelEndpoint: BackchannelEndpoint
  /** Approval requests, for the admin API. */
  approvals: Approvals
  revocations: Revocations
  mandates: Mandates
  pdp: PolicyDecisionPoint
  accessTokens: AccessTokenAuthenticator
  directory: Directory
  authorizationEndpoint: AuthorizationEndpoint
  /** Failed authentications per source address: a source over its budget is answered 429. */
  failures: FailureLimiter
  logger: FastifyServerOptions['loggerInstance']
  version: string
  /** Browser sessions and human login (the pages). */
  sessions: Sessions
  relyingParty: RelyingParty
  sessionMaxSeconds: number
  /** The development IdP, when it runs (built on first use). */
  devIdp?: (() => DevIdp) | undefined
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

// The surfaces whose callers authenticate, by path (`requestPath`: of an absolute-form target too).
function surfaceOf(path: string): 'oauth' | 'authzen' | 'admin' | undefined {
  if (path.startsWith('/oauth/')) return 'oauth'
  if (path.startsWith('/access/')) return 'authzen'
  if (path.startsWith('/api/v1/')) return 'admin'
  return undefined
}

// X-Request-ID is adopted when it is safe to echo and to log, else one is made.
function requestId(request: IncomingMessage): string {
  const incoming = request.headers['x-request-id']
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID()
}

// The admin API's browsable documentation loads only its own assets from the package, so the policy can be strict;
// Swagger UI sets inline styles.
const DOCS_CSP =
  "default-src 'self'; base-uri 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'"

/** Builds the Fastify app (not listening). Tests may call it in-process with `app.inject`. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // Client certificates are requested but not required, and not rejected here: RFC 8705 §2.2 accepts self-signed
    // ones, and the client authentication method decides what a certificate proves.
    ...(deps.tls ? { https: { ...deps.tls, requestCert: true, rejectUnauthorized: false } } : {}),
    // request.ip is the client's address: the connection's, or the one trusted proxies forwarded.
    ...(deps.trustProxy ? { trustProxy: deps.trustProxy } : {}),
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: deps.bodyLimitBytes,
    // One line per request (request id, method, path, route, status, duration); errors are logged by the error handler.
    logController: new RequestLog(),
    // A request's own logger is made when it first logs at an enabled level.
    ...(deps.logger ? { childLoggerFactory: lazyChildLogger } : {}),
    requestIdHeader: false,
    genReqId: requestId,
    routerOptions: { maxParamLength: 256 },
    // Errors Fastify raises before routing (bad percent-encoding, over-long parameters) use our error model too.
    frameworkErrors: (error, request, reply) => handleError(error, request, reply),
  })
  // Every request passes the hooks below, so they are callback hooks (no promise each) and do no work a request does
  // not need.
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id)
    done()
  })
  answerWrongMethods(app, {
    oauthPaths: new Set([
      OAUTH_PATHS.token,
      OAUTH_PATHS.introspection,
      OAUTH_PATHS.revocation,
      OAUTH_PATHS.par,
      OAUTH_PATHS.backchannel,
      OAUTH_PATHS.authorization,
    ]),
  })

  // Sources that keep failing to authenticate are answered 429 before any work, on every authenticated surface. The
  // token endpoint applies the same budget itself, where it knows whether the caller proved who it is.
  app.addHook('onRequest', (request, _reply, done) => {
    const path = requestPath(request.url)
    const surface = surfaceOf(path)
    if (surface === undefined || path === OAUTH_PATHS.token) return done()
    const wait = deps.failures.retryAfter(request.ip)
    if (wait === 0) return done()
    const message = `too many failed requests from this address; retry in ${wait} s`
    done(surface === 'oauth' ? new RateLimited(message, wait) : new TooManyRequests(message, wait))
  })
  app.addHook('onResponse', (request, reply, done) => {
    if (reply.statusCode === 401 && requestPath(request.url) !== OAUTH_PATHS.token)
      deps.failures.fail(request.ip)
    done()
  })
  // What is recorded must be storable exactly as it is hashed: refuse NUL and lone surrogates in every input. A body
  // the JSON parser vouches for (parsed from text that cannot hold either) is not walked again.
  app.addHook('preValidation', (request, _reply, done) => {
    // The authorization endpoint checks its own parameters: its refusals are pages or redirects, not JSON.
    if (requestPath(request.url) === OAUTH_PATHS.authorization) return done()
    for (const [part, value] of [
      ['params', request.params],
      ['querystring', request.query],
      ['body', request.body],
    ] as const) {
      const problem = part === 'body' && parsedStorable(value) ? undefined : findUnstorable(value)
      if (!problem) continue
      if (surfaceOf(requestPath(request.url)) === 'oauth') {
        const name = problem.path.split('/')[1] ?? 'a parameter'
        return done(new InvalidRequest(`${name} ${problem.message}`))
      }
      return done(
        new ValidationFailed([
          { path: part === 'body' ? problem.path : `/${part}${problem.path}`, message: problem.message },
        ]),
      )
    }
    done()
  })

  const bodyAjv = createAjv()
  const paramsAjv = createAjv({ coerceTypes: 'array' })
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : paramsAjv).compile(schema),
  )
  // Response schemas document the admin API; bodies are serialized as they are, so a schema never drops a field.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data))
  registerAdminSchemas(app)
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

  await app.register(swagger, openApiDocument(deps.version))
  new Metrics(deps.auditStatus, () => deps.pdp.engineStatus()).install(app)
  registerHealth(app, deps.database, deps.auditStatus)
  registerWellKnown(app, {
    issuer: deps.issuer,
    keyRing: deps.keyRing,
    tls: deps.tls !== undefined,
    detailsTypes: () => [
      ...new Set([...deps.directory.resourceServers()].flatMap((rs) => rs.authorization_details_types)),
    ],
  })
  registerOAuthRoutes(app, {
    tokenEndpoint: deps.tokenEndpoint,
    introspectionEndpoint: deps.introspectionEndpoint,
    revocationEndpoint: deps.revocationEndpoint,
    authorizationEndpoint: deps.authorizationEndpoint,
    backchannelEndpoint: deps.backchannelEndpoint,
  })
  registerAuthorizationRoutes(app, { authorizationEndpoint: deps.authorizationEndpoint })
  registerAuthzenRoutes(app, {
    pdp: deps.pdp,
    accessTokens: deps.accessTokens,
    adminTokens: deps.adminTokens,
    directory: deps.directory,
    mandates: deps.mandates,
    issuer: deps.issuer,
  })
  // The admin API's documentation: Swagger UI at /api/docs, served from the package (no network needed), and the
  // OpenAPI document at /api/docs/openapi.json (also /api/docs/json and /api/docs/yaml, which the UI reads).
  await app.register(swaggerUi, {
    routePrefix: '/api/docs',
    staticCSP: DOCS_CSP,
    uiConfig: { deepLinking: true, displayRequestDuration: true, tryItOutEnabled: false },
    theme: { title: 'Mandate admin API' },
    uiHooks: {
      // The document itself used to be at /api/docs: a client asking for JSON there is sent to it.
      onRequest: async (request, reply) => {
        const accept = request.headers.accept ?? ''
        if (/^\/api\/docs\/?(\?|$)/.test(request.url) && accept.includes('json') && !accept.includes('html'))
          return reply.redirect('/api/docs/openapi.json', 308)
      },
    },
  })
  app.get('/api/docs/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  // The pages: login, logout and the home page; other pages take `web` for their sessions and CSRF checks.
  const web = new WebSessions({ sessions: deps.sessions, directory: deps.directory, issuer: deps.issuer })
  registerLoginRoutes(app, {
    web,
    sessions: deps.sessions,
    rp: deps.relyingParty,
    issuer: deps.issuer,
    maxSeconds: deps.sessionMaxSeconds,
  })
  if (deps.devIdp) registerDevIdpRoutes(app, deps.devIdp)
  registerConsentRoutes(app, {
    web,
    authorizationEndpoint: deps.authorizationEndpoint,
    directory: deps.directory,
  })
  registerApprovalPages(app, { web, approvals: deps.approvals, directory: deps.directory })
  registerMyMandatesRoutes(app, {
    web,
    mandates: deps.mandates,
    audit: deps.audit,
    database: deps.database,
    directory: deps.directory,
  })
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
      registerMandateRoutes(admin, deps.mandates)
      registerDecisionRoutes(admin, { pdp: deps.pdp, directory: deps.directory })
      registerApprovalRoutes(admin, deps.approvals)
    },
    { prefix: '/api/v1' },
  )
  return app
}
