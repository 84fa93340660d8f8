// The consent page's error handler answers 400 only for errors with a 4xx `statusCode` (Fastify's own); the edge
// check that refuses U+0000 and lone surrogates in every input (http/app.ts, preValidation) throws ValidationFailed,
// which has none, so the page answers 500 "Something went wrong" and logs an unexpected error. A NUL in the query or
// the form is bad input: a 400 page, never a 500.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'
import { CookieJar, loginAtDevIdp, send } from '../support/web-login.ts'

for (const kind of storeKinds) {
  describe(`consent page with a NUL in its input (${kind.name})`, () => {
    let store: TestStore
    let t: TestNode
    const jar = new CookieJar()
    let csrf = ''
    before(async () => {
      store = kind.create()
      t = await startTestNode(store, { demoData: 'on', devIdp: 'on' })
      await loginAtDevIdp(jar, t.node.url, 'u-1001')
      const page = await (await send(jar, `${t.node.url}/me/mandates`)).text()
      csrf = /name="csrf_token" value="([^"]+)"/.exec(page)?.[1] ?? ''
      assert.ok(csrf, 'the page holds a CSRF token')
    })
    after(async () => {
      await t?.close()
      await store?.drop()
    })

    it('GET /consent?request=%00 is a 400 page', async () => {
      const res = await send(jar, `${t.node.url}/consent?request=%00`)
      assert.equal(res.status, 400, await res.text())
    })

    it('POST /consent with a NUL in actions is a 400 page', async () => {
      const res = await send(jar, `${t.node.url}/consent`, {
        form: {
          csrf_token: csrf,
          request: 'a'.repeat(43),
          decision: 'approve',
          actions: 'tickets:read\u0000',
        },
        headers: { origin: t.node.url },
      })
      assert.equal(res.status, 400, await res.text())
    })
  })
}
