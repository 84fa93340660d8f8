// AgentClient.requestApproval against a real node: a backchannel request or an approval_required error, polled until
// the approver decides, honouring interval, slow_down and expiry (OpenID CIBA Core 1.0 poll mode).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AdminClient, AgentClient, MandateOAuthError } from '@mandate/sdk'
import { decodeJwt } from 'jose'
import { type OAuthFixture, RESOURCE, startOAuthFixture } from '../oauth/oauth-fixture.ts'
import { sqliteStore, type TestStore } from '../support/harness.ts'

const CIBA = 'urn:openid:params:grant-type:ciba'

describe('sdk: AgentClient.requestApproval', () => {
  let store: TestStore
  let f: OAuthFixture
  let admin: AdminClient
  // Every answer the token endpoint gave to a CIBA poll, by error code (or `token`).
  const answers: string[] = []

  const observing: typeof fetch = async (input, init) => {
    const response = await fetch(input, init)
    const body = typeof init?.body === 'string' ? new URLSearchParams(init.body) : undefined
    if (String(input).endsWith('/oauth/token') && body?.get('grant_type') === CIBA) {
      const json = (await response.clone().json()) as { error?: string }
      answers.push(json.error ?? 'token')
    }
    return response
  }
  const bot = () =>
    new AgentClient({
      issuer: f.issuer,
      clientId: 'bot',
      credential: { type: 'private_key_jwt', privateKey: f.botKey.privateKey, kid: 'k1' },
      fetch: observing,
    })

  before(async () => {
    store = sqliteStore()
    f = await startOAuthFixture(store, { approvalPollIntervalSeconds: 1 })
    admin = new AdminClient({ baseUrl: f.issuer, token: f.node.token })
  })
  after(async () => {
    await f.close()
    await store.drop()
  })

  it('starts a backchannel request and resolves with the token once an admin approves, never polling too fast', async () => {
    answers.length = 0
    let pending: string | undefined
    const token = await bot().requestApproval({
      resource: RESOURCE,
      scope: 'tickets:write',
      bindingMessage: 'Close ticket 42',
      onPending: (request) => {
        pending = request.authReqId
        assert.equal(request.interval, 1)
        // The approver decides a little later, while the agent polls.
        setTimeout(() => void admin.decideApproval(request.authReqId, 'approve'), 1500)
      },
    })
    assert.match(String(pending), /^apr_/)
    assert.equal(token.scope, 'tickets:write')
    assert.equal(decodeJwt(token.accessToken).sub, 'bot')
    assert.equal(answers.at(-1), 'token')
    assert.ok(answers.includes('authorization_pending'), 'it polled while pending')
    assert.ok(!answers.includes('slow_down'), 'never sooner than the interval')
    assert.equal((await admin.getApproval(String(pending))).state, 'used')
  })

  it('waits for the approval an approval_required error names; a denial rejects with access_denied', async () => {
    await f.node.call('PUT', '/api/v1/policies/allow-all', {
      body: { policies: '@id("ask") @approval("sponsor") permit (principal, action, resource);' },
    })
    try {
      const agent = bot()
      const held = await agent
        .getToken({ resource: RESOURCE, scope: 'tickets:read' })
        .catch((e: unknown) => e)
      assert.ok(held instanceof MandateOAuthError && held.code === 'approval_required')
      assert.equal(held.interval, 1)
      assert.ok(Number(held.expiresIn) > 0)
      setTimeout(() => void admin.decideApproval(String(held.approvalId), 'deny', 'not now'), 500)
      const outcome = await agent.requestApproval({ approval: held }).catch((e: unknown) => e)
      assert.ok(outcome instanceof MandateOAuthError)
      assert.equal(outcome.code, 'access_denied')
    } finally {
      await f.node.call('PUT', '/api/v1/policies/allow-all', {
        body: { policies: '@id("all")\npermit (principal, action, resource);' },
      })
    }
  })

  it('a request nobody decides rejects with expired_token', async () => {
    const outcome = await bot()
      .requestApproval({ resource: RESOURCE, scope: 'tickets:read', requestedExpiry: 2 })
      .catch((e: unknown) => e)
    assert.ok(outcome instanceof MandateOAuthError)
    assert.equal(outcome.code, 'expired_token')
  })

  it('CIBA §11: after slow_down it polls 5 s slower for good, and still gets its token', async () => {
    answers.length = 0
    const token = await bot().requestApproval({
      resource: RESOURCE,
      scope: 'tickets:read',
      onPending: (request) => {
        // Another poller (the same client, overlapping) makes the node raise the interval.
        void (async () => {
          const form = async () => ({
            grant_type: CIBA,
            auth_req_id: request.authReqId,
            client_id: 'bot',
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: await f.assertion('bot'),
          })
          await f.token(await form())
          await f.token(await form())
          // Approved after the agent's first poll (at one interval), which the raised interval makes too soon.
          setTimeout(() => void admin.decideApproval(request.authReqId, 'approve'), 2000)
        })()
      },
    })
    assert.equal(token.scope, 'tickets:read')
    assert.deepEqual(answers, ['slow_down', 'token'], 'one slow_down, then a slower poll that succeeds')
  })

  it('refuses bad options before any request', async () => {
    const agent = bot()
    await assert.rejects(agent.requestApproval({ approvalId: '' }), TypeError)
    await assert.rejects(
      agent.requestApproval({ resource: RESOURCE, scope: 'x', requestedExpiry: 0 }),
      TypeError,
    )
    await assert.rejects(
      agent.requestApproval({ approval: new MandateOAuthError('invalid_scope', 'no', 400) }),
      TypeError,
    )
  })
})
