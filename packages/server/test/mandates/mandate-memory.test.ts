// The mandates a delegated exchange reads are kept in each node's memory: a grant or revocation through the admin API
// (which `mandate` CLI commands call) is seen by the next exchange on the node that made it, and by a second node
// sharing the store once it has polled (what its 500 ms timer does). A revoked mandate never yields a token, on any
// node, even before that poll: the spend in the issuance's transaction refuses it.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  ecKeyPair,
  IDP,
  IDP_SUBJECT,
  type OAuthFixture,
  RESOURCE,
  signHumanToken,
  startOAuthFixture,
} from '../oauth/oauth-fixture.ts'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt'
const HUMAN = 'alice@example.com'
const AGENTS = ['mem-local', 'mem-wider', 'mem-shared', 'mem-later']

for (const kind of storeKinds)
  describe(`mandates kept in memory (${kind.name})`, () => {
    let store: TestStore
    let f: OAuthFixture
    let second: TestNode
    const secrets: Record<string, string> = {}
    const idpKey = ecKeyPair('idp-1')

    before(async () => {
      store = kind.create()
      f = await startOAuthFixture(store)
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
      await put(`/api/v1/humans/${HUMAN}`, {
        email: HUMAN,
        identities: [{ issuer: IDP, subject: IDP_SUBJECT }],
      })
      for (const id of AGENTS) {
        const res = await put(`/api/v1/agents/${id}`, {
          sponsor: HUMAN,
          classification: 'delegated',
          ceiling: ['tickets:read', 'tickets:write'],
          credentials: [{ type: 'client_secret' }],
        })
        secrets[id] = res.issued_secrets[0].client_secret
      }
      // A second node of the same deployment: the same store, master key and issuer.
      second = await startTestNode(store, {
        masterKey: f.node.config.masterKey,
        bootstrapToken: f.node.config.bootstrapToken,
        issuer: f.issuer,
      })
    })
    after(async () => {
      await second?.close()
      await f?.close()
      await store?.drop()
    })

    const exchange = async (agent: string, scope: string, url = f.issuer) => {
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
          scope,
        }),
      })
      return { status: res.status, json: (await res.json()) as Record<string, unknown> }
    }
    const grant = async (agent: string, actions: string[]) => {
      const res = await f.node.call('POST', '/api/v1/mandates', {
        body: {
          human: HUMAN,
          agent,
          actions,
          resource_servers: ['tickets'],
          expires_at: new Date(Date.now() + 3600_000).toISOString(),
        },
      })
      assert.equal(res.status, 201, res.text)
      return String(res.json.id)
    }
    const revoke = async (id: string) => {
      const res = await f.node.call('POST', `/api/v1/mandates/${id}/revoke`, { body: { reason: 'test' } })
      assert.equal(res.status, 200, res.text)
    }

    it('on the node that grants and revokes: the next exchange sees the grant, then the revocation', async () => {
      // Read (and kept) before the grant: no mandate.
      assert.equal((await exchange('mem-local', 'tickets:read')).json.error, 'invalid_scope')
      const id = await grant('mem-local', ['tickets:read'])
      const issued = await exchange('mem-local', 'tickets:read')
      assert.equal(issued.status, 200, JSON.stringify(issued.json))
      await revoke(id)
      const refused = await exchange('mem-local', 'tickets:read')
      assert.equal(refused.json.error, 'mandate_revoked')
      // Refused when the mandate is chosen, not only by the spend: this node's memory knows of the revocation.
      assert.match(String(refused.json.error_description), new RegExp(`mandate ${id} has been revoked`))
    })

    it('on the node that grants: a new mandate granting more covers the next exchange', async () => {
      await grant('mem-wider', ['tickets:read'])
      assert.equal((await exchange('mem-wider', 'tickets:read')).status, 200)
      assert.equal((await exchange('mem-wider', 'tickets:write')).json.error, 'invalid_scope')
      await grant('mem-wider', ['tickets:read', 'tickets:write'])
      const wider = await exchange('mem-wider', 'tickets:write')
      assert.equal(wider.status, 200, JSON.stringify(wider.json))
    })

    it('on a second node: a revoked mandate never yields a token, and is known revoked after its poll', async () => {
      const id = await grant('mem-shared', ['tickets:read'])
      // The second node reads, and keeps, the mandate.
      const issued = await exchange('mem-shared', 'tickets:read', second.node.url)
      assert.equal(issued.status, 200, JSON.stringify(issued.json))
      await revoke(id)
      // Whether or not its timer has polled yet, the spend in the issuance's transaction refuses the mandate.
      assert.equal(
        (await exchange('mem-shared', 'tickets:read', second.node.url)).json.error,
        'mandate_revoked',
      )
      await second.node.mandates.refresh()
      const refused = await exchange('mem-shared', 'tickets:read', second.node.url)
      assert.equal(refused.json.error, 'mandate_revoked')
      assert.match(String(refused.json.error_description), new RegExp(`mandate ${id} has been revoked`))
    })

    it('on a second node: a mandate granted on the first covers exchanges there after its poll', async () => {
      // Read (and kept) by the second node before the grant: no mandate.
      assert.equal((await exchange('mem-later', 'tickets:read', second.node.url)).json.error, 'invalid_scope')
      await grant('mem-later', ['tickets:read'])
      await second.node.mandates.refresh()
      const issued = await exchange('mem-later', 'tickets:read', second.node.url)
      assert.equal(issued.status, 200, JSON.stringify(issued.json))
    })
  })
