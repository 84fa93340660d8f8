// `devIdp: auto` and `demoData: auto` are meant for a developer's machine: "auto runs it only with the embedded
// SQLite store on a loopback address". The address checked is the bind address (`host`, 127.0.0.1 by default), not the
// issuer: a production node on SQLite behind a TLS reverse proxy (bound to loopback, issuer https://mandate.example.com,
// the defaults otherwise) seeds the demo humans and their login IdP, and runs the password-less development IdP at
// {issuer}/dev-idp, so anyone who reaches the public URL logs in as a demo human. `auto` must not run the development
// IdP (nor seed the login to it) when the issuer is not a loopback URL.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'

for (const kind of storeKinds) {
  describe(`development IdP on auto with a public issuer (${kind.name})`, () => {
    let store: TestStore
    let t: TestNode
    before(async () => {
      store = kind.create()
      t = await startTestNode(store, {
        issuer: 'https://mandate.example.com',
        host: '127.0.0.1',
        devIdp: 'auto',
        demoData: 'auto',
      })
    })
    after(async () => {
      await t?.close()
      await store?.drop()
    })

    it('does not run the development IdP behind a proxy: /dev-idp is 404 and /login offers no password-less IdP', async () => {
      assert.equal(t.node.devIdp(), undefined, 'the development IdP is not running')
      const discovery = await fetch(`${t.node.url}/dev-idp/.well-known/openid-configuration`)
      assert.equal(discovery.status, 404)
      const login = await fetch(`${t.node.url}/login`, { redirect: 'manual' })
      const location = login.headers.get('location') ?? ''
      assert.ok(!location.includes('/dev-idp'), `login sends to ${location}`)
    })
  })
}
