// OpenID AuthZEN Authorization API 1.0 over HTTP: evaluation, evaluations (three semantics), subject/resource/action
// search with pagination, and discovery. Handlers map AuthZEN onto the decision point and back; the decision point
// decides and records. Callers (PEPs) authenticate with a Mandate access token for the PDP's audience or a `pep` key.
import { type Static, Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ActorRef } from '../audit/event.ts'
import type { AccessTokenAuthenticator } from '../authn/access-token.ts'
import type { AdminTokens } from '../authn/admin-token.ts'
import { ValidationFailed } from '../errors/mandate-error.ts'
import { OAuthError, toOAuthErrorResponse } from '../errors/oauth-error.ts'
import { UnrepresentableValue } from '../policy/entities.ts'
import type { Decision, DecisionAudit, DecisionRequest, PolicyDecisionPoint } from '../policy/pdp.ts'
import type { Directory } from '../registry/directory.ts'
import { validTraceparent } from './admin/auth.ts'

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
type EvaluationRequest = Static<typeof EvaluationRequest>

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
type EvaluationsRequest = Static<typeof EvaluationsRequest>

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

const DEFAULT_PAGE = 100

export interface AuthzenDeps {
  pdp: PolicyDecisionPoint
  accessTokens: AccessTokenAuthenticator
  adminTokens: AdminTokens
  directory: Directory
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
    api.addHook('onRequest', async (request, reply) => {
      try {
        request.pep = await authenticatePep(request, deps)
      } catch (error) {
        const { status, body, headers } = toOAuthErrorResponse(error)
        if (!(error instanceof OAuthError)) throw error
        return reply.status(status).headers(headers).send(body)
      }
    })
    const audit = (request: FastifyRequest): DecisionAudit => ({
      actors: request.pep ? [request.pep] : [],
      requestId: request.id,
      traceparent: validTraceparent(request.headers.traceparent),
      source: 'authzen',
    })

    api.post(
      AUTHZEN_PATHS.evaluation,
      { schema: { body: EvaluationRequest, hide: true } },
      async (request) => {
        const decision = await guard(() =>
          deps.pdp.decide(toDecisionRequest(request.body as EvaluationRequest), audit(request)),
        )
        return toAuthzenDecision(decision)
      },
    )

    api.post(
      AUTHZEN_PATHS.evaluations,
      { schema: { body: EvaluationsRequest, hide: true } },
      async (request) => {
        const body = request.body as EvaluationsRequest
        // Without `evaluations`, or with none, the request is a single evaluation, answered as one (AuthZEN §7.1).
        if (body.evaluations === undefined || body.evaluations.length === 0) {
          const single = checkItem(body, '')
          if ('error' in single) throw new ValidationFailed(single.error)
          return toAuthzenDecision(await guard(() => deps.pdp.decide(single.request, audit(request))))
        }
        const items = body.evaluations.map((item, i) =>
          checkItem(
            {
              subject: item.subject ?? body.subject,
              action: item.action ?? body.action,
              resource: item.resource ?? body.resource,
              context: item.context ?? body.context,
            },
            `/evaluations/${i}`,
          ),
        )
        const semantic = body.options?.evaluations_semantic ?? 'execute_all'
        const stop = (decided: boolean) =>
          (semantic === 'deny_on_first_deny' && !decided) ||
          (semantic === 'permit_on_first_permit' && decided)
        // An invalid item counts as a deny: with deny_on_first_deny nothing after it is evaluated.
        const cut = semantic === 'deny_on_first_deny' ? items.findIndex((item) => 'error' in item) : -1
        const considered = cut < 0 ? items : items.slice(0, cut + 1)
        const valid = considered.flatMap((item) => ('request' in item ? [item.request] : []))
        // Evaluate in order, item by item, so that the short-circuiting semantics stop where the PEP expects.
        const answers: Array<Record<string, unknown>> = []
        const decisions = await guard(() =>
          deps.pdp.decideAll(valid, audit(request), (d) => stop(d.decision === 'allow')),
        )
        let next = 0
        for (const item of items) {
          if ('error' in item) {
            answers.push({
              decision: false,
              context: {
                error: { status: 400, message: item.error.map((e) => `${e.path} ${e.message}`).join('; ') },
              },
            })
            if (stop(false)) break
            continue
          }
          const decision = decisions[next++]
          if (!decision) break
          answers.push(
            decision.invalid
              ? { decision: false, context: { error: { status: 400, message: decision.invalid } } }
              : toAuthzenDecision(decision),
          )
          if (stop(decision.decision === 'allow')) break
        }
        return { evaluations: answers }
      },
    )

