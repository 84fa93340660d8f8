// Admin API for the signing key ring: list keys with their state, start a rotation.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { KeyRing } from '../../tokens/key-ring.ts'
import { changeContext } from './auth.ts'

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
        body: Type.Optional(Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) })),
      },
    },
    async (request, reply) => {
      const ctx = changeContext(request)
      const reason = (request.body as { reason?: string } | undefined)?.reason ?? 'manual rotation'
      const rotated = await keyRing.rotate(ctx.actor, reason, ctx.requestId)
      void reply.status(201)
      return { ...rotated, keys: keyRing.describe() }
    },
  )
}
