// RFC 8414 authorization server metadata, built from what is registered so it lists exactly what works.
import { clientAuthMethods } from '../authn/client-authentication.ts'
import { ASSERTION_ALGORITHMS } from '../tokens/algorithms.ts'
import { DPOP_ALGORITHMS } from '../tokens/dpop.ts'
import { grants } from './grants/index.ts'

/** Paths of the OAuth endpoints, relative to the issuer. */
export const OAUTH_PATHS = {
  token: '/oauth/token',
  introspection: '/oauth/introspect',
  revocation: '/oauth/revoke',
  /** OpenID CIBA Core 1.0 §7: the backchannel authentication endpoint. */
  backchannel: '/oauth/bc-authorize',
  jwks: '/.well-known/jwks.json',
} as const

/** The endpoint URLs for an issuer. */
export function endpointUrls(issuer: string): Record<keyof typeof OAUTH_PATHS, string> {
  const base = issuer.replace(/\/$/, '')
  return {
    token: `${base}${OAUTH_PATHS.token}`,
    introspection: `${base}${OAUTH_PATHS.introspection}`,
    revocation: `${base}${OAUTH_PATHS.revocation}`,
    backchannel: `${base}${OAUTH_PATHS.backchannel}`,
    jwks: `${base}${OAUTH_PATHS.jwks}`,
  }
}

/** The audiences a client assertion may name (RFC 7523 §3): the issuer, with or without a trailing slash, or the token endpoint. */
export function assertionAudiences(issuer: string): string[] {
  const bare = issuer.replace(/\/$/, '')
  return [bare, `${bare}/`, endpointUrls(issuer).token]
}

/** The metadata document (RFC 8414 §2). */
export function authorizationServerMetadata(
  issuer: string,
  options: { tls: boolean },
): Record<string, unknown> {
  const urls = endpointUrls(issuer)
  const methods = clientAuthMethods
    .filter((method) => options.tls || !method.needsTls)
    .flatMap((method) => method.advertises)
  return {
    issuer,
    token_endpoint: urls.token,
    jwks_uri: urls.jwks,
    grant_types_supported: [...grants.keys()],
    // No authorization endpoint is served yet, so no response type is supported.
    response_types_supported: [],
    token_endpoint_auth_methods_supported: methods,
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    dpop_signing_alg_values_supported: DPOP_ALGORITHMS,
    // RFC 8705 §3.3: tokens of clients authenticated with a certificate are bound to it.
    ...(options.tls ? { tls_client_certificate_bound_access_tokens: true } : {}),
    introspection_endpoint: urls.introspection,
    introspection_endpoint_auth_methods_supported: methods,
    revocation_endpoint: urls.revocation,
    revocation_endpoint_auth_methods_supported: methods,
    // CIBA §4: poll mode only; plain (unsigned) requests; no user codes.
    backchannel_authentication_endpoint: urls.backchannel,
    backchannel_token_delivery_modes_supported: ['poll'],
    backchannel_user_code_parameter_supported: false,
  }
}
