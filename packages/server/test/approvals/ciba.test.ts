// Approvals of risky actions over HTTP: CIBA poll mode (OpenID CIBA Core 1.0) at /oauth/bc-authorize and the token
// endpoint, the approval_required answer that leads to the same flow, and the admin API deciding.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { canonicalJson } from '../../src/audit/canonical-json.ts'
import { type OAuthFixture, RESOURCE, startOAuthFixture } from '../oauth/oauth-fixture.ts'
import { startTestNode, storeKinds, type TestStore } from '../support/harness.ts'

const CIBA = 'urn:openid:params:grant-type:ciba'
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

for (const kind of storeKinds) {
  describe(`approvals: CIBA poll mode (${kind.name})`, () => {
    let store: TestStore
    let f: OAuthFixture
    let jwks: ReturnType<typeof createRemoteJWKSet>

    // The fixture's agents: `bot` (autonomous, private_key_jwt), `secret-bot` (blended) and `helper` (delegated).
    const auth = async (clientId: string): Promise<Record<string, string>> =>
      clientId === 'bot'
        ? {
            client_id: 'bot',
            client_assertion_type: ASSERTION_TYPE,
            client_assertion: await f.assertion('bot'),
          }
        : { client_id: clientId, client_secret: f.secrets[clientId] ?? 'wrong' }
    const post = async (path: string, form: Record<string, string | string[]>, base = f.issuer) => {
      const body = new URLSearchParams()
      for (const [name, value] of Object.entries(form))
        for (const v of Array.isArray(value) ? value : [value]) body.append(name, v)
      const res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      })
      return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers }
    }
    const bcAuthorize = async (clientId: string, form: Record<string, string | string[]>) =>
      post('/oauth/bc-authorize', { ...(await auth(clientId)), ...form })
    const poll = async (clientId: string, authReqId: string, extra: Record<string, string> = {}) =>
      post('/oauth/token', { grant_type: CIBA, auth_req_id: authReqId, ...(await auth(clientId)), ...extra })
    const decide = (id: string, decision: 'approve' | 'deny', body: Record<string, unknown> = {}) =>
      f.node.call('POST', `/api/v1/approvals/${id}/${decision}`, { body })
    const auditOf = async (type: string) =>
      (await f.node.call('GET', `/api/v1/audit/events?type=${type}&limit=500`)).json.items as Array<
        Record<string, unknown> & {
          details: Record<string, unknown>
          actors: Array<{ kind: string; id: string }>
        }
      >
    const start = async (form: Record<string, string> = {}) => {
      const res = await bcAuthorize('bot', { scope: 'tickets:write', resource: RESOURCE, ...form })
      assert.equal(res.status, 200, JSON.stringify(res.json))
      return String(res.json.auth_req_id)
    }

    before(async () => {
      store = kind.create()
      // Polls at least a second apart; the tests wait that long between polls.
      f = await startOAuthFixture(store, { approvalPollIntervalSeconds: 1 })
      jwks = createRemoteJWKSet(new URL(`${f.issuer}/.well-known/jwks.json`))
    })
    after(async () => {
      await f.close()
      await store.drop()
    })

    it('CIBA §4: metadata names the backchannel endpoint, poll mode and the CIBA grant', async () => {
      const metadata = (await f.node.call('GET', '/.well-known/oauth-authorization-server', { token: null }))
        .json
      assert.equal(metadata.backchannel_authentication_endpoint, `${f.issuer}/oauth/bc-authorize`)
      assert.deepEqual(metadata.backchannel_token_delivery_modes_supported, ['poll'])
      assert.ok(metadata.grant_types_supported.includes(CIBA))
    })

    it('CIBA §7.3, §11: pending until an admin approves, then one token for exactly that action, once', async () => {
      const res = await bcAuthorize('bot', {
        scope: 'openid tickets:write',
        resource: RESOURCE,
        binding_message: 'Close ticket 42',
        authorization_details: JSON.stringify([
          { type: 'ticket_action', actions: ['close'], identifier: '42' },
        ]),
      })
      assert.equal(res.status, 200, JSON.stringify(res.json))
      assert.equal(res.headers.get('cache-control'), 'no-store')
      const id = String(res.json.auth_req_id)
      // §7.3: at least 160 bits (27 base64url characters after the prefix), from A-Z a-z 0-9 . - _ only.
      assert.match(id, /^apr_[A-Za-z0-9_-]{27,}$/)
      assert.equal(res.json.interval, 1)
      assert.ok(Number(res.json.expires_in) > 0 && Number(res.json.expires_in) <= 600)

      const pending = await poll('bot', id)
      assert.equal(pending.status, 400)
      assert.equal(pending.json.error, 'authorization_pending')

      // The admin API shows exactly the action, with its hash over the canonical JSON.
      const shown = await f.node.call('GET', `/api/v1/approvals/${id}`)
      assert.equal(shown.status, 200)
      assert.equal(shown.json.state, 'pending')
      assert.deepEqual(shown.json.action.scopes, ['tickets:write'])
      assert.deepEqual(shown.json.action.authorization_details, [
        { type: 'ticket_action', actions: ['close'], identifier: '42' },
      ])
      assert.equal(shown.json.action.binding_message, 'Close ticket 42')
      assert.deepEqual(shown.json.action.approver, {
        rule: 'sponsor',
        kind: 'human',
        id: 'alice@example.com',
      })
      assert.equal(
        shown.json.action_hash,
        createHash('sha256').update(canonicalJson(shown.json.action)).digest('hex'),
      )
      const listed = await f.node.call('GET', '/api/v1/approvals?state=pending')
      assert.ok(listed.json.items.some((a: { id: string }) => a.id === id))

      const approved = await decide(id, 'approve', { reason: 'ticket 42 is done' })
      assert.equal(approved.status, 200, approved.text)
      assert.equal(approved.json.state, 'approved')
      assert.equal(approved.json.decided_as, 'admin')
      await sleep(1100)
      const token = await poll('bot', id)
      assert.equal(token.status, 200, JSON.stringify(token.json))
      assert.equal(token.json.scope, 'tickets:write')
      assert.deepEqual(token.json.authorization_details, shown.json.action.authorization_details)
      const { payload } = await jwtVerify(String(token.json.access_token), jwks, { audience: RESOURCE })
      assert.equal(payload.sub, 'bot')
      assert.equal(payload.scope, 'tickets:write')
      assert.ok(Number(payload.exp) - Number(payload.iat) <= 60, 'a minimal lifetime')

      await sleep(1100)
      const again = await poll('bot', id)
      assert.equal(again.status, 400)
      assert.equal(again.json.error, 'invalid_grant', 'CIBA §11: already redeemed')
      assert.equal((await f.node.call('GET', `/api/v1/approvals/${id}`)).json.state, 'used')

      // Every step is on record, with who approved.
      const decision = (await auditOf('approval.approve')).find((r) => r.details.approval_id === id)
      assert.equal(decision?.actors[0]?.kind, 'admin_token')
      assert.equal(decision?.details.decided_as, 'admin')
      assert.equal(decision?.reason, 'ticket 42 is done')
      assert.ok((await auditOf('approval.pending')).some((r) => r.details.approval_id === id))
      const issued = (await auditOf('token.issue')).filter((r) => r.details.approval_id === id)
      assert.equal(issued.length, 1)
      assert.equal(issued[0]?.details.grant_type, CIBA)
    })

    it('CIBA §11: a denied request is access_denied, and stays so', async () => {
      const id = await start()
      assert.equal((await decide(id, 'deny', { reason: 'not today' })).json.state, 'denied')
      const res = await poll('bot', id)
      assert.equal(res.status, 403)
      assert.equal(res.json.error, 'access_denied')
      assert.equal((await decide(id, 'approve')).status, 409, 'a decision is final')
    })

    it('CIBA §11: an expired request is expired_token; it can no longer be approved', async () => {
      const res = await bcAuthorize('bot', {
        scope: 'tickets:write',
        resource: RESOURCE,
        requested_expiry: '1',
      })
      assert.equal(res.json.expires_in, 1, 'CIBA §7.1: requested_expiry shortens it')
      const id = String(res.json.auth_req_id)
      await sleep(1300)
      assert.equal((await poll('bot', id)).json.error, 'expired_token')
      assert.equal((await f.node.call('GET', `/api/v1/approvals/${id}`)).json.state, 'expired')
      assert.equal((await decide(id, 'approve')).status, 409)
      assert.ok((await auditOf('approval.expire')).some((r) => r.details.approval_id === id))
    })

    it('CIBA §11: polling sooner than the interval is slow_down, and the interval grows by 5 s for good', async () => {
      const id = await start()
      assert.equal((await poll('bot', id)).json.error, 'authorization_pending')
      const fast = await poll('bot', id)
      assert.equal(fast.status, 400)
      assert.equal(fast.json.error, 'slow_down')
      assert.equal(fast.json.interval, 6)
      await sleep(1100)
      // A second later is still too soon now: the interval is 6 s.
      assert.equal((await poll('bot', id)).json.error, 'slow_down')
    })

    it('CIBA §11: another agent cannot redeem or probe an approval (invalid_grant); its own agent still can', async () => {
      const id = await start()
      await decide(id, 'approve')
      const other = await poll('secret-bot', id)
      assert.equal(other.status, 400)
      assert.equal(other.json.error, 'invalid_grant')
      assert.equal((await poll('secret-bot', 'apr_nonexistent')).json.error, 'invalid_grant')
      assert.equal((await poll('bot', id)).status, 200)
    })

    it('an approval is for its action only: the CIBA grant takes no scope, resource or details', async () => {
      const id = await start()
      await decide(id, 'approve')
      const extras: Array<Record<string, string>> = [
        { scope: 'tickets:read' },
        { resource: 'https://other.example.com/' },
        { authorization_details: '[]' },
      ]
      for (const extra of extras) {
        const res = await poll('bot', id, extra)
        assert.equal(res.json.error, 'invalid_request', JSON.stringify(extra))
      }
      const res = await poll('bot', id)
      assert.equal(res.json.scope, 'tickets:write')
    })

    it('concurrent redemptions of one approval: exactly one token', async () => {
      const id = await start()
      await decide(id, 'approve')
      const results = await Promise.all(Array.from({ length: 6 }, () => poll('bot', id)))
      assert.equal(results.filter((r) => r.status === 200).length, 1)
      assert.ok(
        results.every(
          (r) => r.status === 200 || r.json.error === 'invalid_grant' || r.json.error === 'slow_down',
        ),
      )
    })

    it('two nodes on one store: a request made on one is decided on the other, and concurrent redemptions on both yield one token', async () => {
      const second = await startTestNode(store, {
        masterKey: f.node.config.masterKey,
        bootstrapToken: f.node.config.bootstrapToken,
        issuer: f.issuer,
        approvalPollIntervalSeconds: 1,
      })
      try {
        const id = await start()
        const decided = await second.call('POST', `/api/v1/approvals/${id}/approve`, { body: {} })
        assert.equal(decided.status, 200, decided.text)
        const polls = await Promise.all(
          Array.from({ length: 8 }, async (_, i) =>
            post(
              '/oauth/token',
              { grant_type: CIBA, auth_req_id: id, ...(await auth('bot')) },
              i % 2 === 0 ? f.issuer : second.node.url,
            ),
          ),
        )
        assert.equal(
          polls.filter((r) => r.status === 200).length,
          1,
          JSON.stringify(polls.map((r) => r.json.error)),
        )
        assert.ok(polls.every((r) => r.status === 200 || r.json.error === 'invalid_grant'))
        const issued = (await auditOf('token.issue')).filter((r) => r.details.approval_id === id)
        assert.equal(issued.length, 1)
      } finally {
        await second.close()
      }
    })

    it('approval_required at the token endpoint: its approval_id is the stored request, redeemed with the CIBA grant', async () => {
      await f.node.call('PUT', '/api/v1/policies/allow-all', {
        body: {
          policies:
            '@id("read") permit (principal, action == Action::"tickets:read", resource);\n@id("ask") @approval("sponsor") permit (principal, action == Action::"tickets:write", resource);',
        },
      })
      try {
        const held = await f.token({
          grant_type: 'client_credentials',
          scope: 'tickets:read tickets:write',
          resource: RESOURCE,
          ...(await auth('bot')),
        })
        assert.equal(held.status, 403)
        assert.equal(held.json.error, 'approval_required')
        assert.equal(held.json.interval, 1)
        const id = String(held.json.approval_id)
        const shown = (await f.node.call('GET', `/api/v1/approvals/${id}`)).json
        assert.equal(shown.action.origin, 'token')
        assert.deepEqual(shown.action.scopes, ['tickets:read', 'tickets:write'])
        assert.deepEqual(shown.action.for, ['tickets:write'])
        assert.equal((await poll('bot', id)).json.error, 'authorization_pending')
        await decide(id, 'approve')
        await sleep(1100)
        const token = await poll('bot', id)
        assert.equal(token.status, 200, JSON.stringify(token.json))
        assert.equal(token.json.scope, 'tickets:read tickets:write')
        // Asking again is a new request, held again: an approval is used once.
        const again = await f.token({
          grant_type: 'client_credentials',
          scope: 'tickets:write',
          resource: RESOURCE,
          ...(await auth('bot')),
        })
        assert.equal(again.json.error, 'approval_required')
        assert.notEqual(again.json.approval_id, id)
      } finally {
        await f.node.call('PUT', '/api/v1/policies/allow-all', {
          body: { policies: '@id("all")\npermit (principal, action, resource);' },
        })
      }
    })

    it('a delegated agent asks the human it names in login_hint; the token is theirs, with act', async () => {
      const res = await bcAuthorize('helper', {
        scope: 'tickets:read',
        resource: RESOURCE,
        login_hint: 'alice@example.com',
      })
      assert.equal(res.status, 200, JSON.stringify(res.json))
      const id = String(res.json.auth_req_id)
      const shown = (await f.node.call('GET', `/api/v1/approvals/${id}`)).json
      assert.deepEqual(shown.action.approver, { rule: 'login_hint', kind: 'human', id: 'alice@example.com' })
      assert.deepEqual(shown.action.chain, [
        { kind: 'human', id: 'alice@example.com' },
        { kind: 'agent', id: 'helper' },
      ])
      await decide(id, 'approve')
      const token = await poll('helper', id)
      assert.equal(token.status, 200, JSON.stringify(token.json))
      const { payload } = await jwtVerify(String(token.json.access_token), jwks, { audience: RESOURCE })
      assert.equal(payload.sub, 'alice@example.com')
      assert.deepEqual(payload.act, { sub: 'helper' })
    })

    it('CIBA §7.1, §13: malformed backchannel requests are refused with the right code, never a 500', async () => {
      const base = { scope: 'tickets:read', resource: RESOURCE }
      const cases: Array<[string, Record<string, string | string[]>, string, string?]> = [
        ['helper', base, 'invalid_request'], // a delegated agent must name the human
        ['bot', { ...base, login_hint: 'alice@example.com' }, 'invalid_request'], // an autonomous one acts for nobody
        ['helper', { ...base, login_hint: 'nobody@example.com' }, 'unknown_user_id'],
        ['helper', { ...base, login_hint: 'alice@example.com', id_token_hint: 'x' }, 'invalid_request'],
        ['bot', { ...base, binding_message: 'line one\nline two' }, 'invalid_binding_message'],
        ['bot', { ...base, binding_message: 'x'.repeat(101) }, 'invalid_binding_message'],
        ['bot', { ...base, binding_message: 'a\u202eb' }, 'invalid_binding_message'],
        ['bot', { ...base, requested_expiry: '0' }, 'invalid_request'],
        ['bot', { ...base, requested_expiry: '1.5' }, 'invalid_request'],
        ['bot', { ...base, scope: ['tickets:read', 'tickets:write'] }, 'invalid_request'],
        ['bot', { ...base, client_notification_token: 'abc' }, 'invalid_request'],
        ['bot', { resource: RESOURCE }, 'invalid_scope'],
        ['bot', { ...base, scope: 'tickets:delete' }, 'invalid_scope'],
        ['bot', { ...base, authorization_details: '{"type":1}' }, 'invalid_authorization_details'],
        [
          'bot',
          { ...base, authorization_details: '[{"type":"ticket_action","identifier":"42","amount":1e400}]' },
          'invalid_authorization_details',
        ],
        [
          'bot',
          { ...base, authorization_details: '[{"type":"ticket_action","identifier":"\\ud800"}]' },
          'invalid_authorization_details',
        ],
        ['bot', { ...base, resource: 'https://unknown.example.com/' }, 'invalid_target'],
        ['bot', { ...base, scope: 'tickets:read\u0000' }, 'invalid_request'],
      ]
      for (const [client, form, error] of cases) {
        const res = await bcAuthorize(client, form)
        assert.equal(res.json.error, error, `${client} ${JSON.stringify(form)}: ${JSON.stringify(res.json)}`)
        assert.ok(res.status >= 400 && res.status < 500)
      }
      const unauthenticated = await post('/oauth/bc-authorize', { client_id: 'secret-bot', ...base })
      assert.equal(unauthenticated.status, 401)
      assert.equal(unauthenticated.json.error, 'invalid_client')
      const wrongSecret = await post('/oauth/bc-authorize', {
        client_id: 'secret-bot',
        client_secret: 'nope',
        ...base,
      })
      assert.equal(wrongSecret.json.error, 'invalid_client')
      // An authenticated client's refusal is on record with its code.
      const refused = await auditOf('approval.refuse')
      assert.ok(
        refused.some((r) => r.details.error === 'unknown_user_id' && r.actors[0]?.id === 'helper'),
        'refusals are recorded',
      )
    })

    it('an action a policy denies cannot even be put before an approver (access_denied)', async () => {
      await f.node.call('PUT', '/api/v1/policies/allow-all', {
        body: { policies: '@id("read") permit (principal, action == Action::"tickets:read", resource);' },
      })
      try {
        const res = await bcAuthorize('bot', { scope: 'tickets:read tickets:write', resource: RESOURCE })
        assert.equal(res.status, 403)
        assert.equal(res.json.error, 'access_denied')
      } finally {
        await f.node.call('PUT', '/api/v1/policies/allow-all', {
          body: { policies: '@id("all")\npermit (principal, action, resource);' },
        })
      }
    })

    it('@approval("group:<id>") names a group: its human members may decide, others do not see it', async () => {
      await f.node.call('PUT', '/api/v1/humans/bob@example.com', { body: {} })
      await f.node.call('PUT', '/api/v1/groups/approvers', {
        body: { members: [{ kind: 'human', id: 'bob@example.com' }] },
      })
      await f.node.call('PUT', '/api/v1/policies/allow-all', {
        body: { policies: '@id("ask") @approval("group:approvers") permit (principal, action, resource);' },
      })
      try {
        const id = await start()
        const shown = (await f.node.call('GET', `/api/v1/approvals/${id}`)).json
        assert.deepEqual(shown.action.approver, { rule: 'group', kind: 'group', id: 'approvers' })
        const forBob = await f.node.call('GET', '/api/v1/approvals?state=pending&approver=bob@example.com')
        assert.ok(forBob.json.items.some((a: { id: string }) => a.id === id))
        const forAlice = await f.node.call(
          'GET',
          '/api/v1/approvals?state=pending&approver=alice@example.com',
        )
        assert.ok(!forAlice.json.items.some((a: { id: string }) => a.id === id))
        // A policy naming a group that is not registered holds nothing it cannot put before anyone.
        await f.node.call('PUT', '/api/v1/policies/allow-all', {
          body: { policies: '@id("ask") @approval("group:nobody") permit (principal, action, resource);' },
        })
        const res = await bcAuthorize('bot', { scope: 'tickets:write', resource: RESOURCE })
        assert.equal(res.status, 403)
        assert.equal(res.json.error, 'access_denied')
      } finally {
        await f.node.call('PUT', '/api/v1/policies/allow-all', {
          body: { policies: '@id("all")\npermit (principal, action, resource);' },
        })
      }
    })

    it('admin API: unknown ids are 404, malformed ids and bodies 400', async () => {
      assert.equal((await f.node.call('GET', '/api/v1/approvals/apr_doesnotexist')).status, 404)
      assert.equal((await f.node.call('GET', '/api/v1/approvals/not an id')).status, 400)
      assert.equal((await f.node.call('GET', '/api/v1/approvals?state=maybe')).status, 400)
      const id = await start()
      assert.equal((await decide(id, 'approve', { reason: 'x', extra: 1 })).status, 400)
      assert.equal((await decide(id, 'approve', { reason: 'a\u0000b' })).status, 400)
      assert.equal((await f.node.call('GET', `/api/v1/approvals/${id}`)).json.state, 'pending')
      assert.equal((await f.node.call('GET', `/api/v1/approvals/${id}`, { token: null })).status, 401)
    })
  })
}
