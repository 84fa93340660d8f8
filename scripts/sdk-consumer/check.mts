// Strict TypeScript over @mandate/sdk as an ES module (the `import` types): a resource server and an agent, with
// exhaustive switches over the error code unions. Type-checked only (tsc --noEmit).
import { createServer } from 'node:http'
import {
  type AccessToken,
  AccessTokenError,
  type AccessTokenErrorCode,
  AgentClient,
  type AgentFetchInit,
  MandateIssuer,
  MandateOAuthError,
  type OAuthErrorCode,
  requestFromNode,
  type TokenIntrospection,
  type VerifiedAccessToken,
  verifyAccessToken,
} from '@mandate/sdk'

const issuer = new MandateIssuer('https://mandate.example.com', { clockToleranceSeconds: 10 })

export const server = createServer(async (req, res) => {
  try {
    const token: VerifiedAccessToken = await verifyAccessToken(
      requestFromNode(req, { baseUrl: 'https://notes.example.com' }),
      { issuer, audience: 'https://notes.example.com/', scopes: ['notes:read'] },
    )
    const actor: string = token.claims.act?.sub ?? token.claims.sub
    res.end(JSON.stringify({ actor, binding: token.binding }))
  } catch (error) {
    if (!(error instanceof AccessTokenError)) throw error
    res.writeHead(statusOf(error.code), error.headers).end()
  }
})

function statusOf(code: AccessTokenErrorCode): 401 | 403 {
  switch (code) {
    case 'invalid_token':
    case 'invalid_dpop_proof':
    case 'use_dpop_nonce':
      return 401
    case 'insufficient_scope':
      return 403
    default: {
      const unreachable: never = code
      return unreachable
    }
  }
}

export async function agentSide(): Promise<TokenIntrospection> {
  const agent = new AgentClient({
    issuer: 'https://mandate.example.com',
    clientId: 'notes-bot',
    credential: { type: 'private_key_jwt', privateKeyFile: '/run/secrets/notes-bot.pem', kid: 'k1' },
    dpop: true,
  })
  const init: AgentFetchInit = {
    method: 'GET',
    token: { resource: 'https://notes.example.com/', scope: 'notes:read' },
  }
  await agent.fetch('https://notes.example.com/notes', init)
  try {
    const token: AccessToken = await agent.getToken({
      resource: 'https://notes.example.com/',
      scope: ['notes:read'],
    })
    return await agent.introspect(token)
  } catch (error) {
    if (error instanceof MandateOAuthError && error.code === 'approval_required') {
      const approval: [string | undefined, string | undefined] = [error.approvalId, error.approver]
      throw new Error(`waiting for ${approval.join(' ')}`)
    }
    throw error
  }
}

export const retryable = (code: OAuthErrorCode): boolean =>
  code === 'temporarily_unavailable' || code === 'network_error'

export const both = (): AgentClient =>
  new AgentClient({
    issuer: 'https://m.example.com',
    clientId: 'x',
    // @ts-expect-error: a key is given either in memory or as a file, not both.
    credential: { type: 'private_key_jwt', privateKey: 'pem', privateKeyFile: 'f' },
  })

// @ts-expect-error: not a code verifyAccessToken refuses with.
export const wrong: AccessTokenErrorCode = 'invalid_client'
