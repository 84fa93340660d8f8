// client_credentials (RFC 6749 §4.4): an agent or workload acting on its own authority (autonomous mode).

import type { AuthenticatedClient } from '../../authn/client-authentication.ts'
import { InvalidScope, UnauthorizedClient } from '../../errors/oauth-error.ts'
import { beyondCeiling } from '../../registry/gates.ts'
import { parseAuthorizationDetails, parseScope, resolveTarget } from '../target.ts'
import {
  authorizeByPolicy,
  boundTo,
  checkDetailsCeiling,
  type Grant,
  type GrantContext,
  type GrantResult,
  type TokenRequest,
} from './grant.ts'

export const clientCredentials: Grant = {
  type: 'client_credentials',
  clientAuthentication: 'required',
  async handle(request, client, ctx) {
    if (!client) throw new UnauthorizedClient('client authentication is required')
    return issueAutonomousToken(request, client, ctx, 'client_credentials')
  },
}

/**
 * Issues a token on the client's own authority (`sub` = the client): the client_credentials grant, and the
 * jwt-bearer grant once its assertion has identified the client.
 */
export async function issueAutonomousToken(
  request: TokenRequest,
  client: AuthenticatedClient,
  ctx: GrantContext,
  grantType: string,
): Promise<GrantResult> {
  const { principal } = client.client
  // The platform decides the mode: an agent registered as delegated never acts on its own authority.
  if (client.client.kind === 'agent' && client.client.principal.classification === 'delegated') {
    throw new UnauthorizedClient(
      `agent ${client.id} is delegated: it acts only on a user's behalf (use token exchange)`,
    )
  }
  const scopes = parseScope(request.params.scope)
  const target = resolveTarget(ctx.directory, request.resources, scopes)
  const details = parseAuthorizationDetails(request.params.authorization_details, target)
  if (scopes.length === 0 && !details)
    throw new InvalidScope('scope is required: tokens are issued for named actions only')
  const beyond = beyondCeiling(principal, scopes, target)
  if (beyond.length > 0) throw new InvalidScope(`beyond the ceiling of ${client.id}: ${beyond.join(' ')}`)
  checkDetailsCeiling(client, details, target)
  const actor = { kind: client.client.kind, id: client.id }
  const allowed = await authorizeByPolicy(request, ctx, {
    client: actor,
    mode: 'autonomous',
    chain: [actor],
    resourceServer: target,
    scopes,
    details: details ?? [],
  })
  const granted = allowed.scopes
  const grantedDetails = details ? allowed.details : undefined
  const lifetimeSeconds = Math.min(
    target.token_lifetime_seconds,
    ctx.maxTokenLifetimeSeconds,
    allowed.maxTtlSeconds ?? Number.POSITIVE_INFINITY,
  )
  const minted = ctx.minter.mint({
    sub: client.id,
    client_id: client.id,
    aud: target.audience,
    scope: granted,
    ...(grantedDetails?.length ? { authorization_details: grantedDetails } : {}),
    lifetimeSeconds,
    // RFC 9449 §6 or RFC 8705 §3: bound to the DPoP key, else to the certificate the client authenticated with.
    ...boundTo(request, client),
  })
  return {
    response: {
      access_token: minted.token,
      // RFC 9449 §5: a DPoP-bound token is of type DPoP.
      token_type: request.dpopJkt ? 'DPoP' : 'Bearer',
      expires_in: lifetimeSeconds,
      ...(granted.length > 0 ? { scope: granted.join(' ') } : {}),
      ...(grantedDetails?.length ? { authorization_details: grantedDetails } : {}),
    },
    audit: {
      type: 'token.issue',
      outcome: 'success',
      actors: [{ kind: client.client.kind, id: client.id }],
      mode: 'autonomous',
      action: granted.join(' '),
      resource: target.audience,
      details: {
        grant_type: grantType,
        ...(allowed.denied.length > 0 ? { denied_by_policy: allowed.denied } : {}),
        jti: minted.jti,
        exp: minted.exp,
        client_auth: client.method,
      },
    },
  }
}
