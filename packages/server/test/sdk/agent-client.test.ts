// @mandate/sdk's agent client against a real node over HTTP: each client authentication method, token caching and
// refresh, DPoP binding and nonces, delegation by token exchange, and typed errors that never leak a secret.
import assert from 'node:assert/strict'
import { after, before, describe, it, mock } from 'node:test'
import { inspect } from 'node:util'
import {
  type AccessToken,
  AgentClient,
  type AgentClientOptions,
  MandateOAuthError,
  type OAuthErrorCode,
  SubjectTokenTypes,
} from '@mandate/sdk'
import { calculateJwkThumbprint, createRemoteJWKSet, decodeProtectedHeader, type JWK, jwtVerify } from 'jose'
import { verifyDpopProof } from '../../src/tokens/dpop.ts'
import {
  ecKeyPair,
  grantMandate,
  IDP,
  IDP_SUBJECT,
  type OAuthFixture,
  RESOURCE,
  registerDeployer,
  signHumanToken,
  signWorkloadToken,
  startOAuthFixture,
} from '../oauth/oauth-fixture.ts'
import { sqliteStore, type TestStore } from '../support/harness.ts'

const SHORT_RESOURCE = 'https://short.example.com/'

/** A fetch that records every request the client makes, to count token endpoint and discovery calls. */
function recordingFetch() {
  const requests: Array<{ method: string; url: string }> = []
  const recorded: typeof fetch = (input, init) => {
    requests.push({ method: init?.method ?? 'GET', url: String(input) })
    return fetch(input, init)
  }
  return {
    fetch: recorded,
    tokenRequests: () => requests.filter((r) => r.url.endsWith('/oauth/token')).length,
    discoveries: () =>
      requests.filter((r) => r.url.includes('/.well-known/oauth-authorization-server')).length,
  }
}

/** Asserts that `promise` fails with a MandateOAuthError of `code` and `status`, and returns the error. */
async function oauthError(promise: Promise<unknown>, code: OAuthErrorCode, status: number) {
  const error = await promise.then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => e,
  )
  assert.ok(error instanceof MandateOAuthError, String(error))
  assert.equal(error.code, code, error.message)
  assert.equal(error.status, status)
  assert.equal(typeof error.description, 'string')
  return error
}

/** Asserts that none of `secrets` shows in the error, however it is printed. */
function assertNoLeak(error: MandateOAuthError, secrets: string[]) {
  const printed = [
    error.message,
    error.description,
    String(error.stack),
    inspect(error),
    JSON.stringify(error),
  ]
  for (const secret of secrets)
    for (const text of printed) assert.ok(!text.includes(secret), 'a secret or token leaked into the error')
}

