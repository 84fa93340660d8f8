// Attack finding (issue 10, low): Cedar's Long is 64-bit and the compiled evaluator keeps whole numbers exact from
// policy text (README: "It gives Cedar's answers exactly (64-bit integers, ...)"), but the HTTP edge still parses bodies
// with JSON.parse (src/http/json-body.ts), so no request or entity can carry a Long beyond 2^53: an AuthZEN context
// value 9007199254740993 (2^53 + 1) is a 400 saying "must be a whole number (Cedar has no fractions)", which it is, and
// the admin API refuses the entity attribute 9223372036854775807 (the largest Long) with "must be Long". A policy may
// be saved comparing with such a literal, and no request can ever match it. The strict parser that keeps them
// (src/policy/compiled/json.ts) is used by the corpus runner only. Nothing is decided wrongly (the refusals fail
// closed); valid 64-bit identifiers (account numbers, snowflake ids) cannot be decided on.
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

  it('POST /access/v1/evaluation decides context.n = 9007199254740993 exactly: allowed, and 9007199254740992 denied', async () => {
    const exact = await evaluate('9007199254740993')
    assert.equal(exact.status, 200, exact.text)
    assert.equal(JSON.parse(exact.text).decision, true, exact.text)
    // JSON.parse would read both as 9007199254740992: only an exact parser tells them apart.
    const neighbour = await evaluate('9007199254740992')
    assert.equal(neighbour.status, 200, neighbour.text)
    assert.equal(JSON.parse(neighbour.text).decision, false, neighbour.text)
  })

  it('a Long beyond 64 bits is still a 400 naming the field (as today)', async () => {
    const over = await evaluate('9223372036854775808')
    assert.equal(over.status, 400, over.text)
    assert.equal(JSON.parse(over.text).error, 'validation_failed')
  })

  it('PUT /api/v1/entities stores the largest Long, 9223372036854775807, and reads it back exactly', async () => {
    const put = await test.call('PUT', '/api/v1/entities/acct:max', {
      raw: '{"attributes":{"n":9223372036854775807}}',
    })
    assert.equal(put.status, 201, put.text)
    const read = await test.call('GET', '/api/v1/entities/acct:max')
    assert.equal(read.status, 200)
    assert.match(read.text, /"n":9223372036854775807[,}]/)
  })
})
