// A plain ES module using @mandate/sdk installed from its tarball, against a real node: the admin client registers a
// resource server and an agent whose key is a PEM file; the agent, configured from the environment, calls a resource
// server (node:http) that checks every call with verifyAccessToken.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  AccessTokenError,
  AdminClient,
  AgentClient,
  MandateIssuer,
  MandateOAuthError,
  requestFromNode,
  verifyAccessToken,
} from '@mandate/sdk'

const { MANDATE_URL, MANDATE_TOKEN } = process.env
const admin = new AdminClient({ baseUrl: MANDATE_URL, token: MANDATE_TOKEN })
const issuer = new MandateIssuer(MANDATE_URL)

let audience = ''
const server = createServer(async (req, res) => {
  try {
    const token = await verifyAccessToken(requestFromNode(req), { issuer, audience, scopes: 'notes:read' })
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ sub: token.claims.sub, binding: token.binding }))
  } catch (error) {
    if (!(error instanceof AccessTokenError)) throw error
    res.writeHead(error.status, error.headers).end()
  }
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
audience = `http://127.0.0.1:${server.address().port}/`

const dir = mkdtempSync(join(tmpdir(), 'sdk-consumer-'))
try {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const keyFile = join(dir, 'agent.pem')
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })

  await admin.put('humans', 'alice@example.com', {})
  await admin.put('resource-servers', 'notes-esm', { audience, scopes: ['notes:read', 'notes:write'] })
  // Policies are checked against what is registered, so they come after the resource server they speak of.
  await admin.put('policies', 'allow-all', { policies: '@id("all")\npermit (principal, action, resource);' })
  await admin.put('agents', 'esm-bot', {
    sponsor: 'alice@example.com',
    classification: 'autonomous',
    ceiling: ['notes:read'],
    credentials: [
      { type: 'jwks', jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' }] } },
    ],
  })

  const agent = AgentClient.fromEnv({
    MANDATE_URL,
    MANDATE_CLIENT_ID: 'esm-bot',
    MANDATE_PRIVATE_KEY_FILE: keyFile,
    MANDATE_KEY_ID: 'k1',
    MANDATE_DPOP: 'true',
  })
  const response = await agent.fetch(`${audience}notes`, {
    token: { resource: audience, scope: 'notes:read' },
  })
  assert.equal(response.status, 200)
  assert.deepEqual(await response.json(), { sub: 'esm-bot', binding: 'dpop' })

  const token = await agent.getToken({ resource: audience, scope: 'notes:read' })
  assert.equal(token.tokenType, 'DPoP')
  assert.equal((await agent.introspect(token)).active, true)
  await agent.revoke(token)
  assert.deepEqual(await agent.introspect(token), { active: false })

  await assert.rejects(
    agent.getToken({ resource: audience, scope: 'notes:write' }),
    (error) => error instanceof MandateOAuthError && error.code === 'invalid_scope',
  )
  const anonymous = await fetch(`${audience}notes`)
  assert.equal(anonymous.status, 401)
  assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer, DPoP algs="ES256 /)
} finally {
  server.close()
  rmSync(dir, { recursive: true, force: true })
}
console.log('use.mjs: ok')
