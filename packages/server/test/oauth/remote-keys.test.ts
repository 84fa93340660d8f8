// Keys at a jwks_uri (issue 8): one key-set service for the node, against a real JWKS server on loopback. A client's
// rotated key works at once; unknown kids and a failing server cannot make the node fetch on every request; a
// trusted issuer's rotated key works at once too; the SSRF protections of jwks_uri registrations are unchanged.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { type JWK, SignJWT } from 'jose'
import { sqliteStore, type TestStore } from '../support/harness.ts'
import {
  ecKeyPair,
  K8S,
  type OAuthFixture,
  RESOURCE,
  SERVICE_ACCOUNT,
  signWorkloadToken,
  startOAuthFixture,
} from './oauth-fixture.ts'

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer'

describe('keys at a jwks_uri (RFC 7523 §3, RFC 7517)', () => {
  let store: TestStore
  let f: OAuthFixture
  let server: http.Server
  let origin = ''
  const served = new Map<string, { status: number; keys: JWK[] }>()
  const hits = new Map<string, number>()
  // The node's clock runs ahead of the real one by `offset` ms, so the tests can let cooldowns and backoffs pass.
  let offset = 0
  const k1 = ecKeyPair('k1')
  const k2 = ecKeyPair('k2')

  const assertion = (clientId: string, key: ReturnType<typeof ecKeyPair>) => {
    const now = Math.floor((Date.now() + offset) / 1000)
    return new SignJWT({
      iss: clientId,
      sub: clientId,
      aud: f.issuer,
      iat: now,
      exp: now + 60,
      jti: randomUUID(),
    })
      .setProtectedHeader({ alg: 'ES256', kid: key.publicJwk.kid })
      .sign(key.privateKey)
  }
  const token = async (clientId: string, key: ReturnType<typeof ecKeyPair>) =>
    f.token({
      grant_type: 'client_credentials',
      scope: 'tickets:read',
      resource: RESOURCE,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await assertion(clientId, key),
    })
  const agent = async (id: string, path: string, keys: JWK[], status = 200) => {
    served.set(path, { status, keys })
    const res = await f.node.call('PUT', `/api/v1/agents/${id}`, {
      body: {
        sponsor: 'alice@example.com',
        classification: 'autonomous',
        ceiling: ['tickets:read'],
        credentials: [{ type: 'jwks_uri', jwks_uri: `${origin}${path}` }],
      },
    })
    assert.equal(res.status, 201, res.text)
  }

  before(async () => {
    server = http.createServer((req, res) => {
      const path = req.url ?? '/'
      hits.set(path, (hits.get(path) ?? 0) + 1)
      const answer = served.get(path) ?? { status: 404, keys: [] }
      res
        .writeHead(answer.status, { 'content-type': 'application/json' })
        .end(JSON.stringify({ keys: answer.keys }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    store = sqliteStore()
    // Loopback jwks_uris for the test server; the default cooldown (30 s) and backoff hold.
    f = await startOAuthFixture(store, { jwksAllowLoopback: true }, { now: () => Date.now() + offset })
  })
  after(async () => {
    await f.close()
    await store.drop()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('RFC 7517 §4.5 (issue 8): a client that rotates its key at its jwks_uri authenticates with the new key at once', async () => {
    await agent('rotating-bot', '/rotating', [k1.publicJwk])
    assert.equal((await token('rotating-bot', k1)).status, 200)
    served.set('/rotating', { status: 200, keys: [k2.publicJwk] })
    const rotated = await token('rotating-bot', k2)
    assert.equal(rotated.status, 200, JSON.stringify(rotated.json))
    assert.equal(hits.get('/rotating'), 2, 'the unknown kid caused one refetch')
    // The old key is gone from the document: refused.
    assert.equal((await token('rotating-bot', k1)).json.error, 'invalid_client')
  })

  it('(issue 8) a flood of unauthenticated assertions naming unknown keys causes at most one refetch per cooldown', async () => {
    await agent('flooded-bot', '/flooded', [k1.publicJwk])
    assert.equal((await token('flooded-bot', k1)).status, 200)
    for (let i = 0; i < 25; i++) {
      const res = await token('flooded-bot', ecKeyPair(`forged-${i}`))
      assert.equal(res.json.error, 'invalid_client', JSON.stringify(res.json))
    }
    assert.equal(hits.get('/flooded'), 2, 'the first load and one refetch, not one per request')
    assert.equal((await token('flooded-bot', k1)).status, 200, 'the real key still works')
    // MANDATE_JWKS_REFETCH_COOLDOWN_SECONDS (30) later, an unknown key may cause one more refetch.
    offset += 30_000
    for (let i = 0; i < 5; i++)
      assert.equal((await token('flooded-bot', ecKeyPair(`late-${i}`))).json.error, 'invalid_client')
    assert.equal(hits.get('/flooded'), 3)
  })

  it('(issue 8) a jwks_uri that fails is not fetched again on every request (backoff), and the refusal is invalid_client', async () => {
    await agent('broken-bot', '/broken', [], 503)
    for (let i = 0; i < 10; i++) {
      const res = await token('broken-bot', k1)
      assert.equal(res.status, 401, JSON.stringify(res.json))
      assert.equal(res.json.error, 'invalid_client')
      assert.match(String(res.json.error_description), /cannot be fetched/)
    }
    assert.equal(hits.get('/broken'), 1, 'ten requests, one fetch')
    // Tried again 5 s after the first failure, then 10 s after the second.
    offset += 5000
    for (let i = 0; i < 3; i++) assert.equal((await token('broken-bot', k1)).status, 401)
    assert.equal(hits.get('/broken'), 2)
    offset += 9000
    assert.equal((await token('broken-bot', k1)).status, 401)
    assert.equal(hits.get('/broken'), 2)
    offset += 1000
    served.set('/broken', { status: 200, keys: [k1.publicJwk] })
    assert.equal((await token('broken-bot', k1)).status, 200, 'fetched once the backoff has passed')
    assert.equal(hits.get('/broken'), 3)
  })

  it('a document is reused until MANDATE_JWKS_CACHE_SECONDS old; once its refresh fails, its old keys are not used', async () => {
    await agent('aging-bot', '/aging', [k1.publicJwk])
    assert.equal((await token('aging-bot', k1)).status, 200)
    offset += 299_000
    assert.equal((await token('aging-bot', k1)).status, 200)
    assert.equal(hits.get('/aging'), 1)
    served.set('/aging', { status: 500, keys: [] })
    offset += 1000
    const res = await token('aging-bot', k1)
    assert.equal(res.json.error, 'invalid_client', JSON.stringify(res.json))
    assert.match(String(res.json.error_description), /cannot be fetched/)
    assert.equal(hits.get('/aging'), 2)
  })

  it('(issue 8) a trusted workload issuer that rotates its key at its jwks_uri is trusted with the new key at once', async () => {
    served.set('/k8s', { status: 200, keys: [k1.publicJwk] })
    for (const [path, body] of [
      [
        '/api/v1/trusted-issuers/k8s',
        { issuer: K8S, type: 'workload', jwks_uri: `${origin}/k8s`, audiences: ['mandate'] },
      ],
      [
        '/api/v1/workloads/deployer',
        {
          ceiling: ['tickets:read'],
          credentials: [{ type: 'federated', issuer: K8S, subject: SERVICE_ACCOUNT, audience: 'mandate' }],
        },
      ],
    ] as const) {
      const res = await f.node.call('PUT', path, { body })
      assert.ok(res.status < 300, res.text)
    }
    const grant = async (key: ReturnType<typeof ecKeyPair>) =>
      f.token({
        grant_type: JWT_BEARER,
        assertion: await signWorkloadToken(key),
        scope: 'tickets:read',
        resource: RESOURCE,
      })
    assert.equal((await grant(k1)).status, 200)
    served.set('/k8s', { status: 200, keys: [k2.publicJwk] })
    const rotated = await grant(k2)
    assert.equal(rotated.status, 200, JSON.stringify(rotated.json))
    assert.equal(hits.get('/k8s'), 2)
  })

  it('keeps the SSRF protections: a jwks_uri naming a private or link-local address is refused at registration', async () => {
    for (const uri of ['https://10.0.0.1/jwks', 'https://169.254.169.254/latest', 'https://[fd00::1]/jwks']) {
      const res = await f.node.call('PUT', '/api/v1/agents/ssrf-bot', {
        body: {
          sponsor: 'alice@example.com',
          classification: 'autonomous',
          ceiling: ['tickets:read'],
          credentials: [{ type: 'jwks_uri', jwks_uri: uri }],
        },
      })
      assert.equal(res.status, 400, `${uri}: ${res.text}`)
      assert.match(res.json.fields[0].message, /forbidden/)
    }
  })
})