    api.post(
      AUTHZEN_PATHS.searchSubject,
      { schema: { body: SubjectSearchRequest, hide: true } },
      async (request) => {
        const body = request.body as Static<typeof SubjectSearchRequest>
        const { ids, limit } = await page(await deps.pdp.candidates(body.subject.type), body.page)
        const found = await guard(() =>
          deps.pdp.search(
            ids,
            (id) => toDecisionRequest({ ...body, subject: { ...body.subject, id } }),
            { ...audit(request), what: `search.subject ${body.subject.type} ${body.action.name}` },
            limit,
          ),
        )
        return paged(
          found.results.map((id) => ({ type: body.subject.type, id })),
          found,
        )
      },
    )

    api.post(
      AUTHZEN_PATHS.searchResource,
      { schema: { body: ResourceSearchRequest, hide: true } },
      async (request) => {
        const body = request.body as Static<typeof ResourceSearchRequest>
        const { ids, limit } = await page(await deps.pdp.candidates(body.resource.type), body.page)
        const found = await guard(() =>
          deps.pdp.search(
            ids,
            (id) => toDecisionRequest({ ...body, resource: { ...body.resource, id } }),
            { ...audit(request), what: `search.resource ${body.resource.type} ${body.action.name}` },
            limit,
          ),
        )
        return paged(
          found.results.map((id) => ({ type: body.resource.type, id })),
          found,
        )
      },
    )

    api.post(
      AUTHZEN_PATHS.searchAction,
      { schema: { body: ActionSearchRequest, hide: true } },
      async (request) => {
        const body = request.body as Static<typeof ActionSearchRequest>
        const actions = await deps.pdp.actionsFor(body.subject.type, body.resource.type)
        const { ids, limit } = await page(actions, body.page)
        const found = await guard(() =>
          deps.pdp.search(
            ids,
            (name) => toDecisionRequest({ ...body, action: { name } }),
            { ...audit(request), what: `search.action ${body.subject.type} ${body.resource.type}` },
            limit,
          ),
        )
        return paged(
          found.results.map((name) => ({ name })),
          found,
        )
      },
    )
  })
}

// A PEP proves itself with an access token Mandate issued for the AuthZEN audience (a JWT, Bearer or DPoP), or with
// an API key: a PEP key (`mnd_pep_`, or `mnd_adm_` for keys issued before PEP keys had their own prefix) or an admin
// token.
async function authenticatePep(request: FastifyRequest, deps: AuthzenDeps): Promise<ActorRef> {
  const header = request.headers.authorization
  const key =
    typeof header === 'string' ? /^Bearer (mnd_(?:pep|adm)_[\x21-\x7e]+)$/i.exec(header)?.[1] : undefined
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

function dpopHeaders(raw: readonly string[]): string[] {
  const values: string[] = []
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (raw[i]?.toLowerCase() === 'dpop') values.push(raw[i + 1] ?? '')
  return values
}

// Values Cedar cannot hold (fractions, reserved names) are the caller's error: 400 with the field named.
async function guard<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    if (error instanceof UnrepresentableValue)
      throw new ValidationFailed([{ path: '/', message: error.message }])
    throw error
  }
}

