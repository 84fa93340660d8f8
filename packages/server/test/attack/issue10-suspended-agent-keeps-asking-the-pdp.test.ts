// Attack finding (issue 10, PEP authentication; low, a design question): an agent that holds an access token for the
// AuthZEN API (`<issuer>/access/v1`) keeps using it as a PEP after it is suspended, until the token expires (5 minutes
// by default, up to MANDATE_MAX_TOKEN_LIFETIME_SECONDS): evaluations and searches answer it, on this node and on the
// others. docs/security.md: suspended agents "cannot authenticate until an active sponsor is assigned", and a
// suspended agent "is stopped on every path exactly as if it were itself". `authenticatePep`
// (src/http/authzen-routes.ts) checks the token (signature, audience, revocation, binding) but not its client's
// lifecycle, which `decisionGate` has at hand. Revoking the token does stop it (a revoked token is refused on every
// node at once), so the gap is the window between a suspension and the token's expiry.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type OAuthFixture, startOAuthFixture } from '../oauth/oauth-fixture.ts'
import { sqliteStore, type TestStore } from '../support/harness.ts'

const ISSUER = 'https://mandate.test'
const PDP_AUDIENCE = `${ISSUER}/access/v1`

/** client_credentials for the PDP audience, at the node's own address (the issuer is a name only). */
async function issue(f: OAuthFixture): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${f.node.node.url}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`secret-bot:${f.secrets['secret-bot']}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'pdp:ask', resource: PDP_AUDIENCE }),
  })
  return { status: res.status, json: (await res.json()) as Record<string, unknown> }
}

describe('a suspended agent as a PEP (issue 10)', () => {
  let store: TestStore
  let f: OAuthFixture
  let token: string

  before(async () => {
    store = sqliteStore()
    f = await startOAuthFixture(store, { issuer: ISSUER })
    for (const [path, body] of [
      [
        '/api/v1/resource-servers/pdp',
        { audience: PDP_AUDIENCE, scopes: ['pdp:ask'], introspection_clients: ['helper'] },
      ],
      [
        '/api/v1/agents/secret-bot',
        {
          sponsor: 'alice@example.com',
          classification: 'blended',
          ceiling: ['tickets:read', 'pdp:ask'],
          credentials: [{ type: 'client_secret', id: 'secret' }],
        },
      ],
    ] as const) {
      const res = await f.node.call('PUT', path, { body })
      assert.ok(res.status < 300, `${path}: ${res.status} ${res.text}`)
    }
    const issued = await issue(f)
    assert.equal(issued.status, 200, JSON.stringify(issued.json))
    token = String(issued.json.access_token)
  })
  after(async () => {
    await f?.close()
    await store?.drop()
  })

  const ask = () =>
    f.node.call('POST', '/access/v1/evaluation', {
      token,
      body: {
        subject: { type: 'agent', id: 'bot' },
        action: { name: 'tickets:read' },
        resource: { type: 'resource_server', id: 'tickets' },
      },
    })

  it('its access token is refused by the AuthZEN API once the agent is suspended', async () => {
    const before = await ask()
    assert.equal(before.status, 200, before.text)
    assert.equal(before.json.decision, true)
    const suspended = await f.node.call('PATCH', '/api/v1/agents/secret-bot', {
      body: { status: 'suspended' },
    })
    assert.equal(suspended.status, 200, suspended.text)
    const refused = await issue(f)
    assert.equal(refused.status, 401, 'the token endpoint no longer authenticates it')
    const after = await ask()
    assert.equal(after.status, 401, after.text)
    assert.match(after.text, /may not act: agent secret-bot is suspended/)
    assert.match(String(after.headers.get('www-authenticate')), /invalid_token/)
    // A resource server introspecting the token learns it is not active.
    assert.deepEqual(await introspect(), { active: false })
    // Suspension is not revocation: resumed, the agent's unexpired token works again.
    const resumed = await f.node.call('PATCH', '/api/v1/agents/secret-bot', { body: { status: 'active' } })
    assert.equal(resumed.status, 200, resumed.text)
    const again = await ask()
    assert.equal(again.status, 200, again.text)
    assert.equal((await introspect()).active, true)
  })

  const introspect = async () => {
    const res = await fetch(`${f.node.node.url}/oauth/introspect`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`helper:${f.secrets.helper}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }),
    })
    assert.equal(res.status, 200)
    return (await res.json()) as Record<string, unknown>
  }
})
