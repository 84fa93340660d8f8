// RFC 8414 authorization server metadata: where a Mandate node's endpoints and keys are, read from the issuer.

import { invalidResponse, isHttpUrl, isObject, sendJson } from './oauth-http.js'

/** The members of a node's metadata the SDK uses; endpoints are absolute http(s) URLs. */
export interface AuthorizationServerMetadata {
  issuer: string
  tokenEndpoint: string | undefined
  jwksUri: string | undefined
  introspectionEndpoint: string | undefined
  revocationEndpoint: string | undefined
  /** OAuth 2.1 §3.1: where the human is sent to consent. */
  authorizationEndpoint: string | undefined
  /** RFC 9126 §5: where authorization requests are pushed. */
  pushedAuthorizationRequestEndpoint: string | undefined
  /** OpenID CIBA Core 1.0 §4: where backchannel authentication (approval) requests go. */
  backchannelAuthenticationEndpoint: string | undefined
}

/**
 * Fetches and checks the metadata of `issuer` (RFC 8414 §3): it must be a JSON object naming that very issuer, and
 * every endpoint it gives must be an http(s) URL. Failures are MandateOAuthError `network_error` or
 * `invalid_response`.
 * @example
 * const { jwksUri } = await discoverMetadata('https://mandate.example.com', fetch)
 */
export async function discoverMetadata(
  issuer: string,
  fetcher: typeof fetch,
): Promise<AuthorizationServerMetadata> {
  const url = metadataUrl(issuer)
  const response = await sendJson(fetcher, url, { method: 'GET', headers: { accept: 'application/json' } })
  if (response.status !== 200)
    throw invalidResponse(
      `no authorization server metadata at ${url} (HTTP ${response.status})`,
      response.status,
    )
  const body = response.json
  if (!isObject(body)) throw invalidResponse(`the metadata at ${url} is not a JSON object`, response.status)
  // RFC 8414 §3.3: the metadata must name the issuer it was fetched for.
  if (typeof body.issuer !== 'string' || withoutTrailingSlash(body.issuer) !== withoutTrailingSlash(issuer))
    throw invalidResponse(`the metadata at ${url} is for another issuer`, response.status)
  const endpoint = (member: string): string | undefined => {
    const value = body[member]
    if (value === undefined) return undefined
    if (typeof value !== 'string' || !isHttpUrl(value))
      throw invalidResponse(`the metadata at ${url} has an invalid ${member}`, response.status)
    return value
  }
  return {
    issuer: body.issuer,
    tokenEndpoint: endpoint('token_endpoint'),
    jwksUri: endpoint('jwks_uri'),
    introspectionEndpoint: endpoint('introspection_endpoint'),
    revocationEndpoint: endpoint('revocation_endpoint'),
    authorizationEndpoint: endpoint('authorization_endpoint'),
    pushedAuthorizationRequestEndpoint: endpoint('pushed_authorization_request_endpoint'),
    backchannelAuthenticationEndpoint: endpoint('backchannel_authentication_endpoint'),
  }
}

/**
 * Checks an issuer identifier (RFC 8414 §2): an http(s) URL without query or fragment. Returns it as given.
 * @example
 * checkIssuer('https://mandate.example.com', 'issuer')
 */
export function checkIssuer(issuer: unknown, name: string): string {
  if (typeof issuer !== 'string' || !isHttpUrl(issuer)) throw new TypeError(`${name} must be an http(s) URL`)
  const url = new URL(issuer)
  if (url.search || url.hash) throw new TypeError(`${name} must not have a query or fragment (RFC 8414 §2)`)
  return issuer
}

function metadataUrl(issuer: string): string {
  // RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
  const url = new URL(issuer)
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '')
  return `${url.origin}/.well-known/oauth-authorization-server${path}`
}

function withoutTrailingSlash(value: string): string {
  return value.replace(/\/+$/, '')
}
