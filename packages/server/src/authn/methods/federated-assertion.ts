// Federated workload identity: a token from a trusted workload issuer (Kubernetes service-account token, GitHub
// Actions OIDC, SPIFFE JWT-SVID, any OIDC issuer) proves a workload or agent whose federated binding it matches. No
// secret and no key of the client's own: the platform vouches for it. Used as a client assertion (RFC 7523 §2.2) and
// by the jwt-bearer grant (RFC 7523 §2.1).

import { InvalidClient } from '../../errors/oauth-error.ts'
import type { Client } from '../../registry/directory.ts'
import { audiencesOf, ExternalTokenRejected, type VerifiedExternalToken } from '../trusted-token.ts'
import type { AuthenticatedClient, ClientAuthContext } from './method.ts'

type Claims = Record<string, unknown>

// A required claim matches when the token's value (or one of its values) equals the binding's value (or one of them).
function claimMatches(actual: unknown, expected: string | string[]): boolean {
  const wanted = Array.isArray(expected) ? expected : [expected]
  const have = Array.isArray(actual) ? actual : [actual]
  return have.some((value) => typeof value === 'string' && wanted.includes(value))
}

/** Whether a client's federated binding accepts these claims from this issuer. */
function bindingMatches(client: Client, issuer: string, claims: Claims): boolean {
  return client.principal.credentials.some(
    (binding) =>
      binding.type === 'federated' &&
      binding.issuer === issuer &&
      binding.subject === claims.sub &&
      (binding.audience === undefined || audiencesOf(claims).includes(binding.audience)) &&
      Object.entries(binding.claims ?? {}).every(([name, expected]) => claimMatches(claims[name], expected)),
  )
}

/** Whether a token names a trusted workload issuer, so that it should be verified as a federated assertion. */
export function isFederatedAssertion(issuer: string | undefined, ctx: ClientAuthContext): boolean {
  return issuer !== undefined && ctx.directory.trustedIssuer(issuer)?.type === 'workload'
}

/**
 * Verifies a workload token and returns the one client whose federated binding it matches. `claimedClientId`, when
 * the request names a client, must be that client. Throws InvalidClient (callers map it to invalid_grant where the
 * RFC says so).
 */
export async function verifyFederatedAssertion(
  token: string,
  claimedClientId: string | undefined,
  ctx: ClientAuthContext,
): Promise<AuthenticatedClient> {
  let verified: VerifiedExternalToken
  try {
    verified = await ctx.trustedTokens.verify(token, 'workload')
  } catch (error) {
    if (error instanceof ExternalTokenRejected)
      throw new InvalidClient(`the workload token is not acceptable: ${error.message}`)
    throw error
  }
  const issuer = verified.issuer.issuer
  const candidates =
    claimedClientId !== undefined
      ? [ctx.directory.client(claimedClientId)].filter((c): c is Client => c !== undefined)
      : ctx.directory.federatedClients(issuer, verified.claims.sub)
  const matching = candidates.filter((client) => bindingMatches(client, issuer, verified.claims))
  if (matching.length !== 1)
    throw new InvalidClient(
      matching.length === 0
        ? 'no client is bound to this workload identity'
        : 'several clients are bound to this workload identity: name one with client_id',
    )
  const client = matching[0] as Client
  return { id: client.principal.id, client, method: 'federated_assertion' }
}
