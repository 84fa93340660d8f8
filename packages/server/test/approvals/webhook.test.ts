// The approval webhook: a receiver on loopback gets each new approval request, signed, retried until it answers 2xx,
// and never a secret.
import assert from 'node:assert/strict'
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { ConfigError } from '../../src/config/load.ts'
import { type OAuthFixture, RESOURCE, startOAuthFixture } from '../oauth/oauth-fixture.ts'
import { sqliteStore, type TestStore, testConfig } from '../support/harness.ts'

const SECRET = randomBytes(32).toString('base64url')

interface Delivery {
  headers: IncomingHttpHeaders
  body: string
}

// A receiver that fails the first `failures` deliveries of each approval with 503, then answers 204.
function receiver(failures: number) {
  const deliveries: Delivery[] = []
  const seen = new Map<string, number>()
  const server: Server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => {
      body += chunk
    })
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body })
      const id = String(req.headers['mandate-delivery'])
      const count = (seen.get(id) ?? 0) + 1
      seen.set(id, count)
      res.statusCode = count <= failures ? 503 : 204
      res.end()
    })
  })
  return {
    deliveries,
    server,
    async listen(): Promise<string> {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/approvals`
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

// What a receiver does (docs/delegation.md): recompute the HMAC over "<t>.<raw body>" and compare in constant time.
function verifies(delivery: Delivery, secret: string): boolean {
  const header = String(delivery.headers['mandate-signature'])
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header)
  if (!match) return false
  const expected = createHmac('sha256', secret).update(`${match[1]}.${delivery.body}`).digest()
  return timingSafeEqual(expected, Buffer.from(match[2] ?? '', 'hex'))
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  assert.fail(`timed out waiting for ${what}`)
}

describe('approvals: the webhook', () => {
  let store: TestStore
  let f: OAuthFixture
  const flaky = receiver(2)

  before(async () => {
    store = sqliteStore()
    const url = await flaky.listen()
    f = await startOAuthFixture(store, {
      approvalWebhookUrl: url,
      approvalWebhookSecret: SECRET,
      approvalWebhookRetryMs: 20,
      approvalWebhookAttempts: 4,
    })
  })
  after(async () => {
    await f.close()
    await flaky.close()
    await store.drop()
  })

  const auditOf = async (type: string) =>
    (await f.node.call('GET', `/api/v1/audit/events?type=${type}&limit=500`)).json.items as Array<
      Record<string, unknown> & { details: Record<string, unknown> }
    >

  it('a new approval is delivered signed, retried with backoff until 2xx, and recorded', async () => {
    const started = await fetch(`${f.issuer}/oauth/bc-authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: 'secret-bot',
        client_secret: f.secrets['secret-bot'] ?? '',
        scope: 'tickets:read',
        resource: RESOURCE,
        binding_message: 'Read ticket 7',
      }),
    })
    const { auth_req_id: id } = (await started.json()) as { auth_req_id: string }
    await until(() => flaky.deliveries.length >= 3, 'three tries')
    const tries = flaky.deliveries.slice(0, 3)
    assert.deepEqual(
      tries.map((d) => d.headers['mandate-delivery-attempt']),
      ['1', '2', '3'],
    )
    assert.equal(
      new Set(tries.map((d) => d.headers['mandate-delivery'])).size,
      1,
      'one delivery id across retries',
    )
    for (const delivery of tries) {
      assert.equal(delivery.headers['content-type'], 'application/json')
      assert.ok(verifies(delivery, SECRET), 'the signature verifies with the shared secret')
      assert.ok(!verifies(delivery, `${SECRET}x`), 'and with no other')
    }
    const body = JSON.parse(tries[0]?.body ?? '{}')
    assert.equal(body.type, 'approval.pending')
    assert.equal(body.approval.id, id)
    assert.equal(body.approval.action.binding_message, 'Read ticket 7')
    assert.deepEqual(body.approval.action.approver, {
      rule: 'sponsor',
      kind: 'human',
      id: 'alice@example.com',
    })
    assert.equal(body.approval_url, `${f.issuer}/approvals/${id}`)
    // Never a secret: not the webhook key, the client's secret or the admin token.
    for (const secret of [SECRET, f.secrets['secret-bot'] ?? '', f.node.token])
      assert.ok(!tries.some((d) => d.body.includes(secret) || JSON.stringify(d.headers).includes(secret)))
    await until(
      async () => (await auditOf('approval.notify')).some((r) => r.details.approval_id === id),
      'the delivery record',
    )
    const record = (await auditOf('approval.notify')).find((r) => r.details.approval_id === id)
    assert.equal(record?.outcome, 'success')
    assert.equal(record?.details.attempts, 3)
  })
})

describe('approvals: webhook configuration', () => {
  it('a webhook URL without its secret (or a short secret) stops start-up, naming the setting', () => {
    const store = sqliteStore()
    try {
      assert.throws(
        () => testConfig(store, { approvalWebhookUrl: 'http://127.0.0.1:9/hook' }),
        (error: unknown) =>
          error instanceof ConfigError && /MANDATE_APPROVAL_WEBHOOK_SECRET/.test(String(error.message)),
      )
      assert.throws(
        () =>
          testConfig(store, {
            approvalWebhookUrl: 'http://127.0.0.1:9/hook',
            approvalWebhookSecret: 'short',
          }),
        ConfigError,
      )
    } finally {
      void store.drop()
    }
  })
})
