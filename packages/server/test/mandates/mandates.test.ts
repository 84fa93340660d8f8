// Mandates over HTTP: a delegated token exchange needs a human's mandate covering it; the token carries the mandate id;
// budgets (calls, sums) are spent atomically with the issuance's record, also with concurrent requests on two nodes;
// revoked, expired and exhausted mandates are refused with their codes; revocation and a human's deactivation reach
// issued tokens and every node.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { decodeJwt } from 'jose'
import { deactivateHuman } from '../../src/mandates/lifecycle.ts'
import {
  ecKeyPair,
  IDP,
  IDP_SUBJECT,
  type OAuthFixture,
  RESOURCE,
  signHumanToken,
  startOAuthFixture,
} from '../oauth/oauth-fixture.ts'
import {
  postgresStore,
  startTestNode,
  storeKinds,
  type TestNode,
  type TestStore,
} from '../support/harness.ts'

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
const HUMAN = 'alice@example.com'
const inAnHour = () => new Date(Date.now() + 3600_000).toISOString()

/** Registers the IdP, binds alice to her IdP subject, and adds delegated agents with client secrets. */
async function setUp(f: OAuthFixture, idpKey: ReturnType<typeof ecKeyPair>): Promise<Record<string, string>> {
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
  await put(`/api/v1/humans/${HUMAN}`, { email: HUMAN, identities: [{ issuer: IDP, subject: IDP_SUBJECT }] })
  const secrets: Record<string, string> = {}
  for (const id of ['assistant', 'spender', 'payer', 'racer', 'chained', 'policed']) {
    const res = await put(`/api/v1/agents/${id}`, {
      sponsor: HUMAN,
      classification: 'delegated',
      ceiling: ['tickets:read', 'tickets:write', 'ticket_action'],
      credentials: [{ type: 'client_secret' }],
    })
    secrets[id] = res.issued_secrets[0].client_secret
  }
  const sub = await put('/api/v1/agents/chained-sub', {
    sponsor: HUMAN,
    classification: 'delegated',
    parent: 'chained',
    ceiling: ['tickets:read'],
    credentials: [{ type: 'client_secret' }],
  })
  secrets['chained-sub'] = sub.issued_secrets[0].client_secret
  return secrets
}

function mandateBody(agent: string, extra: Record<string, unknown> = {}) {
  return {
    human: HUMAN,
    agent,
    actions: ['tickets:read'],
    resource_servers: ['tickets'],
    expires_at: inAnHour(),
    ...extra,
  }
}

