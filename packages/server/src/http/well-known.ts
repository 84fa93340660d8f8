// Discovery documents: RFC 8414 authorization server metadata and the JWKS (RFC 7517) with cache headers.
import type { FastifyInstance } from 'fastify'
import { authorizationServerMetadata, OAUTH_PATHS } from '../oauth/metadata.ts'
import type { KeyRing } from '../tokens/key-ring.ts'

/** How long relying parties may cache the JWKS; key propagation must outlast it. */
export const JWKS_MAX_AGE_SECONDS = 300

/** Registers the metadata and JWKS endpoints. `issuer` is read per request: with port 0 it is known only after listen. */
export function registerWellKnown(
  app: FastifyInstance,
  deps: {
    issuer: () => string
    keyRing: KeyRing
    tls: boolean
    /** RFC 9396 §10: the authorization details types registered resource servers accept. */
    detailsTypes?: () => string[]
  },
): void {
  app.get('/.well-known/oauth-authorization-server', { schema: { hide: true } }, async (_request, reply) => {
    void reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
    return authorizationServerMetadata(deps.issuer(), {
      tls: deps.tls,
      authorizationDetailsTypes: deps.detailsTypes?.() ?? [],
    })
  })
  app.get(OAUTH_PATHS.jwks, { schema: { hide: true } }, async (_request, reply) => {
    void reply
      .header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
      .type('application/jwk-set+json')
    return deps.keyRing.jwks()
  })
}
