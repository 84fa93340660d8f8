// Attack finding: `authorization_details` (RFC 9396) is parsed with JSON.parse, so a number beyond a double (`1e400`)
// becomes Infinity and is then written into the signed token as `null`: the token grants something the client never
// asked for (`"amount": null`, which a resource server comparing `amount <= limit` in JavaScript reads as 0). Input
// that has no exact JSON value must be refused (`invalid_authorization_details`, RFC 9396 §5), not rewritten.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type OAuthFixture, RESOURCE, startOAuthFixture } from '../oauth/oauth-fixture.ts'
import { storeKinds, type TestStore } from '../support/harness.ts'

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

for (const kind of storeKinds) {
  describe(`authorization_details with a number beyond a double (${kind.name})`, () => {
    let store: TestStore
    let f: OAuthFixture

    before(async () => {
      store = kind.create()
      f = await startOAuthFixture(store)
    })
    after(async () => {
      await f?.close()
      await store?.drop()
    })

    it('a detail holding 1e400 is refused with invalid_authorization_details, and no token carries null in its place', async () => {
      const res = await f.token({
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await f.assertion('bot'),
        resource: RESOURCE,
        authorization_details: '[{"type":"ticket_action","actions":["close"],"max_tickets":1e400}]',
      })
      assert.equal(res.status, 400, `issued: ${JSON.stringify(res.json.authorization_details)}`)
      assert.equal(res.json.error, 'invalid_authorization_details')
    })
  })
}
