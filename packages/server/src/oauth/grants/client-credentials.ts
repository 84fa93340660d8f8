// client_credentials (RFC 6749 §4.4): an agent or workload acting on its own authority (autonomous mode).

import type { AuthenticatedClient } from '../../authn/client-authentication.ts'
import { InvalidScope, UnauthorizedClient } from '../../errors/oauth-error.ts'
import { beyondCeiling } from '../../registry/gates.ts'
import { issueAccessToken } from '../issue.ts'
import { parseAuthorizationDetails, parseScope, resolveTarget } from '../target.ts'
import {
  authorizeByPolicy,
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
  return issueAccessToken(request, ctx, {
    grantType,
    client,
    mode: 'autonomous',
    subject: client.id,
    resourceServer: target,
    allowed,
    detailsRequested: details !== undefined,
    actors: [actor],
  })
}
