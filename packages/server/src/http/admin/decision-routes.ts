// Admin API for understanding decisions: `POST /decisions/explain` answers how the loaded policies decide a request,
// with the text of the determining policies, or the gate that stopped it first. Readers may call it: it changes
// nothing.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { ValidationFailed } from '../../errors/mandate-error.ts'
import { InvalidDecisionRequest } from '../../policy/entities.ts'
import type { PolicyDecisionPoint } from '../../policy/pdp.ts'
import { asTokenRequest } from '../../policy/token-policy.ts'
import type { Directory } from '../../registry/directory.ts'
import { adminOf } from './auth.ts'
import { BODY_ERRORS, errorResponses } from './schemas.ts'

const Entity = Type.Object(
  {
    type: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }),
    id: Type.String({ minLength: 1, maxLength: 512 }),
    properties: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
)

const ExplainBody = Type.Object(
  {
    principal: Entity,
    action: Type.String({ minLength: 1, maxLength: 128 }),
    resource: Entity,
    context: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    mode: Type.Optional(Type.Union([Type.Literal('autonomous'), Type.Literal('delegated')])),
    delegator: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
)

/** Registers `POST /decisions/explain`. */
export function registerDecisionRoutes(
  app: FastifyInstance,
  deps: { pdp: PolicyDecisionPoint; directory: Directory },
): void {
  app.post(
    '/decisions/explain',
    {
      schema: {
        tags: ['decisions'],
        summary: 'Explain a decision',
        description:
          'How the loaded policies decide one request, with the text of the determining policies. With `mode` (and `delegator`), the request is decided as the token service would. Recorded in the audit log as an explanation; nothing is enforced, so read-only tokens may call it.',
        body: ExplainBody,
        response: {
          200: Type.Object(
            {
              decision: Type.Union([
                Type.Literal('allow'),
                Type.Literal('deny'),
                Type.Literal('approval_required'),
              ]),
              determining: Type.Array(Type.String(), { description: 'Ids of the deciding policies.' }),
              errors: Type.Array(Type.Object({ policy: Type.String(), message: Type.String() }), {
                description: 'Policies that failed to evaluate; any makes the decision a deny.',
              }),
              obligations: Type.Object({
                approval: Type.Optional(
                  Type.String({ description: '`sponsor`, `delegator` or `group:<group id>`.' }),
                ),
                maxTtlSeconds: Type.Optional(Type.Integer()),
              }),
              invalid: Type.Optional(Type.String({ description: 'Why the request cannot be evaluated.' })),
              policies: Type.Array(
                Type.Object({
                  id: Type.String(),
                  effect: Type.Union([Type.Literal('permit'), Type.Literal('forbid')]),
                  text: Type.String(),
                }),
                { description: 'The determining policies, with their text.' },
              ),
            },
            { description: 'The decision and why.' },
          ),
          ...errorResponses(...BODY_ERRORS),
        },
      },
    },
    async (request) => {
      const body = request.body as {
        principal: { type: string; id: string; properties?: Record<string, unknown> }
        action: string
        resource: { type: string; id: string; properties?: Record<string, unknown> }
        context?: Record<string, unknown>
        mode?: 'autonomous' | 'delegated'
        delegator?: string
      }
      try {
        const { decision, policies } = await deps.pdp.explain(asTokenRequest(deps.directory, body), {
          actors: [adminOf(request).actor],
          requestId: request.id,
          source: 'admin',
        })
        return { ...decision, policies: policies.map((p) => ({ id: p.id, effect: p.effect, text: p.text })) }
      } catch (error) {
        // A value Cedar cannot hold, an entity the registry does not know: 400 naming the field.
        if (error instanceof InvalidDecisionRequest)
          throw new ValidationFailed([{ path: error.path, message: error.message }])
        throw error
      }
    },
  )
}
