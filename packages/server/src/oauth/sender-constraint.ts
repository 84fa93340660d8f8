// Sender-constrained tokens at the token endpoint (RFC 9449 DPoP, RFC 8705 mTLS): a bound token presented as a
// grant's input is accepted only with proof of its key, what is issued from it stays bound to that key (never
// downgraded to a bearer token), and any other new token is bound to what the request proves.
import type { AuthenticatedClient } from '../authn/client-authentication.ts'
import { InvalidRequest } from '../errors/oauth-error.ts'
import type { Confirmation } from '../tokens/access-token.ts'
import type { TokenRequest } from './grants/grant.ts'

/**
 * Checks that this request proves the key a presented token is bound to, and returns that binding (undefined for a
 * bearer token). `cnf.jkt` needs a DPoP proof by that key on this request (RFC 9449 §4.3; the proof itself was
 * verified before the grant ran); `cnf["x5t#S256"]` needs that certificate on this TLS connection (RFC 8705 §3).
 * Any other confirmation method cannot be checked and is refused.
 * @example
 * const inherited = proveBinding(subjectClaims.cnf, request, 'subject_token')
 */
export function proveBinding(
  cnf: unknown,
  request: TokenRequest,
  name: 'subject_token' | 'actor_token',
): Confirmation | undefined {
  if (cnf === undefined) return undefined
  // RFC 8693 §2.2.2: a subject or actor token that is unacceptable for any reason is invalid_request.
  if (cnf === null || typeof cnf !== 'object' || Array.isArray(cnf))
    throw new InvalidRequest(`${name} has a malformed cnf claim`)
  const members = Object.keys(cnf)
  const { jkt, 'x5t#S256': x5t } = cnf as Record<string, unknown>
  if (members.length === 1 && typeof jkt === 'string') {
    if (request.dpopJkt === undefined)
      throw new InvalidRequest(`${name} is DPoP-bound: send a DPoP proof signed with its key`)
    if (request.dpopJkt !== jkt)
      throw new InvalidRequest(`${name} is bound to another key than the one the DPoP proof was signed with`)
    return { jkt }
  }
  if (members.length === 1 && typeof x5t === 'string') {
    if (request.certificateThumbprint !== x5t)
      throw new InvalidRequest(`${name} is bound to a client certificate this connection did not present`)
    if (request.dpopJkt !== undefined)
      throw new InvalidRequest(`${name} is bound to a client certificate: send no DPoP proof with it`)
    return { 'x5t#S256': x5t }
  }
  throw new InvalidRequest(`${name} is bound by a confirmation method this server cannot check`)
}

/**
 * The binding of an access token issued for this request: the one its sender-constrained subject token carries
 * (`inherited`, proven by {@link proveBinding}), else the key of the request's DPoP proof (RFC 9449 §5), else the
 * certificate the client authenticated with (RFC 8705 §3).
 */
export function bindingFor(
  request: TokenRequest,
  client: AuthenticatedClient,
  inherited: Confirmation | undefined,
): Confirmation | undefined {
  if (inherited) return inherited
  if (request.dpopJkt) return { jkt: request.dpopJkt }
  if (client.certificateThumbprint) return { 'x5t#S256': client.certificateThumbprint }
  return undefined
}