for (const kind of storeKinds) {
  describe(`mandates (${kind.name})`, () => {
    let store: TestStore
    let f: OAuthFixture
    let secrets: Record<string, string>
    const idpKey = ecKeyPair('idp-1')
    const humanToken = () => signHumanToken(idpKey, f.issuer, { scope: undefined })
    const exchange = async (
      agent: string,
      form: Record<string, string>,
      node: TestNode | undefined = undefined,
    ) => {
      const body = new URLSearchParams({
        grant_type: GRANT,
        client_id: agent,
        client_secret: secrets[agent] ?? '',
        subject_token: await humanToken(),
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
        ...form,
      })
      const res = await fetch(`${node ? node.node.url : f.issuer}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      })
      return { status: res.status, json: (await res.json()) as Record<string, unknown> }
    }
    const grant = async (body: Record<string, unknown>) => {
      const res = await f.node.call('POST', '/api/v1/mandates', { body })
      assert.equal(res.status, 201, res.text)
      return res.json as { id: string; status: string; usage: { calls: number; sum: number } }
    }
    const introspect = async (token: string, agent: string, url = f.issuer) => {
      const res = await fetch(`${url}/oauth/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, client_id: agent, client_secret: secrets[agent] ?? '' }),
      })
      return (await res.json()) as Record<string, unknown>
    }

    before(async () => {
      store = kind.create()
      f = await startOAuthFixture(store)
      secrets = await setUp(f, idpKey)
    })
    after(async () => {
      await f.close()
      await store.drop()
    })

    it('refuses a delegated exchange without a mandate, whatever scope the IdP token claims (invalid_scope)', async () => {
      const body = new URLSearchParams({
        grant_type: GRANT,
        client_id: 'assistant',
        client_secret: secrets.assistant ?? '',
        subject_token: await signHumanToken(idpKey, f.issuer, { scope: 'tickets:read tickets:write' }),
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
        scope: 'tickets:read',
      })
      const res = await fetch(`${f.issuer}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      })
      const json = (await res.json()) as Record<string, unknown>
      assert.equal(res.status, 400)
      assert.equal(json.error, 'invalid_scope')
      assert.match(String(json.error_description), /no mandate covers tickets:read/)
    })

    it('issues a token with sub the human, act the agent and mandate_id under a covering mandate; introspection returns it', async () => {
      const mandate = await grant(mandateBody('assistant'))
      assert.match(mandate.id, /^mdt_[A-Za-z0-9_-]{22,}$/)
      const res = await exchange('assistant', { scope: 'tickets:read' })
      assert.equal(res.status, 200, JSON.stringify(res.json))
      assert.equal(res.json.issued_token_type, ACCESS_TOKEN_TYPE)
      const claims = decodeJwt(String(res.json.access_token))
      assert.equal(claims.sub, HUMAN)
      assert.deepEqual(claims.act, { sub: 'assistant' })
      assert.equal(claims.mandate_id, mandate.id)
      const active = await introspect(String(res.json.access_token), 'assistant')
      assert.equal(active.active, true)
      assert.equal(active.mandate_id, mandate.id)
      // Without a scope, the mandate's actions on the resource are asked.
      const implied = await exchange('assistant', {})
      assert.equal(implied.json.scope, 'tickets:read')
      const used = await f.node.call('GET', `/api/v1/mandates/${mandate.id}`)
      assert.equal(used.json.usage.calls, 2)
    })

    it('refuses what the mandate does not grant, even within the ceiling (invalid_scope)', async () => {
      const res = await exchange('assistant', { scope: 'tickets:write' })
      assert.equal(res.json.error, 'invalid_scope')
      assert.match(String(res.json.error_description), /no mandate covers tickets:write/)
    })

    it('refuses a grant beyond the agent ceiling, for an unknown resource server, to an autonomous agent, or too long', async () => {
      const res = await f.node.call('POST', '/api/v1/mandates', {
        body: mandateBody('bot', {
          actions: ['tickets:delete'],
          resource_servers: ['nowhere'],
          expires_at: '2099-01-01T00:00:00Z',
        }),
      })
      assert.equal(res.status, 400)
      const paths = res.json.fields.map((x: { path: string }) => x.path).sort()
      assert.deepEqual(paths, ['/actions/0', '/agent', '/expires_at', '/resource_servers/0'])
      const beyond = await f.node.call('POST', '/api/v1/mandates', {
        body: mandateBody('assistant', { actions: ['tickets:delete'] }),
      })
      assert.equal(beyond.status, 400)
      assert.match(beyond.json.fields[0].message, /beyond the ceiling of assistant/)
      const odd = await f.node.call('POST', '/api/v1/mandates', {
        body: mandateBody(['assistant'] as unknown as string, { human: 'alice @example.com' }),
      })
      assert.equal(odd.status, 400)
    })

    it('spends a calls budget and then refuses with mandate_exhausted, recording mandate.exhausted', async () => {
      const mandate = await grant(mandateBody('spender', { budget: { calls: 2 } }))
      for (let i = 0; i < 2; i++)
        assert.equal((await exchange('spender', { scope: 'tickets:read' })).status, 200)
      const refused = await exchange('spender', { scope: 'tickets:read' })
      assert.equal(refused.status, 400)
      assert.equal(refused.json.error, 'mandate_exhausted')
      assert.equal(refused.json.mandate_id, mandate.id)
      const events = await f.node.call('GET', '/api/v1/audit/events?type=mandate.exhausted')
      assert.ok(events.json.items.some((e: { resource: string }) => e.resource === `mandate:${mandate.id}`))
      const refusals = await f.node.call('GET', '/api/v1/audit/events?type=token.refuse')
      assert.ok(refusals.json.items.some((e: { reason: string }) => e.reason.startsWith('mandate_exhausted')))
    })

    it('RFC 9396: a sum budget over an authorization_details amount refuses the request that would overspend it', async () => {
      await grant(
        mandateBody('payer', {
          actions: ['tickets:read'],
          authorization_details_types: ['ticket_action'],
          budget: { sum: { argument: 'amount', limit: 100 } },
        }),
      )
      const pay = (amount: unknown) =>
        exchange('payer', { authorization_details: JSON.stringify([{ type: 'ticket_action', amount }]) })
      assert.equal((await pay(60)).status, 200)
      const over = await pay(50)
      assert.equal(over.json.error, 'mandate_exhausted')
      assert.equal((await pay(40)).status, 200, 'exactly up to the limit is allowed')
      const nothing = await pay('ten')
      assert.equal(nothing.json.error, 'invalid_request', 'an amount that cannot be counted is refused')
      assert.equal((await pay(0.5)).json.error, 'mandate_exhausted')
    })

    it('refuses a revoked mandate (mandate_revoked) and its issued tokens become inactive at introspection', async () => {
      const mandate = await grant(mandateBody('racer'))
      const issued = await exchange('racer', { scope: 'tickets:read' })
      assert.equal(issued.status, 200)
      const revoked = await f.node.call('POST', `/api/v1/mandates/${mandate.id}/revoke`, {
        body: { reason: 'no longer needed' },
      })
      assert.equal(revoked.status, 200, revoked.text)
      assert.equal(revoked.json.status, 'revoked')
      const refused = await exchange('racer', { scope: 'tickets:read' })
      assert.equal(refused.json.error, 'mandate_revoked')
      assert.deepEqual(await introspect(String(issued.json.access_token), 'racer'), { active: false })
      const list = await f.node.call('GET', `/api/v1/mandates?agent=racer&status=revoked`)
      assert.deepEqual(
        list.json.items.map((m: { id: string }) => m.id),
        [mandate.id],
      )
      assert.equal((await f.node.call('GET', '/api/v1/mandates?colour=red')).status, 400)
      assert.equal((await f.node.call('GET', '/api/v1/mandates/mdt_nothing')).status, 404)
    })

    it('a mandate is used only inside its time windows (weekdays, times, IANA time zone)', async () => {
      const days = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']
      const today = days[new Date().getUTCDay()] as string
      const window = (d: string[]) => [{ days: d, start: '00:00', end: '24:00', time_zone: 'UTC' }]
      await f.node
        .call('PUT', '/api/v1/agents/weekender', {
          body: {
            sponsor: HUMAN,
            classification: 'delegated',
            ceiling: ['tickets:read'],
            credentials: [{ type: 'client_secret' }],
          },
        })
        .then((res) => {
          secrets.weekender = res.json.issued_secrets[0].client_secret
        })
      await grant(mandateBody('weekender', { windows: window(days.filter((d) => d !== today)) }))
      const outside = await exchange('weekender', { scope: 'tickets:read' })
      assert.equal(outside.json.error, 'invalid_request')
      assert.match(String(outside.json.error_description), /may not be used at this time/)
      await grant(mandateBody('weekender', { windows: window([today]) }))
      assert.equal((await exchange('weekender', { scope: 'tickets:read' })).status, 200)
      const bad = await f.node.call('POST', '/api/v1/mandates', {
        body: mandateBody('weekender', {
          windows: [{ days: ['mon'], start: '10:00', end: '09:00', time_zone: 'Mars/Olympus' }],
        }),
      })
      assert.equal(bad.status, 400)
      assert.deepEqual(bad.json.fields.map((x: { path: string }) => x.path).sort(), [
        '/windows/0/end',
        '/windows/0/time_zone',
      ])
    })

    it('refuses an expired mandate (mandate_expired)', async () => {
      await f.node
        .call('PUT', '/api/v1/agents/sleeper', {
          body: {
            sponsor: HUMAN,
            classification: 'blended',
            ceiling: ['tickets:read'],
            credentials: [{ type: 'client_secret' }],
          },
        })
        .then((res) => {
          secrets.sleeper = res.json.issued_secrets[0].client_secret
        })
      await grant(mandateBody('sleeper', { expires_at: new Date(Date.now() + 1500).toISOString() }))
      await new Promise((resolve) => setTimeout(resolve, 2000))
      const res = await exchange('sleeper', { scope: 'tickets:read' })
      assert.equal(res.json.error, 'mandate_expired')
    })

    it('RFC 8693 §4.1: a sub-agent exchanging a token issued under a mandate keeps that mandate and spends its budget', async () => {
      const mandate = await grant(mandateBody('chained', { budget: { calls: 2 } }))
      const parent = await exchange('chained', { scope: 'tickets:read' })
      assert.equal(parent.status, 200, JSON.stringify(parent.json))
      const child = await exchange('chained-sub', {
        subject_token: String(parent.json.access_token),
        subject_token_type: ACCESS_TOKEN_TYPE,
        scope: 'tickets:read',
      })
      assert.equal(child.status, 200, JSON.stringify(child.json))
      const claims = decodeJwt(String(child.json.access_token))
      assert.equal(claims.mandate_id, mandate.id)
      assert.deepEqual(claims.act, { sub: 'chained-sub', act: { sub: 'chained' } })
      const again = await exchange('chained-sub', {
        subject_token: String(parent.json.access_token),
        subject_token_type: ACCESS_TOKEN_TYPE,
        scope: 'tickets:read',
      })
      assert.equal(again.json.error, 'mandate_exhausted', 'the sub-agent spends the same budget')
    })

    it('transaction tokens under a mandate carry mandate_id and spend its budget', async () => {
      const mandate = await grant(mandateBody('chained', { budget: { calls: 1 } }))
      // The older mandate of this agent is used up; this one covers the request.
      const txn = await exchange('chained', {
        requested_token_type: 'urn:ietf:params:oauth:token-type:txn_token',
        audience: f.issuer,
        scope: 'tickets:read',
      })
      assert.equal(txn.status, 200, JSON.stringify(txn.json))
      assert.equal(decodeJwt(String(txn.json.access_token)).mandate_id, mandate.id)
      const used = await f.node.call('GET', `/api/v1/mandates/${mandate.id}`)
      assert.equal(used.json.usage.calls, 1)
    })

    it('policies see the mandate and its use in context.mandate', async () => {
      const put = await f.node.call('PUT', '/api/v1/policies/mandate-use', {
        body: {
          policies:
            '@id("once") forbid (principal == agent::"policed", action, resource) when { context has mandate && context.mandate.calls_used >= 1 && context.mandate has calls_limit && context.mandate.calls_limit == 5 };',
        },
      })
      assert.ok(put.status < 300, put.text)
      await grant(mandateBody('policed', { budget: { calls: 5, period: 'day' } }))
      assert.equal((await exchange('policed', { scope: 'tickets:read' })).status, 200)
      const denied = await exchange('policed', { scope: 'tickets:read' })
      assert.equal(denied.json.error, 'invalid_scope')
      assert.match(String(denied.json.error_description), /denied by policy/)
      await f.node.call('DELETE', '/api/v1/policies/mandate-use')
    })

    it('AuthZEN: an evaluation naming a mandate (context.mandate_id) is decided with context.mandate; a mandate that does not stand is a 400', async () => {
      await f.node
        .call('PUT', '/api/v1/agents/pep-checked', {
          body: {
            sponsor: HUMAN,
            classification: 'delegated',
            ceiling: ['tickets:read'],
            credentials: [{ type: 'client_secret' }],
          },
        })
        .then((res) => {
          secrets['pep-checked'] = res.json.issued_secrets[0].client_secret
        })
      const mandate = await grant(mandateBody('pep-checked', { budget: { calls: 5 } }))
      assert.equal((await exchange('pep-checked', { scope: 'tickets:read' })).status, 200)
      const policy = await f.node.call('PUT', '/api/v1/policies/mandate-authzen', {
        body: {
          policies:
            '@id("used") forbid (principal == agent::"pep-checked", action, resource) when { context has mandate && context.mandate.calls_used >= 1 };',
        },
      })
      assert.ok(policy.status < 300, policy.text)
      const evaluate = (context: Record<string, unknown>) =>
        f.node.call('POST', '/access/v1/evaluation', {
          body: {
            subject: { type: 'agent', id: 'pep-checked' },
            action: { name: 'tickets:read' },
            resource: { type: 'resource_server', id: 'tickets' },
            context,
          },
        })
      try {
        assert.equal((await evaluate({})).json.decision, true)
        const named = await evaluate({ mandate_id: mandate.id })
        assert.equal(named.status, 200, named.text)
        assert.equal(named.json.decision, false, 'the policy saw the mandate and its use')
        // A caller cannot hand in a mandate of its own making.
        const forged = await evaluate({
          mandate: { id: 'x', calls_used: 0, sum_used: 0, period: 'total', expires_at: 'x' },
        })
        assert.equal(forged.json.decision, true)
        assert.equal((await evaluate({ mandate_id: 'mdt_unknown' })).status, 400)
        const other = await grant(mandateBody('assistant'))
        assert.equal((await evaluate({ mandate_id: other.id })).status, 400)
        await f.node.call('POST', `/api/v1/mandates/${mandate.id}/revoke`, { body: {} })
        const revoked = await evaluate({ mandate_id: mandate.id })
        assert.equal(revoked.status, 400)
        assert.match(revoked.text, /has been revoked/)
      } finally {
        await f.node.call('DELETE', '/api/v1/policies/mandate-authzen')
      }
    })

    it('deactivateHuman (the IdP reports the account disabled) revokes the mandates and suspends sponsored agents', async () => {
      await f.node.call('PUT', '/api/v1/humans/dave@example.com', { body: { email: 'dave@example.com' } })
      await f.node.call('PUT', '/api/v1/agents/daves-bot', {
        body: { sponsor: 'dave@example.com', classification: 'delegated', ceiling: ['tickets:read'] },
      })
      const mandate = await grant({ ...mandateBody('assistant'), human: 'dave@example.com' })
      const actor = { kind: 'system' as const, id: 'trusted_issuer:idp' }
      assert.equal(await deactivateHuman(f.node.node.registry, 'dave@example.com', { actor }), true)
      assert.equal(await deactivateHuman(f.node.node.registry, 'dave@example.com', { actor }), false)
      const revoked = (await f.node.call('GET', `/api/v1/mandates/${mandate.id}`)).json
      assert.equal(revoked.status, 'revoked')
      assert.equal(revoked.revoked_by, 'system:trusted_issuer:idp')
      assert.equal((await f.node.call('GET', '/api/v1/agents/daves-bot')).json.status, 'suspended')
    })

    it('deactivating a human revokes every mandate they gave and suspends the agents they sponsor, audited', async () => {
      await f.node.call('PUT', '/api/v1/humans/carol@example.com', { body: { email: 'carol@example.com' } })
      const agent = await f.node.call('PUT', '/api/v1/agents/carols-bot', {
        body: { sponsor: 'carol@example.com', classification: 'delegated', ceiling: ['tickets:read'] },
      })
      assert.ok(agent.status < 300, agent.text)
      const mandate = await grant({ ...mandateBody('assistant'), human: 'carol@example.com' })
      const res = await f.node.call('DELETE', '/api/v1/humans/carol@example.com')
      assert.equal(res.status, 200, res.text)
      assert.equal((await f.node.call('GET', `/api/v1/mandates/${mandate.id}`)).json.status, 'revoked')
      const bot = (await f.node.call('GET', '/api/v1/agents/carols-bot')).json
      assert.equal(bot.status, 'suspended')
      assert.equal(bot.suspended_reason, 'sponsor_inactive')
      const events = await f.node.call('GET', '/api/v1/audit/events?type=mandate.revoke')
      assert.ok(events.json.items.some((e: { resource: string }) => e.resource === `mandate:${mandate.id}`))
      const again = await f.node.call('POST', '/api/v1/mandates', {
        body: { ...mandateBody('assistant'), human: 'carol@example.com' },
      })
      assert.equal(again.status, 400, 'an inactive human grants nothing')
    })
  })
}

describe('mandates on two PostgreSQL nodes', () => {
  let store: TestStore
  let f: OAuthFixture
  let second: TestNode
  let secrets: Record<string, string>
  const idpKey = ecKeyPair('idp-1')

  before(async () => {
    store = postgresStore()
    f = await startOAuthFixture(store)
    secrets = await setUp(f, idpKey)
    second = await startTestNode(store, {
      masterKey: f.node.config.masterKey,
      bootstrapToken: f.node.config.bootstrapToken,
      issuer: f.issuer,
    })
  })
  after(async () => {
    await second.close()
    await f.close()
    await store.drop()
  })

  const exchangeAt = async (url: string, agent: string) => {
    const res = await fetch(`${url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: GRANT,
        client_id: agent,
        client_secret: secrets[agent] ?? '',
        subject_token: await signHumanToken(idpKey, f.issuer, { scope: undefined }),
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
        scope: 'tickets:read',
      }),
    })
    return { status: res.status, json: (await res.json()) as Record<string, unknown> }
  }

  it('50 concurrent exchanges against a calls budget of 10, spread over two nodes, succeed exactly 10 times', async () => {
    const created = await f.node.call('POST', '/api/v1/mandates', {
      body: mandateBody('racer', { budget: { calls: 10 } }),
    })
    assert.equal(created.status, 201, created.text)
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => exchangeAt(i % 2 === 0 ? f.issuer : second.node.url, 'racer')),
    )
    const ok = results.filter((r) => r.status === 200)
    assert.equal(ok.length, 10)
    assert.ok(results.filter((r) => r.status !== 200).every((r) => r.json.error === 'mandate_exhausted'))
    const used = await second.call('GET', `/api/v1/mandates/${created.json.id}`)
    assert.equal(used.json.usage.calls, 10)
  })

  it('a mandate revoked on one node is refused by introspection and by the token endpoint on the other', async () => {
    const created = await f.node.call('POST', '/api/v1/mandates', { body: mandateBody('assistant') })
    const issued = await exchangeAt(f.issuer, 'assistant')
    assert.equal(issued.status, 200, JSON.stringify(issued.json))
    const introspect = async (url: string) => {
      const res = await fetch(`${url}/oauth/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          token: String(issued.json.access_token),
          client_id: 'assistant',
          client_secret: secrets.assistant ?? '',
        }),
      })
      return (await res.json()) as Record<string, unknown>
    }
    assert.equal((await introspect(second.node.url)).active, true)
    // Mandate's own resource endpoints (AuthZEN, the gateway) check tokens with the node's authenticator.
    const presented = {
      authorization: `Bearer ${String(issued.json.access_token)}`,
      dpop: [],
      method: 'POST',
      url: `${second.node.url}/access/v1/evaluation`,
    }
    const caller = await second.node.accessTokens.authenticate(presented, RESOURCE)
    assert.equal(caller.claims.mandate_id, created.json.id)
    const revoked = await f.node.call('POST', `/api/v1/mandates/${created.json.id}/revoke`, { body: {} })
    assert.equal(revoked.status, 200)
    assert.deepEqual(await introspect(second.node.url), { active: false })
    await assert.rejects(second.node.accessTokens.authenticate(presented, RESOURCE), /revoked/)
    assert.equal((await exchangeAt(second.node.url, 'assistant')).json.error, 'mandate_revoked')
  })
})
