// Limits on approval requests: one client cannot flood its approvers; decided and expired requests free their place.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type OAuthFixture, RESOURCE, startOAuthFixture } from '../oauth/oauth-fixture.ts'
import { storeKinds, type TestStore } from '../support/harness.ts'

for (const kind of storeKinds) {
  describe(`approvals: at most MANDATE_APPROVAL_MAX_PENDING_PER_CLIENT waiting (${kind.name})`, () => {
    let store: TestStore
    let f: OAuthFixture

    const ask = async () => {
      const res = await fetch(`${f.issuer}/oauth/bc-authorize`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: 'secret-bot',
          client_secret: f.secrets['secret-bot'] ?? '',
          scope: 'tickets:read',
          resource: RESOURCE,
        }),
      })
      return { status: res.status, json: (await res.json()) as Record<string, unknown> }
    }

    before(async () => {
      store = kind.create()
      f = await startOAuthFixture(store, { approvalMaxPendingPerClient: 2 })
    })
    after(async () => {
      await f.close()
      await store.drop()
    })

    it('concurrent requests beyond the limit are refused (access_denied); a decision frees a place', async () => {
      const answers = await Promise.all(Array.from({ length: 6 }, () => ask()))
      const opened = answers.filter((a) => a.status === 200)
      assert.equal(opened.length, 2)
      for (const refused of answers.filter((a) => a.status !== 200)) {
        assert.equal(refused.status, 403)
        assert.equal(refused.json.error, 'access_denied')
      }
      const first = String(opened[0]?.json.auth_req_id)
      assert.equal((await f.node.call('POST', `/api/v1/approvals/${first}/deny`, { body: {} })).status, 200)
      assert.equal((await ask()).status, 200)
      assert.equal((await ask()).status, 403)
      // Another client has its own allowance.
      const other = await fetch(`${f.issuer}/oauth/bc-authorize`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: 'helper',
          client_secret: f.secrets.helper ?? '',
          scope: 'tickets:read',
          resource: RESOURCE,
          login_hint: 'alice@example.com',
        }),
      })
      assert.equal(other.status, 200)
    })
  })
}
