// Admin API for the signing key ring: list keys with their state, start a rotation.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { validateAgainst } from '../../registry/validate.ts'
import type { KeyRing } from '../../tokens/key-ring.ts'
import { changeContext } from './auth.ts'

const RotateBody = Type.Object(
  {
    reason: Type.Optional(
      Type.String({ minLength: 1, maxLength: 500, description: 'Recorded in the audit log.' }),
    ),
  },
  { additionalProperties: false },
)

/** Registers `/keys` and `/keys/rotate`. */
export function registerKeyRoutes(app: FastifyInstance, keyRing: KeyRing): void {
  app.get('/keys', { schema: { tags: ['keys'], summary: 'List signing keys and their state' } }, async () => {
    await keyRing.load()
    return { items: keyRing.describe() }
  })
  app.post(
    '/keys/rotate',
    {
      schema: {
        tags: ['keys'],
        summary: 'Rotate the signing key: the new key is published now and signs after the propagation delay',
        description: 'The body is optional; `{"reason": "..."}` is recorded in the audit log.',
      },
    },
    async (request, reply) => {
      // An optional body cannot be expressed as a route schema (Fastify would require one), so it is checked here.
      const body =
        request.body === undefined ? {} : validateAgainst<{ reason?: string }>(RotateBody, request.body)
      const rotated = await keyRing.rotate(changeContext(request), body.reason ?? 'manual rotation')
      void reply.status(201)
      return { ...rotated, keys: keyRing.describe() }
    },
  )
}
