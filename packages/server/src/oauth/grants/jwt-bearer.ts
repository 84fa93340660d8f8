// The JWT bearer grant (RFC 7523 §2.1): a workload token from a trusted issuer is the whole request, with no other
// client authentication. This is the form MCP's workload identity federation extension uses.
import { checkClientLifecycle } from '../../authn/client-authentication.ts'
import { verifyFederatedAssertion } from '../../authn/methods/federated-assertion.ts'
import { InvalidClient, InvalidGrant } from '../../errors/oauth-error.ts'
import { required } from '../target.ts'
import { issueAutonomousToken } from './client-credentials.ts'
import type { Grant } from './grant.ts'

/** RFC 7523 §2.1 grant type. */
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer'

export const jwtBearer: Grant = {
  type: JWT_BEARER,
  clientAuthentication: 'none',
  async handle(request, _client, ctx) {
    const assertion = required(request.params, 'assertion')
    let client: Awaited<ReturnType<typeof verifyFederatedAssertion>>
    try {
      client = await verifyFederatedAssertion(assertion, request.params.client_id, ctx.clientAuth)
    } catch (error) {
      // RFC 7523 §3.1: a bad, expired or unmatched assertion is invalid_grant.
      if (error instanceof InvalidClient) throw new InvalidGrant(error.message)
      throw error
    }
    checkClientLifecycle(client, ctx.clientAuth)
    return issueAutonomousToken(request, client, ctx, JWT_BEARER)
  },
}
