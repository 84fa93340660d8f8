// Attack finding: the request log line's `url` is the raw request-target minus its query string. In absolute form
// (RFC 9112 §3.2.2, what an HTTP client sends through a forward proxy) that keeps the scheme, the host and any userinfo,
// so `http://user:password@host/...` writes the password into the log at `info`. docs/security.md: "Request log
// lines carry the request id, method, path, route, status and duration only".
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import { type MandateNode, startNode } from '../../src/main.ts'
import { storeKinds, type TestStore, testConfig } from '../support/harness.ts'

function sendRaw(url: string, target: string, headers: Record<string, string>): Promise<number> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, method: 'GET', path: target, headers }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

for (const kind of storeKinds) {
  describe(`request log lines and absolute request-targets (${kind.name})`, () => {
    let store: TestStore
    let node: MandateNode
    let logs = ''

    before(async () => {
      store = kind.create()
      const sink = new Writable({
        write(chunk, _encoding, done) {
          logs += String(chunk)
          done()
        },
      })
      node = await startNode(testConfig(store, { logLevel: 'trace' }), {
        logger: pino({ level: 'trace' }, sink),
      })
    })
    after(async () => {
      await node?.close()
      await store?.drop()
    })

    it('a password in the userinfo of an absolute-form request-target is not written to the log', async () => {
      const canary = `canary${randomBytes(12).toString('hex')}`
      await sendRaw(node.url, `http://ops:${canary}@127.0.0.1/api/v1/agents`, {
        authorization: `Bearer ${String(node.config.bootstrapToken)}`,
      })
      await sendRaw(node.url, `http://ops:${canary}@127.0.0.1/healthz`, {})
      assert.match(logs, /"msg":"request"/, 'request lines were logged')
      assert.ok(!logs.includes(canary), 'the userinfo password appears in the log')
    })
  })
}
