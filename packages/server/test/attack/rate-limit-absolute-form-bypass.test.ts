// Attack finding: the failed-authentication budget (MANDATE_AUTH_FAILURE_BURST) is applied by looking at the
// request-target's path prefix, but HTTP/1.1 also allows the absolute form (`GET http://host/api/v1/agents`,
// RFC 9112 §3.2.2), which the node routes all the same. A source past its burst keeps guessing admin tokens, PEP keys
// and client credentials at introspection without ever getting 429 (docs/security.md: "an address that has spent it
// gets 429 with Retry-After at the OAuth endpoints, AuthZEN and the admin API before any work is done").
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'

/** Sends one request whose request-target is given verbatim (origin or absolute form). */
function send(
  node: TestNode,
  target: string,
  options: { method: string; headers: Record<string, string>; body?: string },
): Promise<number> {
  const url = new URL(node.node.url)
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method: options.method, path: target, headers: options.headers },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

interface Surface {
  name: string
  path: string
  method: string
  headers: Record<string, string>
  body?: string
}

const SURFACES: Surface[] = [
  {
    name: 'the admin API',
    path: '/api/v1/agents',
    method: 'GET',
    headers: { authorization: 'Bearer mnd_adm_guess' },
  },
  {
    name: 'AuthZEN',
    path: '/access/v1/evaluation',
    method: 'POST',
    headers: { authorization: 'Bearer mnd_pep_guess', 'content-type': 'application/json' },
    body: '{}',
  },
  {
    name: 'introspection',
    path: '/oauth/introspect',
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from('bot:guess').toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'token=x',
  },
]

for (const kind of storeKinds) {
  describe(`the failure budget and the absolute request-target (${kind.name})`, () => {
    let store: TestStore
    let test: TestNode

    before(async () => {
      store = kind.create()
      // A budget of 3 that does not refill during the test.
      test = await startTestNode(store, { authFailureBurst: 3, authFailureRefillPerSecond: 0.001 })
    })
    after(async () => {
      await test?.close()
      await store?.drop()
    })

    for (const surface of SURFACES)
      it(`a source past its burst is not let through at ${surface.name} by writing the request-target in absolute form`, async () => {
        // One budget per source across surfaces: four failures here leave the source over it in any test order.
        for (let i = 0; i < 4; i++) await send(test, surface.path, surface)
        assert.equal(await send(test, surface.path, surface), 429, 'the origin form is limited')
        const absolute = `${test.node.url}${surface.path}`
        const answers: number[] = []
        for (let i = 0; i < 5; i++) answers.push(await send(test, absolute, surface))
        // Limited (429), or refused as a request-target the node does not serve: never another guess checked (401).
        assert.ok(
          answers.every((status) => status === 429 || status === 400),
          `the absolute form must not check more guesses: ${answers.join(', ')}`,
        )
      })
  })
}
