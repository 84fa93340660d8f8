// RFC 8252 §7.3 lets a loopback redirect URI take any port, and the registry matches it as text with the port taken
// out (`:\d{1,5}`): `http://127.0.0.1:99999/cb` matches the registered `http://127.0.0.1/cb`, yet it is no URL (the
// port is out of range). An error answer to it is a 500 at /oauth/authorize (building the redirect throws), and a
// valid request is kept for consent, where approving grants the mandate and then fails building the redirect. Such a
// redirect URI must be refused up front with the 400 page, as any unregistered one is (OAuth 2.1 §4.1.2.1).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type ConsentFixture, startConsentFixture } from '../oauth/consent-fixture.ts'
import { storeKinds, type TestStore } from '../support/harness.ts'

for (const kind of storeKinds) {
  describe(`loopback redirect URI with a port out of range (${kind.name})`, () => {
    let store: TestStore
    let f: ConsentFixture
    before(async () => {
      store = kind.create()
      f = await startConsentFixture(store)
    })
    after(async () => {
      await f.close()
      await store.drop()
    })

    it('OAuth 2.1 §4.1.2.1: an error for http://127.0.0.1:99999/cb is the 400 page, not a 500', async () => {
      const { params } = f.request({ redirect_uri: 'http://127.0.0.1:99999/cb', response_type: 'token' })
      const res = await f.authorize(params)
      assert.equal(res.status, 400, res.text)
      assert.equal(res.location, null)
    })

    it('RFC 8252 §7.3: a valid request to http://127.0.0.1:99999/cb is refused, never kept for consent', async () => {
      const { params } = f.request({ redirect_uri: 'http://127.0.0.1:99999/cb' })
      const res = await f.authorize(params)
      assert.equal(res.status, 400, `${res.status} ${res.location}`)
      const mandates = await f.node.call('GET', '/api/v1/mandates?agent=scribe')
      assert.equal(mandates.status, 200, mandates.text)
      assert.deepEqual(mandates.json.items, [])
    })
  })
}
