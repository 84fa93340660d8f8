// RFC 8693 token exchange: an agent acting for a human, and a sub-agent for that agent, with the act chain Mandate
// builds, scope and resource narrowing, lifetime capping and the refusals RFC 8693 §2.2.2 prescribes.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import * as client from 'openid-client'
import { storeKinds, type TestStore } from '../support/harness.ts'
import {
  ecKeyPair,
  grantMandate,
  IDP,
  IDP_SUBJECT,
  type OAuthFixture,
  RESOURCE,
  signHumanToken,
  startOAuthFixture,
} from './oauth-fixture.ts'

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
const OTHER_RESOURCE = 'https://docs.example.com/'

for (const kind of storeKinds) {
  describe(`token exchange (${kind.name})`, () => {
    let store: TestStore
    let f: OAuthFixture
    let jwks: ReturnType<typeof createRemoteJWKSet>
    const idpKey = ecKeyPair('idp-1')
    const secrets: Record<string, string> = {}

    /** A token from the company IdP for a human, as a user login would produce. */
    const humanToken = (claims: Record<string, unknown> = {}, key = idpKey) =>
      signHumanToken(key, f.issuer, claims)
    const exchange = async (agent: string, form: Record<string, string>) =>
      f.token({ grant_type: GRANT, client_id: agent, client_secret: secrets[agent] ?? '', ...form })
    const refused = async (agent: string, form: Record<string, string>, error: string) => {
      const res = await exchange(agent, form)
      assert.equal(res.json.error, error, JSON.stringify(res.json))
      assert.equal(res.json.access_token, undefined)
      return res
    }

    before(async () => {
      store = kind.create()
      f = await startOAuthFixture(store, { maxDelegationDepth: 2 })
      jwks = createRemoteJWKSet(new URL(`${f.issuer}/.well-known/jwks.json`))
      const put = async (path: string, body: Record<string, unknown>) => {
        const res = await f.node.call('PUT', path, { body })
        assert.ok(res.status < 300, `${path}: ${res.text}`)
        return res.json
      }
      await put('/api/v1/trusted-issuers/idp', {
        issuer: IDP,
        type: 'human_idp',
        jwks: { keys: [idpKey.publicJwk] },
      })
      await put('/api/v1/resource-servers/docs', { audience: OTHER_RESOURCE, scopes: ['docs:read'] })
      await put('/api/v1/humans/alice@example.com', {
        email: 'alice@example.com',
        identities: [{ issuer: IDP, subject: IDP_SUBJECT }],
      })
      await put('/api/v1/humans/bob@example.com', { email: 'bob@example.com', status: 'inactive' })
      const agents: Array<[string, Record<string, unknown>]> = [
        [
          'assistant',
          { classification: 'delegated', ceiling: ['tickets:read', 'tickets:write', 'docs:read'] },
        ],
        [
          'assistant-sub',
          { classification: 'delegated', parent: 'assistant', ceiling: ['tickets:read', 'tickets:write'] },
        ],
        [
          'assistant-sub-sub',
          { classification: 'delegated', parent: 'assistant-sub', ceiling: ['tickets:read'] },
        ],
        ['narrow', { classification: 'blended', ceiling: ['tickets:read'] }],
        ['loner', { classification: 'autonomous', ceiling: ['tickets:read'] }],
      ]
      for (const [id, body] of agents) {
        const res = await put(`/api/v1/agents/${id}`, {
          sponsor: 'alice@example.com',
          credentials: [{ type: 'client_secret' }],
          ...body,
        })
        secrets[id] = res.issued_secrets[0].client_secret
      }
      // Alice's mandates: what each agent may do for her (the IdP token's own `scope` claim grants nothing).
      await grantMandate(f.node, 'assistant', ['tickets:read', 'tickets:write'])
      await grantMandate(f.node, 'narrow', ['tickets:read'])
    })
    after(async () => {
      await f.close()
      await store.drop()
    })

    it('RFC 8693 §2: an agent exchanges a human IdP token for a delegated token for one action (openid-client)', async () => {
      const config = await client.discovery(
        new URL(f.issuer),
        'assistant',
        undefined,
        client.ClientSecretPost(secrets.assistant),
        { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
      )
      const subject = await humanToken()
      const response = await client.genericGrantRequest(config, GRANT, {
        subject_token: subject,
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
        scope: 'tickets:read',
      })
      assert.equal(response.issued_token_type, ACCESS_TOKEN_TYPE)
      assert.equal(response.scope, 'tickets:read')
      const { payload } = await jwtVerify(response.access_token, jwks, {
        issuer: f.issuer,
        audience: RESOURCE,
        typ: 'at+jwt',
      })
      assert.equal(payload.sub, 'alice@example.com', 'the human bound to the IdP subject is the subject')
      assert.deepEqual(payload.act, { sub: 'assistant' })
      assert.equal(payload.client_id, 'assistant')
      assert.equal(payload.scope, 'tickets:read')
    })

    it("RFC 8693 §4.1: a sub-agent exchanges its parent's token; the act chain nests, outermost actor first", async () => {
      const first = await exchange('assistant', {
        subject_token: await humanToken(),
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
        scope: 'tickets:read tickets:write',
      })
      assert.equal(first.status, 200, JSON.stringify(first.json))
      const second = await exchange('assistant-sub', {
        subject_token: String(first.json.access_token),
        subject_token_type: ACCESS_TOKEN_TYPE,
        resource: RESOURCE,
        scope: 'tickets:read',
      })
      assert.equal(second.status, 200, JSON.stringify(second.json))
      const { payload } = await jwtVerify(String(second.json.access_token), jwks, { audience: RESOURCE })
      assert.equal(payload.sub, 'alice@example.com')
      assert.deepEqual(payload.act, { sub: 'assistant-sub', act: { sub: 'assistant' } })
      assert.equal(payload.scope, 'tickets:read')
      const events = (
        await f.node.call('GET', '/api/v1/audit/events?type=token.issue&principal=agent:assistant-sub')
      ).json.items
      const last = events.at(-1)
      assert.deepEqual(last.actors, [
        { kind: 'human', id: 'alice@example.com' },
        { kind: 'agent', id: 'assistant' },
        { kind: 'agent', id: 'assistant-sub' },
      ])
      assert.equal(last.mode, 'delegated')

      // Scope and resource only narrow along the chain.
      await refused(
        'assistant-sub',
        {
          subject_token: String(second.json.access_token),
          subject_token_type: ACCESS_TOKEN_TYPE,
          resource: RESOURCE,
          scope: 'tickets:write',
        },
        'invalid_scope',
      )
      await refused(
        'assistant-sub',
        {
          subject_token: String(first.json.access_token),
          subject_token_type: ACCESS_TOKEN_TYPE,
          resource: OTHER_RESOURCE,
          scope: 'docs:read',
        },
        'invalid_target',
      )
      // RFC 8693 §4.1: a chain deeper than allowed (here 2) is refused.
      await refused(
        'assistant-sub-sub',
        {
          subject_token: String(second.json.access_token),
          subject_token_type: ACCESS_TOKEN_TYPE,
          resource: RESOURCE,
          scope: 'tickets:read',
        },
        'invalid_request',
      )
    })

    it('RFC 8693 §2.2.2: scope beyond the mandate or the ceiling is invalid_scope; no scope asks for what the mandate grants', async () => {
      // Within the ceiling, and claimed by the IdP token, but granted by no mandate.
      await refused(
        'assistant',
        {
          subject_token: await humanToken({ scope: 'docs:read' }),
          subject_token_type: JWT_TYPE,
          resource: OTHER_RESOURCE,
          scope: 'docs:read',
        },
        'invalid_scope',
      )
      await refused(
        'narrow',
        {
          subject_token: await humanToken(),
          subject_token_type: JWT_TYPE,
          resource: RESOURCE,
          scope: 'tickets:write',
        },
        'invalid_scope',
      )
      const implied = await exchange('assistant', {
        subject_token: await humanToken({ scope: undefined }),
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
      })
      assert.equal(implied.json.scope, 'tickets:read tickets:write', JSON.stringify(implied.json))
    })

    it('RFC 8693 §2.2.2: an unregistered resource is invalid_target', async () => {
      await refused(
        'assistant',
        {
          subject_token: await humanToken(),
          subject_token_type: JWT_TYPE,
          resource: 'https://unknown.example.com/',
          scope: 'tickets:read',
        },
        'invalid_target',
      )
    })

    it('RFC 8693 §2.2.2: a missing subject_token or subject_token_type is invalid_request, never a fallback', async () => {
      await refused(
        'assistant',
        { subject_token_type: JWT_TYPE, resource: RESOURCE, scope: 'tickets:read' },
        'invalid_request',
      )
      await refused(
        'assistant',
        { subject_token: await humanToken(), resource: RESOURCE, scope: 'tickets:read' },
        'invalid_request',
      )
      await refused(
        'assistant',
        {
          subject_token: await humanToken(),
          subject_token_type: 'urn:example:unknown',
          resource: RESOURCE,
          scope: 'tickets:read',
        },
        'invalid_request',
      )
      await refused(
        'assistant',
        {
          subject_token: await humanToken(),
          subject_token_type: JWT_TYPE,
          actor_token: 'x',
          resource: RESOURCE,
          scope: 'tickets:read',
        },
        'invalid_request',
      )
    })

    it('RFC 8693 §2.2.2: an untrusted, forged, expired or foreign-audience subject token is invalid_request', async () => {
      await refused(
        'assistant',
        {
          subject_token: await humanToken({ iss: 'https://evil.example.com' }),
          subject_token_type: JWT_TYPE,
          resource: RESOURCE,
          scope: 'tickets:read',
        },
        'invalid_request',
      )
      await refused(
        'assistant',
        {
          subject_token: await humanToken({}, ecKeyPair('idp-1')),
          subject_token_type: JWT_TYPE,
          resource: RESOURCE,
          scope: 'tickets:read',
        },
        'invalid_request',
      )
      const now = Math.floor(Date.now() / 1000)
      await refused(
        'assistant',
        {
          subject_token: await humanToken({ iat: now - 900, exp: now - 300 }),
          subject_token_type: JWT_TYPE,
          resource: RESOURCE,
          scope: 'tickets:read',
        },
        'invalid_request',
      )
      await refused(
        'assistant',
        {
          subject_token: await humanToken({ aud: 'https://another-app.example.com' }),
          subject_token_type: JWT_TYPE,
          resource: RESOURCE,
          scope: 'tickets:read',
        },
        'invalid_request',
      )
      await refused(
        'assistant',
        {
          subject_token: await humanToken({ sub: 'bob', email: 'bob@example.com' }),
          subject_token_type: JWT_TYPE,
          resource: RESOURCE,
          scope: 'tickets:read',
        },
        'invalid_request',
      )
    })

    it('RFC 8693 §4.1: a client cannot supply the act chain: a subject token carrying act is refused, an act parameter is ignored', async () => {
      await refused(
        'assistant',
        {
          subject_token: await humanToken({ act: { sub: 'someone-else' } }),
          subject_token_type: JWT_TYPE,
          resource: RESOURCE,
          scope: 'tickets:read',
        },
        'invalid_request',
      )
      const res = await exchange('assistant', {
        subject_token: await humanToken(),
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
        scope: 'tickets:read',
        act: JSON.stringify({ sub: 'admin' }),
      })
      assert.equal(res.status, 200)
      assert.deepEqual((await jwtVerify(String(res.json.access_token), jwks)).payload.act, {
        sub: 'assistant',
      })
    })

    it('RFC 8693 §4.4: may_act naming another actor, or a Mandate token issued to another client, is invalid_request', async () => {
      await refused(
        'assistant',
        {
          subject_token: await humanToken({ may_act: { sub: 'narrow' } }),
          subject_token_type: JWT_TYPE,
          resource: RESOURCE,
          scope: 'tickets:read',
        },
        'invalid_request',
      )
      const allowed = await exchange('narrow', {
        subject_token: await humanToken({ may_act: { sub: 'narrow' } }),
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
        scope: 'tickets:read',
      })
      assert.equal(allowed.status, 200, JSON.stringify(allowed.json))
      // `assistant` is not narrow's sub-agent and was not named: it may not take over narrow's delegation.
      await refused(
        'assistant',
        {
          subject_token: String(allowed.json.access_token),
          subject_token_type: ACCESS_TOKEN_TYPE,
          resource: RESOURCE,
          scope: 'tickets:read',
        },
        'invalid_request',
      )
    })

    it('never issues a token that outlives the subject token', async () => {
      const now = Math.floor(Date.now() / 1000)
      const res = await exchange('assistant', {
        subject_token: await humanToken({ exp: now + 45 }),
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
        scope: 'tickets:read',
      })
      assert.equal(res.status, 200)
      assert.ok(Number(res.json.expires_in) <= 45, String(res.json.expires_in))
      const { payload } = await jwtVerify(String(res.json.access_token), jwks)
      assert.ok((payload.exp as number) <= now + 45)
    })

    it('RFC 8693 §2.2.2: a revoked subject token is invalid_request (a human withdraws every delegation at once)', async () => {
      const first = await exchange('assistant', {
        subject_token: await humanToken(),
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
        scope: 'tickets:read',
      })
      assert.equal(first.status, 200)
      const revoked = await f.node.call('POST', '/api/v1/revocations', {
        body: { target: 'human_delegations', id: 'alice@example.com' },
      })
      assert.equal(revoked.status, 201)
      await refused(
        'assistant-sub',
        {
          subject_token: String(first.json.access_token),
          subject_token_type: ACCESS_TOKEN_TYPE,
          resource: RESOURCE,
          scope: 'tickets:read',
        },
        'invalid_request',
      )
    })

    it('verifies a user token once, and a cached verification still expires with the token', async () => {
      const { TrustedTokenVerifier } = await import('../../src/authn/trusted-token.ts')
      const { JwksFetcher } = await import('../../src/registry/jwks-fetcher.ts')
      const { KeySets } = await import('../../src/registry/key-sets.ts')
      const now = Math.floor(Date.now() / 1000)
      const token = await humanToken({ iat: now, exp: now + 60 })
      let clock = Date.now()
      const verifier = new TrustedTokenVerifier({
        directory: f.node.node.directory,
        keySets: new KeySets(new JwksFetcher(), {
          maxAgeSeconds: 300,
          refetchCooldownSeconds: 30,
          failureBackoffMaxSeconds: 300,
        }),
        defaultAudiences: () => [f.issuer],
        clockSkewSeconds: 0,
        now: () => clock,
      })
      const first = await verifier.verify(token, 'human_idp')
      assert.equal(
        await verifier.verify(token, 'human_idp'),
        first,
        'the second verification is the cached one',
      )
      clock = (now + 61) * 1000
      await assert.rejects(verifier.verify(token, 'human_idp'), /invalid, expired/)
    })

    it('an exchange held for approval stays under its mandate: redeemed, it carries mandate_id and spends the budget; once the mandate is revoked, the approved action is mandate_revoked', async () => {
      const CIBA = 'urn:openid:params:grant-type:ciba'
      const res = await f.node.call('PUT', '/api/v1/agents/held-helper', {
        body: {
          sponsor: 'alice@example.com',
          classification: 'delegated',
          ceiling: ['tickets:read', 'tickets:write'],
          credentials: [{ type: 'client_secret' }],
        },
      })
      assert.ok(res.status < 300, res.text)
      secrets['held-helper'] = res.json.issued_secrets[0].client_secret
      const mandate = await grantMandate(f.node, 'held-helper', ['tickets:write'], {
        budget: { calls: 5, period: 'total' },
      })
      await f.node.call('PUT', '/api/v1/policies/allow-all', {
        body: {
          policies:
            '@id("all") permit (principal, action, resource) unless { action == Action::"tickets:write" };\n' +
            '@id("ask") @approval("delegator") permit (principal, action == Action::"tickets:write", resource);',
        },
      })
      const hold = async () => {
        const held = await exchange('held-helper', {
          subject_token: await humanToken(),
          subject_token_type: JWT_TYPE,
          resource: RESOURCE,
          scope: 'tickets:write',
        })
        assert.equal(held.json.error, 'approval_required', JSON.stringify(held.json))
        const id = String(held.json.approval_id)
        const shown = await f.node.call('GET', `/api/v1/approvals/${id}`)
        assert.equal(shown.json.action.mandate_id, mandate)
        assert.equal((await f.node.call('POST', `/api/v1/approvals/${id}/approve`, { body: {} })).status, 200)
        return id
      }
      const redeem = (id: string) => exchange('held-helper', { grant_type: CIBA, auth_req_id: id })
      const usage = async () =>
        (await f.node.call('GET', `/api/v1/mandates/${mandate}`)).json.usage.calls as number
      try {
        const first = await hold()
        const token = await redeem(first)
        assert.equal(token.status, 200, JSON.stringify(token.json))
        const { payload } = await jwtVerify(String(token.json.access_token), jwks, { audience: RESOURCE })
        assert.equal(payload.sub, 'alice@example.com')
        assert.deepEqual(payload.act, { sub: 'held-helper' })
        assert.equal(payload.mandate_id, mandate)
        assert.equal(await usage(), 1, 'the approved token spent one call of the mandate')

        const second = await hold()
        await f.node.call('POST', `/api/v1/mandates/${mandate}/revoke`, { body: {} })
        const late = await redeem(second)
        assert.equal(late.json.error, 'mandate_revoked', JSON.stringify(late.json))
        assert.equal(late.json.access_token, undefined)
        assert.equal(await usage(), 1)
        // The approval was not used up by the refusal, but the mandate stays revoked: still nothing.
        assert.equal((await redeem(second)).json.error, 'mandate_revoked')
      } finally {
        await f.node.call('PUT', '/api/v1/policies/allow-all', {
          body: { policies: '@id("all")\npermit (principal, action, resource);' },
        })
      }
    })

    it('an autonomous agent may not act for a human: unauthorized_client', async () => {
      await refused(
        'loner',
        {
          subject_token: await humanToken(),
          subject_token_type: JWT_TYPE,
          resource: RESOURCE,
          scope: 'tickets:read',
        },
        'unauthorized_client',
      )
    })
  })
}
