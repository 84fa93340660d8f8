// Strict TypeScript over @mandate/sdk as CommonJS (the `require` types): the agent client from the environment and
// the admin client, with an exhaustive switch over the admin error codes. Type-checked only (tsc --noEmit).
import type { ErrorCode, ProtectedResourceRequest } from '@mandate/sdk'

import sdk = require('@mandate/sdk')

export async function main(): Promise<string> {
  const agent = sdk.AgentClient.fromEnv(process.env, { refreshBeforeSeconds: 60 })
  const { accessToken, tokenType } = await agent.getToken({
    resource: 'https://notes.example.com/',
    scope: 'notes:read',
  })
  const request: ProtectedResourceRequest = {
    method: 'GET',
    url: new URL('https://notes.example.com/notes'),
    headers: { authorization: `${tokenType} ${accessToken}` },
  }
  const verified = await sdk.verifyAccessToken(request, {
    issuer: new sdk.MandateIssuer('https://mandate.example.com'),
    audience: 'https://notes.example.com/',
  })
  const admin = new sdk.AdminClient({
    baseUrl: 'https://mandate.example.com',
    token: process.env.MANDATE_TOKEN ?? '',
  })
  try {
    await admin.get('agents', verified.claims.client_id)
  } catch (error) {
    if (error instanceof sdk.MandateApiError) return describe(error.code)
    throw error
  }
  return verified.scopes.join(' ')
}

function describe(code: ErrorCode): string {
  switch (code) {
    case 'validation_failed':
    case 'unauthorized':
    case 'forbidden':
    case 'not_found':
    case 'method_not_allowed':
    case 'conflict':
    case 'payload_too_large':
    case 'unsupported_media_type':
    case 'too_many_requests':
    case 'unavailable':
    case 'audit_unavailable':
    case 'server_error':
    case 'network_error':
    case 'invalid_response':
      return code
    default: {
      const unreachable: never = code
      return unreachable
    }
  }
}
