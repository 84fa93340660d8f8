// The request body parser: nesting beyond the limit and `__proto__` members are refused however the text spells them,
// and a parsed body is vouched storable only when its text cannot hold U+0000, a lone surrogate or a number JSON
// cannot write (findUnstorable agrees with every verdict).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { findUnstorable } from '../../src/audit/storable.ts'
import { ValidationFailed } from '../../src/errors/mandate-error.ts'
import { MAX_JSON_DEPTH, parsedStorable, parseJsonBody } from '../../src/http/json-body.ts'

function refusal(text: string): { path: string; message: string } {
  try {
    parseJsonBody(text)
  } catch (error) {
    assert.ok(error instanceof ValidationFailed)
    const [field] = error.fields
    assert.ok(field)
    return field
  }
  assert.fail(`${text} was accepted`)
}

describe('parseJsonBody', () => {
  it('refuses a __proto__ member wherever it is, written plainly or with escapes', () => {
    const cases: Array<[string, string]> = [
      ['{"__proto__":{"a":1}}', '/__proto__'],
      ['{"a":{"b":[1,{"__proto__":null}]}}', '/a/b/1/__proto__'],
      ['{"\\u005f_proto__":{}}', '/__proto__'],
      ['{"x":"\\"","__pro\\u0074o__":1}', '/__proto__'],
      ['[{"a/b~c":{"__proto__":1}}]', '/0/a~1b~0c/__proto__'],
    ]
    for (const [text, path] of cases)
      assert.deepEqual(refusal(text), { path, message: 'is not a known field' }, text)
  })

  it('accepts __proto__ as a value and other keys that merely contain it', () => {
    assert.deepEqual(parseJsonBody('{"k":"__proto__","__proto__x":1}'), { k: '__proto__', __proto__x: 1 })
    assert.deepEqual(parseJsonBody('{"k":"\\u005f_proto__"}'), { k: '__proto__' })
  })

  it('refuses nesting beyond the limit, with or without escapes, and ignores brackets inside strings', () => {
    const deep = `${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`
    assert.match(refusal(deep).message, /nested deeper/)
    assert.match(refusal(`{"a":"\\"",${deep.slice(1)}`).message, /nested deeper/)
    const ok = `${'['.repeat(MAX_JSON_DEPTH - 1)}${']'.repeat(MAX_JSON_DEPTH - 1)}`
    assert.deepEqual(
      (parseJsonBody(`{"s":"${'['.repeat(100)}","t":${ok}}`) as { s: string }).s,
      '['.repeat(100),
    )
    assert.deepEqual(parseJsonBody(`{"s":"\\"${'{'.repeat(100)}"}`), { s: `"${'{'.repeat(100)}` })
  })

  it('refuses text that is not JSON, and answers undefined for no text', () => {
    assert.equal(refusal('{"a":').message, 'is not valid JSON')
    assert.equal(refusal('{"a":"unterminated').message, 'is not valid JSON')
    assert.equal(parseJsonBody(''), undefined)
  })

  it('vouches for a body only when findUnstorable finds nothing in it', () => {
    const texts = [
      '{"subject":{"type":"agent","id":"3e4f-9E10"},"n":[1,-2,3.25,true,false,null]}',
      '{"a":"\\u0000"}',
      '{"a":"\\ud800"}',
      '{"\\u0000":1}',
      '{"a":1e400}',
      '{"a":-1E+400}',
      '{"a":1e2}',
      `{"a":${'9'.repeat(400)}}`,
      `{"a":${'9'.repeat(300)}}`,
      '{"a":"\\n"}',
      '[1,2,{"b":"é 😀"}]',
    ]
    let vouched = 0
    for (const text of texts) {
      const value = parseJsonBody(text)
      if (parsedStorable(value)) {
        vouched++
        assert.equal(findUnstorable(value), undefined, text)
      }
    }
    // The plain ones are vouched for; escapes, exponents and long numbers are left to findUnstorable.
    assert.equal(vouched, 3)
    assert.equal(parsedStorable(parseJsonBody('{"a":1e400}')), false)
    assert.deepEqual(findUnstorable(parseJsonBody('{"a":1e400}')), {
      path: '/a',
      message: 'must be a finite number',
    })
    assert.equal(parsedStorable({ a: 1 }), false)
  })
})
