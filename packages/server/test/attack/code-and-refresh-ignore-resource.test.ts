// RFC 8707 §2.2: at the token endpoint, a `resource` names the audience the client wants; one the grant does not
// cover is `invalid_target`. The authorization_code and refresh_token grants ignore it: asked for
// https://crm.example.com/ (or an unregistered resource), they answer 200 with a token whose audience is the grant's
// https://tickets.example.com/, so the client is told it got what it asked while it did not. (The CIBA grant refuses
// a resource outright: "the resource is fixed by the approval".) A resource other than the grant's must be refused.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type ConsentFixture, REDIRECT, startConsentFixture } from '../oauth/consent-fixture.ts'
import { storeKinds, type TestStore } from '../support/harness.ts'

for (const kind of storeKinds) {
  describe(`resource at code redemption and refresh (${kind.name})`, () => {
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
    const scribe = () => ({
      authorization: `Basic ${Buffer.from(`scribe:${f.scribeSecret}`).toString('base64')}`,
    })
    const codeFor = async () => {
      const { params, verifier } = f.request()
      const url = await f.consent(params)
      return { code: url.searchParams.get('code') as string, verifier }
    }

    it('RFC 8707 §2.2: a code redeemed for another resource is invalid_target', async () => {
      const { code, verifier } = await codeFor()
      const res = await f.token(
        {
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT,
          code_verifier: verifier,
          resource: 'https://crm.example.com/',
        },
        scribe(),
      )
      assert.equal(res.status, 400, JSON.stringify(res.json))
      assert.equal(res.json.error, 'invalid_target')
    })

    it('RFC 8707 §2.2: a refresh for another resource is invalid_target', async () => {
      const { code, verifier } = await codeFor()
      const first = await f.token(
        { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier },
        scribe(),
      )
      assert.equal(first.status, 200, JSON.stringify(first.json))
      const res = await f.token(
        {
          grant_type: 'refresh_token',
          refresh_token: String(first.json.refresh_token),
          resource: 'https://crm.example.com/',
        },
        scribe(),
      )
      assert.equal(res.status, 400, JSON.stringify(res.json))
      assert.equal(res.json.error, 'invalid_target')
    })
  })
}
