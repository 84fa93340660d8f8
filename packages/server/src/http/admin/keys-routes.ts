// Admin API for the signing key ring: list keys with their state, start a rotation.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { validateAgainst } from '../../registry/validate.ts'
import type { KeyRing } from '../../tokens/key-ring.ts'
import { changeContext } from './auth.ts'
import { BODY_ERRORS, errorResponses } from './schemas.ts'

const KeyInfo = Type.Object({
  kid: Type.String({ description: 'The RFC 7638 thumbprint.' }),
  alg: Type.Union([Type.Literal('ES256'), Type.Literal('EdDSA'), Type.Literal('RS256')]),
  state: Type.Union([Type.Literal('active'), Type.Literal('pending'), Type.Literal('retired')], {
    description:
      '`active` signs; `pending` is published and signs from `activates_at`; `retired` only verifies.',
  }),
  activates_at: Type.String({ format: 'date-time' }),
  publish_until: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'When the key leaves the JWKS; null while it is current.',
  }),
})
const KeyList = Type.Array(KeyInfo)

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
  app.get(
    '/keys',
    {
      schema: {
        tags: ['keys'],
        summary: 'List the signing keys',
        description: 'Every key still published in the JWKS, with its state.',
        response: {
          200: Type.Object({ items: KeyList }, { description: 'The signing keys.' }),
          ...errorResponses(),
        },
      },
    },
    async () => {
      await keyRing.load()
      return { items: keyRing.describe() }
    },
  )
  app.post(
    '/keys/rotate',
    {
      schema: {
        tags: ['keys'],
        summary: 'Rotate the signing key',
        description:
          'The new key is published at once and signs after the propagation delay (`MANDATE_KEY_PROPAGATION_SECONDS`), so relying parties know it first. The body is optional; `{"reason": "..."}` is recorded in the audit log.',
        response: {
          201: Type.Object(
            {
              kid: Type.String({ description: 'The new key.' }),
              activates_at: Type.String({ format: 'date-time', description: 'When it starts signing.' }),
              keys: KeyList,
            },
            { description: 'The new key, and every key with its state.' },
          ),
          ...errorResponses(...BODY_ERRORS),
        },
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
