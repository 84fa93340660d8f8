// What can be stored exactly as it is hashed: the first string (value or key) or number that cannot, and where it is
// as a JSON Pointer. The walk builds no path unless something fails; the paths and messages are those callers show.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { findUnstorable } from '../../src/audit/storable.ts'

describe('findUnstorable', () => {
  it('finds nothing in storable values, however nested', () => {
    const value = { a: [1, 'two', { three: null, four: true }], 'x/y~z': { '': 0.5 }, nested: [[[['deep']]]] }
    assert.equal(findUnstorable(value), undefined)
    assert.equal(findUnstorable('plain'), undefined)
    assert.equal(findUnstorable(42), undefined)
    assert.equal(findUnstorable(null), undefined)
    assert.equal(findUnstorable([]), undefined)
  })

  it('names the value that fails, as a JSON Pointer, with what is wrong with it', () => {
    assert.deepEqual(findUnstorable({ subject: { id: 'a\u0000b' } }), {
      path: '/subject/id',
      message: 'must not contain U+0000 (NUL)',
    })
    assert.deepEqual(findUnstorable({ list: [1, 2, { lone: '\udc00' }] }), {
      path: '/list/2/lone',
      message: 'must not contain a lone UTF-16 surrogate (invalid Unicode)',
    })
    assert.deepEqual(findUnstorable({ n: [Number.POSITIVE_INFINITY] }), {
      path: '/n/0',
      message: 'must be a finite number',
    })
    assert.deepEqual(findUnstorable('\u0000'), { path: '/', message: 'must not contain U+0000 (NUL)' })
    assert.deepEqual(findUnstorable(Number.NaN), { path: '/', message: 'must be a finite number' })
  })

  it('checks keys too, and escapes the pointer (RFC 6901: ~0, ~1; control characters and surrogates as \\u)', () => {
    assert.deepEqual(findUnstorable({ 'a/b': { 'c~d': { 'k\u0000': 1 } } }), {
      path: '/a~1b/c~0d/k\\u0000',
      message: 'must not contain U+0000 (NUL)',
    })
    assert.deepEqual(findUnstorable({ ok: 1, '\ud800': 'fine' }), {
      path: '/\\ud800',
      message: 'must not contain a lone UTF-16 surrogate (invalid Unicode)',
    })
  })

  it('reports the first problem in key order, under the given path prefix', () => {
    assert.deepEqual(findUnstorable({ b: '\u0000', a: Number.NaN }, '/details'), {
      path: '/details/b',
      message: 'must not contain U+0000 (NUL)',
    })
  })

  it('refuses a value nested too deeply rather than walking it', () => {
    let deep: unknown = 'leaf'
    for (let i = 0; i < 70; i++) deep = { d: deep }
    const problem = findUnstorable(deep)
    assert.equal(problem?.message, 'is nested too deeply')
    assert.equal(problem?.path, '/d'.repeat(65))
  })
})
