// @mandate/sdk's agent client after a token is issued: introspection (RFC 7662), revocation (RFC 7009), dropping
// cached tokens, and the approval a policy asks for (issue 8), against a real node.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type AccessToken, AgentClient, MandateOAuthError } from '@mandate/sdk'
import { decodeJwt } from 'jose'
import { type OAuthFixture, RESOURCE, startOAuthFixture } from '../oauth/oauth-fixture.ts'
import { sqliteStore, type TestStore } from '../support/harness.ts'

const APPROVALS = 'https://payments.example.com/'

describe('@mandate/sdk AgentClient token lifecycle (issue 8)', () => {
  let store: TestStore
  let f: OAuthFixture
  let tokenRequests = 0

  const counting: typeof fetch = (input, init) => {
    if (String(input).endsWith('/oauth/token')) tokenRequests++
    return fetch(input, init)
  }
  const bot = () =>
    new AgentClient({
      issuer: f.issuer,
      clientId: 'bot',
      credential: { type: 'private_key_jwt', privateKey: f.botKey.privateKey, kid: 'k1' },
      fetch: counting,
    })
  const secretBot = (options: { dpop?: boolean } = {}) =>
    new AgentClient({
      issuer: f.issuer,
      clientId: 'secret-bot',
      credential: { type: 'client_secret', secret: f.secrets['secret-bot'] ?? '' },
      ...options,
    })
  /** Revokes one token by its jti through the admin API, as an administrator would. */
  const adminRevoke = async (token: AccessToken) => {
    const { jti, exp } = decodeJwt(token.accessToken)
    const res = await f.node.call('POST', '/api/v1/revocations', { body: { target: 'token', jti, exp } })
    assert.equal(res.status, 201, res.text)
  }

  before(async () => {
    store = sqliteStore()
    f = await startOAuthFixture(store)
    const put = async (path: string, body: Record<string, unknown>) => {
      const res = await f.node.call('PUT', path, { body })
      assert.ok(res.status < 300, `${path}: ${res.text}`)
    }
    await put('/api/v1/resource-servers/payments', { audience: APPROVALS, scopes: ['payments:send'] })
    await put('/api/v1/agents/payer', {
      sponsor: 'alice@example.com',
      classification: 'autonomous',
      ceiling: ['payments:send'],
      credentials: [{ type: 'jwks', jwks: { keys: [f.botKey.publicJwk] } }],
    })
    await put('/api/v1/policies/approvals', {
      policies:
        '@id("ask") @approval("sponsor") permit (principal, action == Action::"payments:send", resource);',
    })
  })
  after(async () => {
    await f.close()
    await store.drop()
  })

  describe('introspect()', () => {
    it('RFC 7662 §2.2: an active token answers with its claims, authenticated as the agent', async () => {
      const agent = bot()
      const token = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
      const info = await agent.introspect(token)
      assert.equal(info.active, true)
      if (!info.active) return
      assert.equal(info.sub, 'bot')
      assert.equal(info.client_id, 'bot')
      assert.equal(info.scope, 'tickets:read')
      assert.equal(info.aud, RESOURCE)
      assert.equal(info.iss, f.issuer)
      assert.equal(info.token_type, 'Bearer')
      assert.equal(info.jti, decodeJwt(token.accessToken).jti)
    })

    it('RFC 7662 §2.2, RFC 9449 §6.2: a DPoP-bound token is introspected as DPoP with its cnf.jkt; a client secret authenticates too', async () => {
      const agent = secretBot({ dpop: true })
      const token = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
      const info = await agent.introspect(token.accessToken)
      assert.ok(info.active)
      assert.equal(info.token_type, 'DPoP')
      assert.deepEqual(info.cnf, { jkt: await agent.thumbprint() })
    })

    it('RFC 7662 §2.2: a token that is not a token is exactly { active: false }', async () => {
      assert.deepEqual(await bot().introspect('not-a-token'), { active: false })
    })

    it('RFC 7662 §2.1: a client that cannot authenticate gets invalid_client, and the token is not echoed', async () => {
      const token = await bot().getToken({ resource: RESOURCE, scope: 'tickets:read' })
      const stranger = new AgentClient({
        issuer: f.issuer,
        clientId: 'secret-bot',
        credential: { type: 'client_secret', secret: 'wrong-secret' },
      })
      const error = await stranger.introspect(token).then(
        () => assert.fail('expected invalid_client'),
        (e: unknown) => e,
      )
      assert.ok(error instanceof MandateOAuthError)
      assert.equal(error.code, 'invalid_client')
      assert.equal(error.status, 401)
      assert.ok(!error.message.includes(token.accessToken))
    })
  })

  describe('revoke() and invalidate()', () => {
    it('issue 8: a token revoked at the node is served from the cache until invalidate(), then replaced', async () => {
      const agent = bot()
      const first = await agent.getToken({ resource: RESOURCE, scope: 'tickets:write' })
      await adminRevoke(first)
      assert.deepEqual(await agent.introspect(first), { active: false })
      // The client cannot know of a revocation made elsewhere: the cache still holds the token...
      const cached = await agent.getToken({ resource: RESOURCE, scope: 'tickets:write' })
      assert.equal(cached.accessToken, first.accessToken)
      // ...until the application drops it.
      agent.invalidate()
      const fresh = await agent.getToken({ resource: RESOURCE, scope: 'tickets:write' })
      assert.notEqual(fresh.accessToken, first.accessToken)
      assert.equal((await agent.introspect(fresh)).active, true)
    })

    it('invalidate(token) drops only that token; other cached tokens stay', async () => {
      const agent = bot()
      const read = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
      const write = await agent.getToken({ resource: RESOURCE, scope: 'tickets:write' })
      const before = tokenRequests
      agent.invalidate(read)
      assert.notEqual(
        (await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })).accessToken,
        read.accessToken,
      )
      assert.equal(
        (await agent.getToken({ resource: RESOURCE, scope: 'tickets:write' })).accessToken,
        write.accessToken,
      )
      assert.equal(tokenRequests - before, 1)
    })

    it('invalidate() while a token request is in flight: its token reaches the caller but is not cached', async () => {
      const agent = bot()
      const inFlight = agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
      agent.invalidate()
      const early = await inFlight
      const later = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
      assert.notEqual(later.accessToken, early.accessToken)
    })

    it('RFC 7009 §2.1: revoke() revokes the token at the node and drops it from the cache', async () => {
      const agent = bot()
      const token = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
      assert.equal((await agent.introspect(token)).active, true)
      await agent.revoke(token)
      assert.deepEqual(await agent.introspect(token), { active: false })
      const next = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
      assert.notEqual(next.accessToken, token.accessToken)
      assert.equal((await agent.introspect(next)).active, true)
      const events = (await f.node.call('GET', '/api/v1/audit/events?type=token.revoke&limit=1000')).json
        .items
      assert.ok(
        events.some((e: { resource: string }) => e.resource === `jti:${decodeJwt(token.accessToken).jti}`),
        'the revocation is on record',
      )
    })

    it("RFC 7009 §2.2: revoking an unknown token, or another client's, succeeds and changes nothing", async () => {
      const other = await secretBot().getToken({ resource: RESOURCE, scope: 'tickets:read' })
      const agent = bot()
      await agent.revoke('not-a-token')
      await agent.revoke(other.accessToken)
      assert.equal((await secretBot().introspect(other)).active, true)
    })
  })

  describe('approval_required', () => {
    it('issue 8: the error keeps approval_id and approver from the node', async () => {
      const payer = new AgentClient({
        issuer: f.issuer,
        clientId: 'payer',
        credential: { type: 'private_key_jwt', privateKey: f.botKey.privateKey, kid: 'k1' },
      })
      const error = await payer.getToken({ resource: APPROVALS, scope: 'payments:send' }).then(
        () => assert.fail('expected approval_required'),
        (e: unknown) => e,
      )
      assert.ok(error instanceof MandateOAuthError)
      assert.equal(error.code, 'approval_required')
      assert.equal(error.status, 403)
      assert.equal(error.approver, 'sponsor')
      assert.match(String(error.approvalId), /^apr_[A-Za-z0-9_-]{32}$/)
      const pending = (await f.node.call('GET', '/api/v1/audit/events?type=approval.pending&limit=1000')).json
        .items
      assert.ok(
        pending.some((e: { details: { approval_id: string } }) => e.details.approval_id === error.approvalId),
      )
    })

    it('other errors carry no approval', async () => {
      const error = await bot()
        .getToken({ resource: RESOURCE, scope: 'tickets:delete' })
        .then(
          () => assert.fail('expected invalid_scope'),
          (e: unknown) => e,
        )
      assert.ok(error instanceof MandateOAuthError)
      assert.equal(error.code, 'invalid_scope')
      assert.equal(error.approvalId, undefined)
      assert.equal(error.approver, undefined)
    })
  })
})