function toDecisionRequest(
  request: Omit<EvaluationRequest, 'action'> & { action: { name: string } },
): DecisionRequest {
  return {
    principal: { type: request.subject.type, id: request.subject.id, properties: request.subject.properties },
    action: request.action.name,
    resource: {
      type: request.resource.type,
      id: request.resource.id,
      properties: request.resource.properties,
    },
    context: request.context,
  }
}

// AuthZEN has allow or deny; approval_required is a deny the PEP can act on, with the reason in the context.
function toAuthzenDecision(decision: Decision): Record<string, unknown> {
  const context: Record<string, unknown> = { determining_policies: decision.determining }
  if (decision.decision === 'approval_required') {
    context.reason = 'approval_required'
    context.approval = decision.obligations.approval
  }
  if (decision.obligations.maxTtlSeconds !== undefined) context.max_ttl = decision.obligations.maxTtlSeconds
  // Which policies failed, not why: the messages (entity ids, attribute names) stay in the audit record.
  if (decision.errors.length > 0) {
    context.reason = 'evaluation_error'
    context.errors = decision.errors.map((e) => ({ policy: e.policy }))
  }
  return { decision: decision.decision === 'allow', context }
}

// An item of a batch after merging the defaults: the same checks as a single evaluation, reported per item.
function checkItem(
  item: { subject?: unknown; action?: unknown; resource?: unknown; context?: unknown },
  at: string,
): { request: DecisionRequest } | { error: Array<{ path: string; message: string }> } {
  const errors: Array<{ path: string; message: string }> = []
  const entity = (value: unknown, name: string) => {
    if (!isObject(value)) return errors.push({ path: `${at}/${name}`, message: 'is required' })
    const v = value as { type?: unknown; id?: unknown; properties?: unknown }
    if (typeof v.type !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(v.type))
      errors.push({ path: `${at}/${name}/type`, message: 'must be a Cedar identifier' })
    if (typeof v.id !== 'string' || v.id.length === 0 || v.id.length > 512)
      errors.push({ path: `${at}/${name}/id`, message: 'must be a string of 1 to 512 characters' })
    if (v.properties !== undefined && !isObject(v.properties))
      errors.push({ path: `${at}/${name}/properties`, message: 'must be an object' })
    return 0
  }
  entity(item.subject, 'subject')
  entity(item.resource, 'resource')
  const action = item.action as { name?: unknown } | undefined
  if (
    !isObject(action) ||
    typeof action.name !== 'string' ||
    action.name.length === 0 ||
    action.name.length > 128
  )
    errors.push({ path: `${at}/action/name`, message: 'is required' })
  if (item.context !== undefined && !isObject(item.context))
    errors.push({ path: `${at}/context`, message: 'must be an object' })
  if (errors.length > 0) return { error: errors }
  return { request: toDecisionRequest(item as EvaluationRequest) }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

// Pages walk the candidates in order; the token is the last candidate a page examined, opaque to the PEP.
async function page(
  candidates: readonly string[],
  request: Static<typeof Page> | undefined,
): Promise<{ ids: string[]; limit: number }> {
  const limit = request?.limit ?? DEFAULT_PAGE
  const token = request?.token ?? request?.next_token
  if (!token) return { ids: [...candidates], limit }
  const after = decodeToken(token)
  return { ids: candidates.filter((id) => id > after), limit }
}

function paged<T>(
  results: T[],
  found: { results: unknown[]; more: boolean },
): { results: T[]; page: { next_token: string } } {
  const last = found.results.at(-1)
  const key = typeof last === 'string' ? last : (last as { name?: string } | undefined)?.name
  return { results, page: { next_token: found.more && key !== undefined ? encodeToken(key) : '' } }
}

function encodeToken(after: string): string {
  return Buffer.from(JSON.stringify({ after }), 'utf8').toString('base64url')
}

function decodeToken(token: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown }
    if (typeof parsed.after === 'string' && encodeToken(parsed.after) === token) return parsed.after
  } catch {
    // falls through to the error below
  }
  throw new ValidationFailed([{ path: '/page/token', message: 'is not a token this API returned' }])
}
