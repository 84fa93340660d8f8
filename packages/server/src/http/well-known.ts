// Discovery documents: RFC 8414 authorization server metadata and the JWKS (RFC 7517) with cache headers.
import type { FastifyInstance } from 'fastify'
import type { KeyRing } from '../tokens/key-ring.ts'

/** How long relying parties may cache the JWKS; key propagation must outlast it. */
export const JWKS_MAX_AGE_SECONDS = 300

/** Registers the metadata and JWKS endpoints. `issuer` is read per request: with port 0 it is known only after listen. */
export function registerWellKnown(
  app: FastifyInstance,
  deps: { issuer: () => string; keyRing: KeyRing },
): void {
  // RFC 8414 §3: metadata lists only what this node actually serves; later features add their endpoints here.
  const metadata = () => ({
    issuer: deps.issuer(),
    jwks_uri: `${deps.issuer().replace(/\/$/, '')}/.well-known/jwks.json`,
  })
  app.get('/.well-known/oauth-authorization-server', { schema: { hide: true } }, async (_request, reply) => {
    void reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
    return metadata()
  })
  app.get('/.well-known/jwks.json', { schema: { hide: true } }, async (_request, reply) => {
    void reply
      .header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
      .type('application/jwk-set+json')
    return deps.keyRing.jwks()
  })
}
