// RFC 8414 authorization server metadata, built from what is registered so it lists exactly what works.
import { clientAuthMethods } from '../authn/client-authentication.ts'
import { ASSERTION_ALGORITHMS } from '../tokens/algorithms.ts'
import { DPOP_ALGORITHMS } from '../tokens/dpop.ts'
import { grants } from './grants/index.ts'

/** Paths of the OAuth endpoints, relative to the issuer. */
export const OAUTH_PATHS = {
  authorization: '/oauth/authorize',
  par: '/oauth/par',
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
    authorization: `${base}${OAUTH_PATHS.authorization}`,
    par: `${base}${OAUTH_PATHS.par}`,
    token: `${base}${OAUTH_PATHS.token}`,
    introspection: `${base}${OAUTH_PATHS.introspection}`,
    revocation: `${base}${OAUTH_PATHS.revocation}`,
    backchannel: `${base}${OAUTH_PATHS.backchannel}`,
    jwks: `${base}${OAUTH_PATHS.jwks}`,
  }
}

/**
 * The audiences a client assertion may name (RFC 7523 §3): the issuer, with or without a trailing slash, the token
 * endpoint, or the PAR endpoint (RFC 9126 §2: the AS must accept its issuer, token endpoint or PAR endpoint URL).
 */
export function assertionAudiences(issuer: string): string[] {
  const bare = issuer.replace(/\/$/, '')
  return [bare, `${bare}/`, endpointUrls(issuer).token, endpointUrls(issuer).par]
}

/** The metadata document (RFC 8414 §2). */
export function authorizationServerMetadata(
  issuer: string,
  options: { tls: boolean; authorizationDetailsTypes?: readonly string[] },
): Record<string, unknown> {
  const urls = endpointUrls(issuer)
  const methods = clientAuthMethods
    .filter((method) => options.tls || !method.needsTls)
    .flatMap((method) => method.advertises)
  return {
    issuer,
    token_endpoint: urls.token,
    jwks_uri: urls.jwks,
    authorization_endpoint: urls.authorization,
    grant_types_supported: [...grants.keys()],
    // OAuth 2.1 §4.1: the code flow only; PKCE with S256 only (-16 §4.1.1 prohibits plain).
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    code_challenge_methods_supported: ['S256'],
    // RFC 9207 §3: every authorization response carries iss.
    authorization_response_iss_parameter_supported: true,
    // RFC 9126 §5: pushed requests, authenticated as at the token endpoint.
    pushed_authorization_request_endpoint: urls.par,
    require_pushed_authorization_requests: false,
    token_endpoint_auth_methods_supported: methods,
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    dpop_signing_alg_values_supported: DPOP_ALGORITHMS,
    // RFC 8705 §3.3: tokens of clients authenticated with a certificate are bound to it.
    ...(options.tls ? { tls_client_certificate_bound_access_tokens: true } : {}),
    introspection_endpoint: urls.introspection,
    introspection_endpoint_auth_methods_supported: methods,
    revocation_endpoint: urls.revocation,
    revocation_endpoint_auth_methods_supported: methods,
    // RFC 9396 §10: the types the registered resource servers accept.
    ...(options.authorizationDetailsTypes && options.authorizationDetailsTypes.length > 0
      ? { authorization_details_types_supported: options.authorizationDetailsTypes }
      : {}),
    // CIBA §4: poll mode only; plain (unsigned) requests; no user codes.
    backchannel_authentication_endpoint: urls.backchannel,
    backchannel_token_delivery_modes_supported: ['poll'],
    backchannel_user_code_parameter_supported: false,
  }
}
