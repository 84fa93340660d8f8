// Canonical JSON as the audit chain hashes it (RFC 8785 ordering and number forms).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { canonicalFields } from '../../src/audit/audit-log.ts'
import { canonicalJson } from '../../src/audit/canonical-json.ts'

describe('canonicalJson', () => {
  it('RFC 8785 §3.2.3: sorts keys by UTF-16 code units, at every depth', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } }),
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    )
    // "\u20ac" (€) sorts after "\r" and before the surrogate pair of 😀, as in the RFC's example.
    assert.equal(
      canonicalJson({ '\u20ac': 1, '\r': 2, '\ud83d\ude00': 3, '1': 4 }),
      '{"\\r":2,"1":4,"€":1,"😀":3}',
    )
  })

  it('RFC 8785 §3.2.2.3: serializes numbers like ECMAScript', () => {
    assert.equal(
      // The RFC's example value has more digits than a double keeps, so it is parsed as JSON, as it would arrive.
      canonicalJson(JSON.parse('[1e21, 1e-7, -0, 333333333.33333329, 4.5, 2e-3]')),
      '[1e+21,1e-7,0,333333333.3333333,4.5,0.002]',
    )
    assert.throws(() => canonicalJson(Number.NaN), TypeError)
    assert.throws(() => canonicalJson({ a: Number.POSITIVE_INFINITY }), TypeError)
  })

  it('drops undefined members and gives equal values equal text', () => {
    assert.equal(canonicalJson({ a: undefined, b: 'x' }), '{"b":"x"}')
    assert.equal(canonicalJson({ x: 1, y: [true, 'a'] }), canonicalJson({ y: [true, 'a'], x: 1 }))
  })

  it('an event is hashed over the same text: canonicalFields (keys sorted once) equals canonicalJson', () => {
    const event = {
      seq: 7,
      id: 'b0c5f1d2-1111-4222-8333-444455556666',
      time: '2026-12-01T02:00:00.000Z',
      type: 'policy.decision',
      outcome: 'deny' as const,
      actors: [{ kind: 'agent' as const, id: 'bot-\u20ac' }],
      subjects: ['agent:bot-\u20ac', 'document:1'],
      mode: null,
      action: 'read',
      resource: 'document:1',
      reason: null,
      request_id: 'req-1',
      traceparent: null,
      details: { z: [1, { b: 2, a: '\ud83d\ude00' }], '\r': true, A: -0, '1': 1e21 },
    }
    assert.equal(canonicalFields(event), canonicalJson(event))
    assert.equal(canonicalFields({ ...event, details: null }), canonicalJson({ ...event, details: null }))
    // A field a caller left out is dropped by both, as canonicalJson drops undefined members.
    const partial = { ...event, type: undefined as unknown as string }
    assert.equal(canonicalFields(partial), canonicalJson(partial))
  })
})
