// OpenID AuthZEN Authorization API 1.0 over HTTP: the request schemas, PEP authentication and discovery. Each route
// maps its body onto a function of authzen/ (evaluation, evaluations, search), which the decision point answers.
// Callers (PEPs) authenticate with a Mandate access token for the PDP's audience or a `pep` key.
import { type Static, Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ActorRef } from '../audit/event.ts'
import type { AccessTokenAuthenticator } from '../authn/access-token.ts'
import type { AdminTokens } from '../authn/admin-token.ts'
import { evaluate } from '../authzen/evaluation.ts'
import { evaluateAll } from '../authzen/evaluations.ts'
import { withNamedMandate } from '../authzen/mandate-context.ts'
import { search } from '../authzen/search.ts'
import { OAuthError, toOAuthErrorResponse } from '../errors/oauth-error.ts'
import type { Mandates } from '../mandates/mandates.ts'
import type { DecisionAudit, PolicyDecisionPoint } from '../policy/pdp.ts'
import type { Directory } from '../registry/directory.ts'
import { validTraceparent } from './admin/auth.ts'
import { dpopHeaders } from './dpop-headers.ts'

/** Where the AuthZEN endpoints live. */
export const AUTHZEN_PATHS = {
  evaluation: '/access/v1/evaluation',
  evaluations: '/access/v1/evaluations',
  searchSubject: '/access/v1/search/subject',
  searchResource: '/access/v1/search/resource',
  searchAction: '/access/v1/search/action',
  configuration: '/.well-known/authzen-configuration',
} as const

/** The audience of access tokens for the AuthZEN API: `<issuer>/access/v1`. */
export function authzenAudience(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/access/v1`
}

// AuthZEN types become Cedar entity types, which must be identifiers. Unknown fields are ignored (AuthZEN §12.1.1).
const EntityType = Type.String({
  pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$',
  description: 'A Cedar identifier.',
})
const EntityId = Type.String({ minLength: 1, maxLength: 512 })
const Properties = Type.Record(Type.String(), Type.Unknown())
const Subject = Type.Object({ type: EntityType, id: EntityId, properties: Type.Optional(Properties) })
const Resource = Subject
const Action = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128 }),
  properties: Type.Optional(Properties),
})
const Context = Type.Record(Type.String(), Type.Unknown())
const Page = Type.Object({
  // AuthZEN §8: the request carries the previous answer's next_token as `token` (next_token is accepted too).
  token: Type.Optional(Type.String({ maxLength: 1024 })),
  next_token: Type.Optional(Type.String({ maxLength: 1024 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
})

const EvaluationRequest = Type.Object({
  subject: Subject,
  action: Action,
  resource: Resource,
  context: Type.Optional(Context),
})

// In a batch every part may be omitted at either level; an item is checked once the defaults are merged in.
const EvaluationsRequest = Type.Object({
  subject: Type.Optional(Type.Unknown()),
  action: Type.Optional(Type.Unknown()),
  resource: Type.Optional(Type.Unknown()),
  context: Type.Optional(Type.Unknown()),
  evaluations: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()), { maxItems: 1000 })),
  options: Type.Optional(
    Type.Object({
      evaluations_semantic: Type.Optional(
        Type.Union([
          Type.Literal('execute_all'),
          Type.Literal('deny_on_first_deny'),
          Type.Literal('permit_on_first_permit'),
        ]),
      ),
    }),
  ),
})

const SearchEntity = Type.Object({
  type: EntityType,
  id: Type.Optional(EntityId),
  properties: Type.Optional(Properties),
})
const SubjectSearchRequest = Type.Object({
  subject: SearchEntity,
  action: Action,
  resource: Resource,
  context: Type.Optional(Context),
  page: Type.Optional(Page),
})
const ResourceSearchRequest = Type.Object({
  subject: Subject,
  action: Action,
  resource: SearchEntity,
  context: Type.Optional(Context),
  page: Type.Optional(Page),
})
const ActionSearchRequest = Type.Object({
  subject: Subject,
  resource: Resource,
  context: Type.Optional(Context),
  page: Type.Optional(Page),
})

export interface AuthzenDeps {
  pdp: PolicyDecisionPoint
  accessTokens: AccessTokenAuthenticator
  adminTokens: AdminTokens
  directory: Directory
  /** Mandates an evaluation names (`context.mandate_id`), for `context.mandate`. */
  mandates: Pick<Mandates, 'get'>
  issuer: () => string
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated policy enforcement point, set on every AuthZEN request. */
    pep?: ActorRef
  }
}

/** Registers the AuthZEN API and its discovery document. */
export function registerAuthzenRoutes(app: FastifyInstance, deps: AuthzenDeps): void {
  app.get(AUTHZEN_PATHS.configuration, { schema: { hide: true } }, async () => {
    const base = deps.issuer().replace(/\/$/, '')
    return {
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}${AUTHZEN_PATHS.evaluation}`,
      access_evaluations_endpoint: `${base}${AUTHZEN_PATHS.evaluations}`,
      search_subject_endpoint: `${base}${AUTHZEN_PATHS.searchSubject}`,
      search_resource_endpoint: `${base}${AUTHZEN_PATHS.searchResource}`,
      search_action_endpoint: `${base}${AUTHZEN_PATHS.searchAction}`,
    }
  })

  void app.register(async (api) => {
    api.decorateRequest('pep', undefined)
    // A callback hook: a PEP key this node already knows is accepted at once; anything else is looked up.
    api.addHook('onRequest', (request, reply, done) => {
      const known = knownPep(request, deps)
      if (known) {
        request.pep = known
        return done()
      }
      authenticatePep(request, deps).then(
        (pep) => {
          request.pep = pep
          done()
        },
        (error: unknown) => {
          if (!(error instanceof OAuthError)) return done(error as Error)
          const { status, body, headers } = toOAuthErrorResponse(error)
          void reply.status(status).headers(headers).send(body)
        },
      )
    })
    const audit = (request: FastifyRequest): DecisionAudit => ({
      actors: request.pep ? [request.pep] : [],
      requestId: request.id,
      traceparent: validTraceparent(request.headers.traceparent),
      source: 'authzen',
    })

    // Unknown fields are ignored (AuthZEN §12.1.1); `kind` is set after the body so that none can choose the search.
    api.post(
      AUTHZEN_PATHS.evaluation,
      { schema: { body: EvaluationRequest, hide: true } },
      async (request) => {
        const named = await withNamedMandate(
          deps.mandates,
          request.body as Static<typeof EvaluationRequest>,
          Date.now(),
        )
        return evaluate(deps.pdp, named.request, audit(request), named.facts)
      },
    )
    api.post(AUTHZEN_PATHS.evaluations, { schema: { body: EvaluationsRequest, hide: true } }, (request) =>
      evaluateAll(deps.pdp, request.body as Static<typeof EvaluationsRequest>, audit(request)),
    )
    api.post(AUTHZEN_PATHS.searchSubject, { schema: { body: SubjectSearchRequest, hide: true } }, (request) =>
      search(
        deps.pdp,
        { ...(request.body as Static<typeof SubjectSearchRequest>), kind: 'subject' },
        audit(request),
      ),
    )
    api.post(
      AUTHZEN_PATHS.searchResource,
      { schema: { body: ResourceSearchRequest, hide: true } },
      (request) =>
        search(
          deps.pdp,
          { ...(request.body as Static<typeof ResourceSearchRequest>), kind: 'resource' },
          audit(request),
        ),
    )
    api.post(AUTHZEN_PATHS.searchAction, { schema: { body: ActionSearchRequest, hide: true } }, (request) =>
      search(
        deps.pdp,
        { ...(request.body as Static<typeof ActionSearchRequest>), kind: 'action' },
        audit(request),
      ),
    )
  })
}

