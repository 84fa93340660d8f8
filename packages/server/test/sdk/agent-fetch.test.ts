// @mandate/sdk end to end (issue 8): an agent calls a resource server with agent.fetch; the resource server, a plain
// node:http server, checks each call with verifyAccessToken against a real node's keys and asks the node
// (introspection) whether the token was revoked.
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import {
  AccessTokenError,
  AgentClient,
  type AgentClientOptions,
  MandateIssuer,
  requestFromNode,
  verifyAccessToken,
} from '@mandate/sdk'
import { decodeJwt } from 'jose'
import { type OAuthFixture, startOAuthFixture } from '../oauth/oauth-fixture.ts'
import { sqliteStore, type TestStore } from '../support/harness.ts'

/** What the test resource server answers. */
const served = async (response: Response) =>
  (await response.json()) as { sub: string; binding: string; body: string; jti: string }

describe('@mandate/sdk agent.fetch against a resource server using verifyAccessToken (issue 8)', () => {
  let store: TestStore
  let f: OAuthFixture
  let rs: Server
  let api: string
  let requests: string[] = []
  let tokenRequests = 0
  let nonce = 'n-1'

  const agent = (options: Partial<AgentClientOptions> = {}) =>
    new AgentClient({
      issuer: f.issuer,
      clientId: 'fetcher',
      credential: { type: 'private_key_jwt', privateKey: f.botKey.privateKey, kid: 'k1' },
      fetch: (input, init) => {
        if (String(input).endsWith('/oauth/token')) tokenRequests++
        return fetch(input, init)
      },
      ...options,
    })
  const read = () => ({ resource: api, scope: 'api:read' })
  const count = <T>(run: () => Promise<T>) => {
    requests = []
    tokenRequests = 0
    return run()
  }

  before(async () => {
    store = sqliteStore()
    f = await startOAuthFixture(store)
    const mandate = new MandateIssuer(f.issuer)
    // The resource server's own identity at the node, to ask whether a token was revoked (RFC 7662).
    const introspector = new AgentClient({
      issuer: f.issuer,
      clientId: 'secret-bot',
      credential: { type: 'client_secret', secret: f.secrets['secret-bot'] ?? '' },
    })
    const dpopNonce = { issue: () => nonce, accepts: (value: string) => value === nonce }
    rs = createServer(async (req, res) => {
      requests.push(`${req.method} ${req.url}`)
      const path = new URL(req.url ?? '/', 'http://localhost').pathname
      if (path === '/always-401') {
        res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end()
        return
      }
      try {
        const verified = await verifyAccessToken(requestFromNode(req), {
          issuer: mandate,
          audience: api,
          scopes: path === '/write' ? 'api:write' : 'api:read',
          ...(path === '/nonce' ? { dpopNonce } : {}),
        })
        if (!(await introspector.introspect(verified.token)).active)
          throw new AccessTokenError('invalid_token', 'the access token was revoked', {
            scheme: verified.binding === 'dpop' ? 'dpop' : 'bearer',
          })
        let body = ''
        for await (const chunk of req) body += chunk
        res.setHeader('content-type', 'application/json')
        res.end(
          JSON.stringify({
            sub: verified.claims.sub,
            binding: verified.binding,
            body,
            jti: verified.claims.jti,
          }),
        )
      } catch (error) {
        if (!(error instanceof AccessTokenError)) {
          res.writeHead(500).end(String(error))
          return
        }
        res.writeHead(error.status, error.headers).end(JSON.stringify({ error: error.code }))
      }
    })
    await new Promise<void>((resolve) => rs.listen(0, '127.0.0.1', resolve))
    api = `http://127.0.0.1:${(rs.address() as AddressInfo).port}/`
    const put = async (path: string, body: Record<string, unknown>) => {
      const res = await f.node.call('PUT', path, { body })
      assert.ok(res.status < 300, `${path}: ${res.text}`)
    }
    // The resource server introspects as secret-bot (RFC 7662 §4: only its introspection clients may).
    await put('/api/v1/resource-servers/api', {
      audience: api,
      scopes: ['api:read', 'api:write'],
      introspection_clients: ['secret-bot'],
    })
    await put('/api/v1/agents/fetcher', {
      sponsor: 'alice@example.com',
      classification: 'autonomous',
      ceiling: ['api:read'],
      credentials: [{ type: 'jwks', jwks: { keys: [f.botKey.publicJwk] } }],
    })
  })
  after(async () => {
    await new Promise<void>((resolve) => rs.close(() => resolve()))
    await f.close()
    await store.drop()
  })

  it('RFC 6750 §2.1: sends a Bearer token for the resource and scope; the resource server accepts it; the token is reused', async () => {
    const client = agent()
    await count(async () => {
      const first = await client.fetch(`${api}items`, { token: read() })
      assert.equal(first.status, 200)
      assert.deepEqual(
        { ...(await served(first)), jti: undefined },
        { sub: 'fetcher', binding: 'bearer', body: '', jti: undefined },
      )
      assert.equal((await client.fetch(`${api}items`, { token: read() })).status, 200)
      assert.equal(tokenRequests, 1)
      assert.deepEqual(requests, ['GET /items', 'GET /items'])
    })
  })

  it('RFC 9449 §7.1: with DPoP, sends the DPoP scheme and a fresh proof on every call (the server would refuse a replay)', async () => {
    const client = agent({ dpop: true })
    for (const query of ['?page=1', '?page=2']) {
      const response = await client.fetch(`${api}items${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query }),
        token: read(),
      })
      assert.equal(response.status, 200)
      const body = await served(response)
      assert.equal(body.binding, 'dpop')
      assert.deepEqual(JSON.parse(body.body), { query })
    }
  })

  it('RFC 9449 §9: a resource server requiring nonces gets one retry with its DPoP-Nonce; the nonce is kept for the next call', async () => {
    const client = agent({ dpop: true })
    nonce = 'n-2'
    await count(async () => {
      assert.equal((await client.fetch(`${api}nonce`, { token: read() })).status, 200)
      assert.deepEqual(requests, ['GET /nonce', 'GET /nonce'], 'use_dpop_nonce, then the call with the nonce')
      requests = []
      assert.equal((await client.fetch(`${api}nonce`, { token: read() })).status, 200)
      assert.deepEqual(requests, ['GET /nonce'], 'the kept nonce is used at once')
    })
  })

  it('issue 8, RFC 6750 §3.1: a token the resource server refuses as invalid_token (revoked) is replaced once and the call repeated', async () => {
    const client = agent()
    const token = await client.getToken(read())
    const { jti, exp } = decodeJwt(token.accessToken)
    const revoked = await f.node.call('POST', '/api/v1/revocations', { body: { target: 'token', jti, exp } })
    assert.equal(revoked.status, 201)
    await count(async () => {
      const response = await client.fetch(`${api}items`, { token: read() })
      assert.equal(response.status, 200)
      assert.notEqual((await served(response)).jti, jti, 'served with a new token')
      assert.deepEqual(requests, ['GET /items', 'GET /items'])
      assert.equal(tokenRequests, 1)
    })
  })

  it('refreshes once only: a second invalid_token answer is returned to the caller', async () => {
    const client = agent()
    await count(async () => {
      const response = await client.fetch(`${api}always-401`, { token: read() })
      assert.equal(response.status, 401)
      assert.equal(requests.length, 2)
      assert.equal(tokenRequests, 2)
    })
  })

  it('a token given as is (e.g. from exchange) is never replaced; a stream body is never sent twice', async () => {
    const client = agent()
    const token = await client.getToken(read())
    await count(async () => {
      assert.equal((await client.fetch(`${api}always-401`, { token })).status, 401)
      assert.equal(requests.length, 1)
      const stream = new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('once'))
          controller.close()
        },
      })
      const init = { method: 'POST', body: stream, duplex: 'half', token: read() } as const
      assert.equal((await client.fetch(`${api}always-401`, init)).status, 401)
      assert.equal(requests.length, 2)
    })
  })

  it('any other refusal is returned as it is: 403 insufficient_scope, no retry', async () => {
    const client = agent()
    await count(async () => {
      const response = await client.fetch(`${api}write`, { method: 'PUT', token: read() })
      assert.equal(response.status, 403)
      assert.match(
        response.headers.get('www-authenticate') ?? '',
        /error="insufficient_scope", .*scope="api:write"/,
      )
      assert.equal(requests.length, 1)
    })
  })

  it('RFC 8707: never sends a token to another origin than its resource, nor lets the caller set Authorization or DPoP', async () => {
    const client = agent()
    await assert.rejects(
      client.fetch('http://127.0.0.1:9/items', { token: read() }),
      /not on the token's resource/,
    )
    await assert.rejects(
      client.fetch(`${api}items`, { headers: { Authorization: 'Bearer x' }, token: read() }),
      /must not set Authorization or DPoP/,
    )
    await assert.rejects(
      client.fetch(`${api}items`, {} as Parameters<AgentClient['fetch']>[1]),
      /init.token is required/,
    )
  })
})
