// Admin API for revocation: one token, every token of an agent or workload, or every delegation a human gave.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { ValidationFailed } from '../../errors/mandate-error.ts'
import type { Revocations, RevocationTarget } from '../../tokens/revocations.ts'
import { changeContext } from './auth.ts'
import { BODY_ERRORS, errorResponses } from './schemas.ts'

const RevocationBody = Type.Object(
  {
    target: Type.Union(
      [
        Type.Literal('agent'),
        Type.Literal('workload'),
        Type.Literal('human_delegations'),
        Type.Literal('token'),
      ],
      {
        description:
          '`agent`/`workload`: every token issued to or acting through it; `human_delegations`: every delegated token for the human; `token`: one token by jti.',
      },
    ),
    id: Type.Optional(
      Type.String({ minLength: 1, maxLength: 128, description: 'The agent, workload or human id.' }),
    ),
    jti: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    exp: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'For `token`: its exp, so the revocation can be purged after it.',
      }),
    ),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
)

/** Registers `POST /revocations`. */
export function registerRevocationRoutes(app: FastifyInstance, revocations: Revocations): void {
  app.post(
    '/revocations',
    {
      schema: {
        tags: ['revocations'],
        summary: 'Revoke tokens',
        description:
          'Every token of an agent or workload, every delegated token of a human, or one token by `jti`: refused by every node at once, and durably.',
        body: RevocationBody,
        response: {
          201: Type.Object(
            {
              revoked: Type.Object({
                kind: Type.Union(
                  ['agent', 'workload', 'human_delegations', 'token'].map((k) => Type.Literal(k)),
                ),
                id: Type.Optional(Type.String()),
                jti: Type.Optional(Type.String()),
                exp: Type.Optional(Type.Integer()),
              }),
            },
            { description: 'What was revoked.' },
          ),
          ...errorResponses(...BODY_ERRORS),
        },
      },
    },
    async (request, reply) => {
      const body = request.body as {
        target: RevocationTarget['kind']
        id?: string
        jti?: string
        exp?: number
        reason?: string
      }
      const target: RevocationTarget | undefined =
        body.target === 'token'
          ? body.jti !== undefined && body.exp !== undefined
            ? { kind: 'token', jti: body.jti, exp: body.exp }
            : undefined
          : body.id !== undefined
            ? { kind: body.target, id: body.id }
            : undefined
      if (!target) {
        throw new ValidationFailed([
          { path: body.target === 'token' ? '/jti' : '/id', message: 'is required for this target' },
        ])
      }
      const ctx = changeContext(request)
      await revocations.revoke(target, { actor: ctx.actor, reason: body.reason, requestId: ctx.requestId })
      void reply.status(201)
      return { revoked: target }
    },
  )
}
