// Admin API for mandates: grant one for a human to an agent, list and read them with their use, revoke one. Schemas and
// mapping only; the rules live in mandates/.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { ValidationFailed } from '../../errors/mandate-error.ts'
import type { Mandates } from '../../mandates/mandates.ts'
import { Budget, MandateInput, TimeWindow } from '../../mandates/model.ts'
import { changeContext } from './auth.ts'
import { BODY_ERRORS, errorResponses } from './schemas.ts'

const { source: _source, ...inputFields } = MandateInput.properties

/** A mandate as the API returns it: what was granted, its state and its use in the current budget period. */
const MandateBody = Type.Object(
  {
    id: Type.String({ description: '`mdt_` and 128 random bits, base64url.' }),
    ...inputFields,
    budget: Type.Optional(Budget),
    windows: Type.Optional(Type.Array(TimeWindow)),
    source: Type.Union([Type.Literal('consent'), Type.Literal('admin')]),
    status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
    created_at: Type.String(),
    created_by: Type.String({ description: 'The actor that granted it, as `kind:id`.' }),
    revoked_at: Type.Optional(Type.String()),
    revoked_by: Type.Optional(Type.String()),
    revoked_reason: Type.Optional(Type.String()),
    usage: Type.Object(
      {
        period: Type.String({ description: '`total`, or the first day (UTC) of the current period.' }),
        calls: Type.Integer(),
        sum: Type.Number(),
      },
      { description: 'Use in the current budget period.' },
    ),
  },
  { description: 'A mandate.' },
)

const ListQuery = Type.Object({
  human: Type.Optional(
    Type.String({ minLength: 1, maxLength: 128, description: 'Only mandates this human gave.' }),
  ),
  agent: Type.Optional(
    Type.String({ minLength: 1, maxLength: 128, description: 'Only mandates to this agent.' }),
  ),
  status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('revoked')])),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
})
const FILTERS = new Set(Object.keys(ListQuery.properties))

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) })
const RevokeBody = Type.Object(
  { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })) },
  { additionalProperties: false },
)
const tags = ['mandates']

/** Registers `/mandates`: create, list, get, revoke. */
export function registerMandateRoutes(app: FastifyInstance, mandates: Mandates): void {
  app.post(
    '/mandates',
    {
      schema: {
        tags,
        summary: 'Grant a mandate',
        description:
          "A human's grant to a delegated or blended agent: actions on resource servers, within the agent's ceiling, until `expires_at` (at most the configured maximum away), optionally with a budget and time windows. Recorded as `mandate.grant`.",
        // Validated by the domain (every problem at once, as `fields`).
        body: Type.Unsafe<unknown>({ type: 'object', description: 'A MandateInput.' }),
        response: { 201: MandateBody, ...errorResponses(...BODY_ERRORS) },
      },
    },
    async (request, reply) => {
      const created = await mandates.grant(request.body, changeContext(request))
      void reply.status(201)
      return created
    },
  )

  app.get(
    '/mandates',
    {
      schema: {
        tags,
        summary: 'List mandates',
        description: 'Newest first, each with its use in the current budget period.',
        querystring: ListQuery,
        response: {
          200: Type.Object({ items: Type.Array(MandateBody) }, { description: 'The mandates.' }),
          ...errorResponses(400),
        },
      },
      preValidation: async (request) => {
        const unknown = Object.keys(request.query as object).filter((k) => !FILTERS.has(k))
        if (unknown.length > 0)
          throw new ValidationFailed(
            unknown.map((name) => ({
              path: `/querystring/${name}`,
              message: 'is not a filter of mandates (human, agent, status, limit)',
            })),
          )
      },
    },
    async (request) => {
      const query = request.query as {
        human?: string
        agent?: string
        status?: 'active' | 'revoked'
        limit: number
      }
      return { items: await mandates.list(query) }
    },
  )

  app.get(
    '/mandates/:id',
    {
      schema: {
        tags,
        summary: 'Read a mandate',
        params: IdParams,
        response: { 200: MandateBody, ...errorResponses(404) },
      },
    },
    async (request) => mandates.get((request.params as { id: string }).id),
  )

  app.post(
    '/mandates/:id/revoke',
    {
      schema: {
        tags,
        summary: 'Revoke a mandate',
        description:
          'Refused at once for new tokens on every node; every token issued under it becomes inactive at introspection. Revoking a revoked mandate changes nothing. Recorded as `mandate.revoke`.',
        params: IdParams,
        body: Type.Optional(RevokeBody),
        response: { 200: MandateBody, ...errorResponses(404, ...BODY_ERRORS) },
      },
    },
    async (request) => {
      const body = (request.body ?? {}) as { reason?: string }
      return mandates.revoke(
        (request.params as { id: string }).id,
        changeContext(request),
        body.reason ?? 'revoked by an admin',
      )
    },
  )
}