describe('@mandate/sdk AgentClient', () => {
  let store: TestStore
  let f: OAuthFixture
  let jwks: ReturnType<typeof createRemoteJWKSet>
  const idpKey = ecKeyPair('idp-1')
  const platformKey = ecKeyPair('k8s-1')
  const subKey = ecKeyPair('sub-1')
  const refresherKey = ecKeyPair('r1')

  /** A token from the company IdP for alice, as a user login would produce. */
  const humanToken = (claims: Record<string, unknown> = {}) => signHumanToken(idpKey, f.issuer, claims)

  /** A Kubernetes-style projected service-account token. */
  const workloadToken = () => signWorkloadToken(platformKey)

  /** The fixture's `bot` agent, authenticating with private_key_jwt. */
  const bot = (options: Partial<AgentClientOptions> = {}) =>
    new AgentClient({
      issuer: f.issuer,
      clientId: 'bot',
      credential: { type: 'private_key_jwt', privateKey: f.botKey.privateKey, kid: 'k1' },
      ...options,
    })

  const verify = (token: AccessToken, audience = RESOURCE) =>
    jwtVerify(token.accessToken, jwks, { issuer: f.issuer, audience, typ: 'at+jwt' }).then((r) => r.payload)

  const issuedCount = async (principal: string) =>
    (await f.node.call('GET', `/api/v1/audit/events?type=token.issue&principal=${principal}&limit=1000`)).json
      .items.length

  before(async () => {
    store = sqliteStore()
    f = await startOAuthFixture(store)
    jwks = createRemoteJWKSet(new URL(`${f.issuer}/.well-known/jwks.json`))
    const put = async (path: string, body: Record<string, unknown>) => {
      const res = await f.node.call('PUT', path, { body })
      assert.ok(res.status < 300, `${path}: ${res.text}`)
    }
    await put('/api/v1/resource-servers/short', {
      audience: SHORT_RESOURCE,
      scopes: ['short:read'],
      token_lifetime_seconds: 40,
    })
    await put('/api/v1/agents/refresher', {
      sponsor: 'alice@example.com',
      classification: 'autonomous',
      ceiling: ['short:read'],
      credentials: [{ type: 'jwks', jwks: { keys: [refresherKey.publicJwk] } }],
    })
    // Delegation: the company IdP, alice bound to her subject there, and a sub-agent of the fixture's delegated `helper`.
    await put('/api/v1/trusted-issuers/idp', {
      issuer: IDP,
      type: 'human_idp',
      jwks: { keys: [idpKey.publicJwk] },
    })
    await put('/api/v1/humans/alice@example.com', {
      email: 'alice@example.com',
      identities: [{ issuer: IDP, subject: IDP_SUBJECT }],
    })
    await put('/api/v1/agents/helper-sub', {
      sponsor: 'alice@example.com',
      classification: 'delegated',
      parent: 'helper',
      ceiling: ['tickets:read'],
      credentials: [{ type: 'jwks', jwks: { keys: [subKey.publicJwk] } }],
    })
    await grantMandate(f.node, 'helper', ['tickets:read'])
    // Federation: a Kubernetes cluster and a workload bound to one of its service accounts.
    await registerDeployer(f.node, platformKey)
  })
  after(async () => {
    await f.close()
    await store.drop()
  })

  describe('client authentication', () => {
    it('RFC 7523 §2.2: private_key_jwt gets an RFC 9068 token for the agent, verifiable with the JWKS', async () => {
      const token = await bot().getToken({ resource: RESOURCE, scope: 'tickets:read' })
      assert.equal(token.tokenType, 'Bearer')
      assert.equal(token.scope, 'tickets:read')
      const payload = await verify(token)
      assert.equal(payload.sub, 'bot')
      assert.equal(payload.client_id, 'bot')
      assert.equal(payload.scope, 'tickets:read')
      // expiresAt is counted from the request, so it is never later than the token's own exp.
      assert.ok(token.expiresAt <= (payload.exp as number) * 1000 + 1000)
      assert.ok(token.expiresAt > Date.now())
    })

    it('RFC 7523 §2.2: private_key_jwt takes the key as a private JWK too, its kid and alg read from it', async () => {
      const privateJwk = {
        ...(f.botKey.privateKey.export({ format: 'jwk' }) as JWK),
        kid: 'k1',
        alg: 'ES256',
      }
      const agent = new AgentClient({
        issuer: f.issuer,
        clientId: 'bot',
        credential: { type: 'private_key_jwt', privateKey: privateJwk },
      })
      const payload = await verify(await agent.getToken({ resource: RESOURCE, scope: ['tickets:write'] }))
      assert.equal(payload.sub, 'bot')
      assert.equal(payload.scope, 'tickets:write')
    })

    it('RFC 6749 §2.3.1: a legacy client authenticates with client_secret_basic', async () => {
      const agent = new AgentClient({
        issuer: f.issuer,
        clientId: 'secret-bot',
        credential: { type: 'client_secret', secret: f.secrets['secret-bot'] ?? '' },
      })
      const payload = await verify(await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' }))
      assert.equal(payload.sub, 'secret-bot')
    })

    it('RFC 7523 §2.2: a federated workload token is the client assertion; the provider is asked on every request', async () => {
      let asked = 0
      const agent = new AgentClient({
        issuer: f.issuer,
        clientId: 'deployer',
        credential: {
          type: 'federated',
          token: () => {
            asked++
            return workloadToken()
          },
        },
      })
      const token = await agent.getToken({ resource: RESOURCE, scope: 'tickets:write' })
      const payload = await verify(token)
      assert.equal(payload.sub, 'deployer')
      assert.equal(payload.client_id, 'deployer')
      await agent.getToken({
        resource: RESOURCE,
        scope: 'tickets:write',
        authorizationDetails: [{ type: 'ticket_action', actions: ['deploy'] }],
      })
      assert.equal(asked, 2)
      const events = (
        await f.node.call(
          'GET',
          '/api/v1/audit/events?type=token.issue&principal=workload:deployer&limit=1000',
        )
      ).json.items
      assert.equal(events.at(-1).details.client_auth, 'federated_assertion')
      assert.equal(events.at(-1).details.grant_type, 'client_credentials')
    })
  })

  describe('caching', () => {
    it('returns the cached token for the same resource and scope: one token request, one token.issue, one discovery', async () => {
      const recorder = recordingFetch()
      const agent = bot({ fetch: recorder.fetch })
      const before = await issuedCount('agent:bot')
      const first = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read tickets:write' })
      const second = await agent.getToken({ resource: RESOURCE, scope: ['tickets:write', 'tickets:read'] })
      assert.equal(second.accessToken, first.accessToken)
      assert.equal(recorder.tokenRequests(), 1)
      assert.equal((await issuedCount('agent:bot')) - before, 1)

      const other = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
      assert.notEqual(other.accessToken, first.accessToken, 'another scope is another token')
      assert.equal(recorder.tokenRequests(), 2)
      assert.equal(recorder.discoveries(), 1, 'metadata is discovered once')
    })

    it('concurrent calls for the same token share one request', async () => {
      const recorder = recordingFetch()
      const agent = bot({ fetch: recorder.fetch })
      const tokens = await Promise.all(
        [1, 2, 3, 4].map(() => agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })),
      )
      assert.equal(new Set(tokens.map((t) => t.accessToken)).size, 1)
      assert.equal(recorder.tokenRequests(), 1)
    })

    it('RFC 9396: authorization details are part of the cache key, whatever their key order', async () => {
      const recorder = recordingFetch()
      const agent = bot({ fetch: recorder.fetch })
      const first = await agent.getToken({
        resource: RESOURCE,
        scope: 'tickets:write',
        authorizationDetails: [{ type: 'ticket_action', actions: ['close'], identifier: 'T-1' }],
      })
      assert.deepEqual(first.authorizationDetails, [
        { type: 'ticket_action', actions: ['close'], identifier: 'T-1' },
      ])
      const reordered = await agent.getToken({
        resource: RESOURCE,
        scope: 'tickets:write',
        authorizationDetails: [{ identifier: 'T-1', actions: ['close'], type: 'ticket_action' }],
      })
      assert.equal(reordered.accessToken, first.accessToken)
      const other = await agent.getToken({
        resource: RESOURCE,
        scope: 'tickets:write',
        authorizationDetails: [{ type: 'ticket_action', actions: ['close'], identifier: 'T-2' }],
      })
      assert.notEqual(other.accessToken, first.accessToken)
      assert.equal(recorder.tokenRequests(), 2)
    })

    it('replaces a cached token once it has less than refreshBeforeSeconds left', async () => {
      const recorder = recordingFetch()
      const agent = new AgentClient({
        issuer: f.issuer,
        clientId: 'refresher',
        credential: { type: 'private_key_jwt', privateKey: refresherKey.privateKey, kid: 'r1' },
        refreshBeforeSeconds: 35,
        fetch: recorder.fetch,
      })
      // The resource server's tokens live 40 s: reused for their first 5 s, replaced after. Only Date moves (for the
      // node in this process too), by 6 s; no timer is faked and nothing sleeps.
      mock.timers.enable({ apis: ['Date'], now: Date.now() })
      try {
        const first = await agent.getToken({ resource: SHORT_RESOURCE, scope: 'short:read' })
        assert.equal(first.expiresAt - Date.now(), 40_000)
        const reused = await agent.getToken({ resource: SHORT_RESOURCE, scope: 'short:read' })
        assert.equal(reused.accessToken, first.accessToken)
        assert.equal(recorder.tokenRequests(), 1)
        mock.timers.tick(6_000)
        const refreshed = await agent.getToken({ resource: SHORT_RESOURCE, scope: 'short:read' })
        assert.notEqual(refreshed.accessToken, first.accessToken)
        assert.equal(recorder.tokenRequests(), 2)
        assert.ok(refreshed.expiresAt > first.expiresAt)
      } finally {
        mock.timers.reset()
      }
    })
  })

  describe('DPoP (RFC 9449)', () => {
    it('§5, §6.1: a DPoP client gets a token bound to its key: cnf.jkt is thumbprint()', async () => {
      const agent = bot({ dpop: true })
      const token = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
      assert.equal(token.tokenType, 'DPoP')
      const payload = await verify(token)
      assert.deepEqual(payload.cnf, { jkt: await agent.thumbprint() })
    })

    it('§7.1: dpopProof() is accepted by a resource server verifying it with ath, and carries only the public key', async () => {
      const agent = bot({ dpop: true })
      const token = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
      const url = 'https://tickets.example.com/tickets/42'
      const proof = await agent.dpopProof({
        method: 'get',
        url: `${url}?view=full#top`,
        accessToken: token.accessToken,
      })
      const header = decodeProtectedHeader(proof)
      assert.equal(header.typ, 'dpop+jwt')
      assert.equal(header.alg, 'ES256')
      assert.deepEqual(Object.keys(header.jwk ?? {}).sort(), ['crv', 'kty', 'x', 'y'])
      // The node's own verifier, as a resource server would run it: htm, htu without query, ath, a fresh jti.
      const verified = await verifyDpopProof(
        { proofs: [proof], method: 'GET', url, accessToken: token.accessToken },
        { replay: f.node.node.replay, now: Date.now, iatWindowSeconds: 60 },
      )
      assert.equal(verified.jkt, await agent.thumbprint())
      assert.deepEqual((await verify(token)).cnf, { jkt: verified.jkt })
      await assert.rejects(
        verifyDpopProof(
          { proofs: [proof], method: 'GET', url, accessToken: `${token.accessToken}x` },
          { replay: f.node.node.replay, now: Date.now, iatWindowSeconds: 60 },
        ),
        /ath/,
      )
    })

    it('§5: a key pair the caller holds is used as given', async () => {
      const key = ecKeyPair('dpop')
      const agent = bot({ dpop: { privateKey: key.privateKey, publicJwk: key.publicJwk } })
      const jkt = await calculateJwkThumbprint(key.publicJwk)
      assert.equal(await agent.thumbprint(), jkt)
      const token = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
      assert.deepEqual((await verify(token)).cnf, { jkt })
    })

    it('§8: with nonces required, the client retries once with the DPoP-Nonce and reuses it afterwards', async () => {
      const other = sqliteStore()
      const g = await startOAuthFixture(other, { dpopRequireNonce: true })
      try {
        const recorder = recordingFetch()
        const agent = new AgentClient({
          issuer: g.issuer,
          clientId: 'bot',
          credential: { type: 'private_key_jwt', privateKey: g.botKey.privateKey, kid: 'k1' },
          dpop: true,
          fetch: recorder.fetch,
        })
        const token = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
        assert.equal(token.tokenType, 'DPoP')
        assert.equal(recorder.tokenRequests(), 2, 'use_dpop_nonce, then the token')
        await agent.getToken({ resource: RESOURCE, scope: 'tickets:write' })
        assert.equal(recorder.tokenRequests(), 3, 'the nonce is remembered')
      } finally {
        await g.close()
        await other.drop()
      }
    })

    it('thumbprint() and dpopProof() are a TypeError on a client without DPoP', async () => {
      await assert.rejects(bot().thumbprint(), TypeError)
      await assert.rejects(
        bot().dpopProof({ method: 'GET', url: 'https://tickets.example.com/', accessToken: 'x' }),
        TypeError,
      )
    })
  })

  describe('delegation (RFC 8693 token exchange)', () => {
    const helper = () =>
      new AgentClient({
        issuer: f.issuer,
        clientId: 'helper',
        credential: { type: 'client_secret', secret: f.secrets.helper ?? '' },
      })

    it('§2: an agent exchanges a human IdP token for a token for one action; each exchange is a new token', async () => {
      const agent = helper()
      const subjectToken = await humanToken()
      const token = await agent.exchange({ subjectToken, resource: RESOURCE, scope: 'tickets:read' })
      assert.equal(token.issuedTokenType, SubjectTokenTypes.accessToken)
      assert.equal(token.scope, 'tickets:read')
      const payload = await verify(token)
      assert.equal(payload.sub, 'alice@example.com')
      assert.deepEqual(payload.act, { sub: 'helper' })
      assert.equal(payload.client_id, 'helper')
      const again = await agent.exchange({ subjectToken, resource: RESOURCE, scope: 'tickets:read' })
      assert.notEqual(again.accessToken, token.accessToken, 'delegated tokens are not cached')
    })

    it("§4.1: a sub-agent exchanges its parent's Mandate token (subject_token_type access_token); the act chain nests", async () => {
      const parent = await helper().exchange({
        subjectToken: await humanToken(),
        resource: RESOURCE,
        scope: 'tickets:read',
      })
      const sub = new AgentClient({
        issuer: f.issuer,
        clientId: 'helper-sub',
        credential: { type: 'private_key_jwt', privateKey: subKey.privateKey, kid: 'sub-1' },
        dpop: true,
      })
      const token = await sub.exchange({
        subjectToken: parent.accessToken,
        subjectTokenType: SubjectTokenTypes.accessToken,
        resource: RESOURCE,
        scope: 'tickets:read',
      })
      assert.equal(token.tokenType, 'DPoP')
      const payload = await verify(token)
      assert.equal(payload.sub, 'alice@example.com')
      assert.deepEqual(payload.act, { sub: 'helper-sub', act: { sub: 'helper' } })
      assert.deepEqual(payload.cnf, { jkt: await sub.thumbprint() })
    })

    it('§2.2.2: a refused subject token is invalid_request, and the error names neither it nor the secret', async () => {
      const subjectToken = await humanToken({ email: 'nobody@example.com', sub: 'nobody' })
      const error = await oauthError(
        helper().exchange({ subjectToken, resource: RESOURCE, scope: 'tickets:read' }),
        'invalid_request',
        400,
      )
      assertNoLeak(error, [subjectToken, f.secrets.helper ?? 'unset'])
    })
  })

  describe('typed errors', () => {
    it('RFC 6749 §5.2: a scope beyond the ceiling is invalid_scope', async () => {
      const error = await oauthError(
        bot().getToken({ resource: RESOURCE, scope: 'tickets:delete' }),
        'invalid_scope',
        400,
      )
      assert.match(error.description, /ceiling/)
      assert.ok(error.message.startsWith('invalid_scope: '))
    })

    it('RFC 8707 §2: an unregistered resource is invalid_target', async () => {
      await oauthError(
        bot().getToken({ resource: 'https://unknown.example.com/', scope: 'tickets:read' }),
        'invalid_target',
        400,
      )
    })

    it('RFC 6749 §5.2: an assertion signed with an unregistered key is invalid_client (401)', async () => {
      const agent = new AgentClient({
        issuer: f.issuer,
        clientId: 'bot',
        credential: { type: 'private_key_jwt', privateKey: ecKeyPair().privateKey, kid: 'k1' },
      })
      await oauthError(agent.getToken({ resource: RESOURCE, scope: 'tickets:read' }), 'invalid_client', 401)
    })

    it('RFC 6749 §5.2: a delegated agent asking for its own token is unauthorized_client', async () => {
      const agent = new AgentClient({
        issuer: f.issuer,
        clientId: 'helper',
        credential: { type: 'client_secret', secret: f.secrets.helper ?? '' },
      })
      await oauthError(
        agent.getToken({ resource: RESOURCE, scope: 'tickets:read' }),
        'unauthorized_client',
        400,
      )
    })

    it('an issuer nobody listens on is network_error (status 0); the next call tries discovery again', async () => {
      const agent = new AgentClient({
        issuer: 'http://127.0.0.1:9',
        clientId: 'bot',
        credential: { type: 'client_secret', secret: 'not-a-real-secret' },
      })
      const error = await oauthError(
        agent.getToken({ resource: RESOURCE, scope: 'tickets:read' }),
        'network_error',
        0,
      )
      assert.match(error.message, /127\.0\.0\.1:9/)
      await oauthError(agent.getToken({ resource: RESOURCE, scope: 'tickets:read' }), 'network_error', 0)
    })

    it('an answer that is not OAuth is invalid_response', async () => {
      const agent = new AgentClient({
        issuer: f.issuer,
        clientId: 'bot',
        credential: { type: 'client_secret', secret: 'not-a-real-secret' },
        fetch: async (input, init) =>
          String(input).endsWith('/oauth/token')
            ? new Response('<html>bad gateway</html>', { status: 502 })
            : fetch(input, init),
      })
      const error = await oauthError(
        agent.getToken({ resource: RESOURCE, scope: 'tickets:read' }),
        'invalid_response',
        502,
      )
      assert.ok(!error.message.includes('<html>'))
    })

    it('errors never carry the client secret, and neither does the client when printed', async () => {
      const secret = f.secrets['secret-bot'] ?? ''
      const agent = new AgentClient({
        issuer: f.issuer,
        clientId: 'secret-bot',
        credential: { type: 'client_secret', secret },
      })
      const refused = await oauthError(
        agent.getToken({ resource: RESOURCE, scope: 'tickets:write' }),
        'invalid_scope',
        400,
      )
      assertNoLeak(refused, [secret])
      const wrong = `${secret}-wrong`
      const unauthenticated = await oauthError(
        new AgentClient({
          issuer: f.issuer,
          clientId: 'secret-bot',
          credential: { type: 'client_secret', secret: wrong },
        }).getToken({ resource: RESOURCE, scope: 'tickets:read' }),
        'invalid_client',
        401,
      )
      assertNoLeak(unauthenticated, [secret, wrong])
      const token = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
      assert.ok(!inspect(agent, { depth: 10, showHidden: true }).includes(secret))
      assert.ok(!inspect(agent, { depth: 10, showHidden: true }).includes(token.accessToken))
    })

    it('invalid options are a TypeError from the constructor', () => {
      const credential = { type: 'client_secret', secret: 's3cret' } as const
      assert.throws(() => new AgentClient({ issuer: 'not a url', clientId: 'bot', credential }), TypeError)
      assert.throws(() => new AgentClient({ issuer: f.issuer, clientId: '', credential }), TypeError)
      assert.throws(
        () =>
          new AgentClient({
            issuer: f.issuer,
            clientId: 'bot',
            credential: { type: 'private_key_jwt', privateKey: f.botKey.publicJwk },
          }),
        /private JWK/,
      )
      assert.throws(
        () => new AgentClient({ issuer: f.issuer, clientId: 'bot', credential, refreshBeforeSeconds: -1 }),
        TypeError,
      )
    })
  })
})
