// A delegated backchannel request names the human the token will be for in `login_hint`; docs/delegation.md says it
// "needs no mandate: the human's approval of that one action is its authority". But a policy holding the action with
// @approval("sponsor") (or a group) makes the agent's sponsor the approver: Alice, who sponsors `helper`, approves, and
// `helper` gets a token with sub Bob, who never gave a mandate nor saw the request. A token for a human must rest on
// that human's mandate or that human's own decision: such a request must be decided by Bob (or refused).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type OAuthFixture, RESOURCE, startOAuthFixture } from '../oauth/oauth-fixture.ts'
import { storeKinds, type TestStore } from '../support/harness.ts'

const CIBA = 'urn:openid:params:grant-type:ciba'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

for (const kind of storeKinds) {
  describe(`CIBA: an approver other than the human the token is for (${kind.name})`, () => {
    let store: TestStore
    let f: OAuthFixture
    before(async () => {
      store = kind.create()
      f = await startOAuthFixture(store, { approvalPollIntervalSeconds: 1 })
      const bob = await f.node.call('PUT', '/api/v1/humans/bob@example.com', { body: {} })
      assert.ok(bob.status < 300, bob.text)
      const policy = await f.node.call('PUT', '/api/v1/policies/allow-all', {
        body: { policies: '@id("ask") @approval("sponsor") permit (principal, action, resource);' },
      })
      assert.ok(policy.status < 300, policy.text)
    })
    after(async () => {
      await f.close()
      await store.drop()
    })

    const post = async (path: string, form: Record<string, string>) => {
      const res = await fetch(`${f.issuer}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: 'helper', client_secret: String(f.secrets.helper), ...form }),
      })
      return { status: res.status, json: (await res.json()) as Record<string, unknown> }
    }

    it("CIBA §7.1: the sponsor's approval does not yield a token for Bob, the human in login_hint", async () => {
      const asked = await post('/oauth/bc-authorize', {
        scope: 'tickets:read',
        resource: RESOURCE,
        login_hint: 'bob@example.com',
      })
      if (asked.status !== 200) return // refusing such a request outright is a correct answer too
      const id = String(asked.json.auth_req_id)
      // Alice (helper's sponsor, not Bob) decides as a logged-in human would on the approvals page.
      const decided = await f.node.node.approvals
        .decide(id, 'approve', { kind: 'human', id: 'alice@example.com' })
        .then(
          () => 'approved',
          () => 'refused',
        )
      assert.equal(decided, 'refused', 'Alice may not approve an action Bob would be the subject of')
      await sleep(1100)
      const token = await post('/oauth/token', { grant_type: CIBA, auth_req_id: id })
      assert.notEqual(token.status, 200, JSON.stringify(token.json))
    })
  })
}