// The API key a request presents as a bearer token, if any.
function apiKeyOf(header: string | undefined): string | undefined {
  return typeof header === 'string' ? /^Bearer (mnd_(?:pep|adm)_[\x21-\x7e]+)$/i.exec(header)?.[1] : undefined
}

// The PEP of a request whose API key this node has already found (as `authenticatePep` would find it), else undefined.
function knownPep(request: FastifyRequest, deps: AuthzenDeps): ActorRef | undefined {
  const key = apiKeyOf(request.headers.authorization)
  const caller = key ? deps.adminTokens.knownCaller(key) : undefined
  return caller && (caller.role === 'pep' || caller.role === 'admin') ? caller.actor : undefined
}

// A PEP proves itself with an access token Mandate issued for the AuthZEN audience (a JWT, Bearer or DPoP), or with
// an API key: a PEP key (`mnd_pep_`, or `mnd_adm_` for keys issued before PEP keys had their own prefix) or an admin
// token.
async function authenticatePep(request: FastifyRequest, deps: AuthzenDeps): Promise<ActorRef> {
  const header = request.headers.authorization
  const key = apiKeyOf(header)
  if (key) {
    const caller = await deps.adminTokens.authenticate(key)
    if (caller && (caller.role === 'pep' || caller.role === 'admin')) return caller.actor
  }
  const issuer = deps.issuer().replace(/\/$/, '')
  const caller = await deps.accessTokens.authenticate(
    {
      authorization: key ? undefined : header,
      dpop: dpopHeaders(request.raw.rawHeaders),
      method: request.method,
      url: `${issuer}${request.url.split('?')[0]}`,
    },
    authzenAudience(issuer),
  )
  const client = deps.directory.client(caller.claims.client_id)
  return { kind: client?.kind ?? 'workload', id: caller.claims.client_id }
}
