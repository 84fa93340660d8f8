// Attack finding: a JSON number too large for a double (`1e400` parses to Infinity) in an admin document passes the
// JSON Schema (it is a number) and then throws in the audit log's canonical JSON, so the caller gets 500 server_error
// and the log a stack trace. docs/security.md: "every input validated ... never a 500"; bad input is a 400 naming the
// field.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'

const EC_KEY = {
  kty: 'EC',
  crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
}

for (const kind of storeKinds) {
  describe(`a number beyond a double in an admin document (${kind.name})`, () => {
    let store: TestStore
    let test: TestNode

    before(async () => {
      store = kind.create()
      test = await startTestNode(store)
      assert.equal((await test.call('PUT', '/api/v1/humans/alice', { body: {} })).status, 201)
    })
    after(async () => {
      await test?.close()
      await store?.drop()
    })

    const cases: Array<{ name: string; method: string; path: string; raw: string }> = [
      {
        name: 'a human attribute 1e400 (PUT)',
        method: 'PUT',
        path: '/api/v1/humans/bob',
        raw: '{"attributes":{"level":1e400}}',
      },
      {
        name: 'a human attribute -1e400 (POST)',
        method: 'POST',
        path: '/api/v1/humans',
        raw: '{"id":"carol","attributes":{"level":-1e400}}',
      },
      {
        name: 'an extra member 1e400 in a registered JWK',
        method: 'PUT',
        path: '/api/v1/agents/bot',
        raw: JSON.stringify({
          sponsor: 'alice',
          classification: 'autonomous',
          ceiling: ['x:read'],
          credentials: [{ type: 'jwks', jwks: { keys: [{ ...EC_KEY, extra: 0 }] } }],
        }).replace('"extra":0', '"extra":1e400'),
      },
      {
        name: 'the same attribute in a document of POST /api/v1/apply',
        method: 'POST',
        path: '/api/v1/apply',
        raw: '{"documents":[{"kind":"Human","id":"dave","attributes":{"level":1e400}}]}',
      },
    ]
    for (const c of cases)
      it(`${c.name} is a 400 validation_failed, not a 500`, async () => {
        const answer = await test.call(c.method, c.path, { raw: c.raw })
        assert.equal(answer.status, 400, answer.text)
        assert.equal(answer.json.error, 'validation_failed')
      })
  })
}
