// Whole numbers beyond ±2^53 at the HTTP edge (issue 10 attack pass). Cedar's Long is 64-bit and policy text keeps
// such literals exact, but request bodies and entity attributes are JSON numbers parsed by JSON.parse, which would round
// 9007199254740993 to 9007199254740992. The edge refuses them with a 400 naming the field (README, Policies): nothing is
// ever decided or stored on a rounded number. Identifiers of that size travel as strings.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { pepKey } from '../policy/authzen-fixture.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'

describe('Longs beyond 2^53 within 64 bits at the HTTP edge (issue 10)', () => {
  let store: TestStore
  let test: TestNode
  let key: string

  before(async () => {
    store = sqliteStore()
    test = await startTestNode(store)
    for (const [path, body] of [
      [
        '/api/v1/entity-types/acct',
        {
          principal: false,
          attributes: { n: { type: 'Long', required: false } },
          actions: ['read'],
          context: { n: { type: 'Long', required: false } },
        },
      ],
      ['/api/v1/entity-types/user', { principal: true, attributes: {}, actions: [] }],
      [
        '/api/v1/policies/p',
        {
          policies:
            '@id("exact") permit (principal is user, action == Action::"read", resource is acct) when { context has n && context.n == 9007199254740993 };',
        },
      ],
    ] as const) {
      const res = await test.call('PUT', path, { body })
      assert.equal(res.status, 201, `${path}: ${res.text}`)
    }
    key = await pepKey(test)
  })
  after(async () => {
    await test?.close()
    await store?.drop()
  })

  const evaluate = (n: string) =>
    fetch(`${test.node.url}/access/v1/evaluation`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: `{"subject":{"type":"user","id":"u"},"action":{"name":"read"},"resource":{"type":"acct","id":"a"},"context":{"n":${n}}}`,
    }).then(async (res) => ({ status: res.status, text: await res.text() }))

  it('POST /access/v1/evaluation refuses context.n = 9007199254740993 with a 400 naming the field, never rounding it', async () => {
    // JSON.parse would read it as 9007199254740992: deciding on that would be deciding on another number.
    for (const n of ['9007199254740993', '-9007199254740993']) {
      const answer = await evaluate(n)
      assert.equal(answer.status, 400, answer.text)
      assert.equal(JSON.parse(answer.text).error, 'validation_failed')
      assert.match(answer.text, /context\.n is beyond ±2\^53/)
    }
    // Within ±2^53 the same request is decided (the policy's 64-bit literal is exact; this value does not match it).
    const safe = await evaluate('9007199254740991')
    assert.equal(safe.status, 200, safe.text)
    assert.equal(JSON.parse(safe.text).decision, false, safe.text)
  })

  it('a Long beyond 64 bits is still a 400 naming the field (as today)', async () => {
    const over = await evaluate('9223372036854775808')
    assert.equal(over.status, 400, over.text)
    assert.equal(JSON.parse(over.text).error, 'validation_failed')
  })

  it('PUT /api/v1/entities refuses the largest Long, 9223372036854775807, with a field error instead of rounding it', async () => {
    const put = await test.call('PUT', '/api/v1/entities/acct:max', {
      raw: '{"attributes":{"n":9223372036854775807}}',
    })
    assert.equal(put.status, 400, put.text)
    assert.match(put.text, /attributes\/n/)
    const read = await test.call('GET', '/api/v1/entities/acct:max')
    assert.equal(read.status, 404, 'nothing was stored')
  })
})
