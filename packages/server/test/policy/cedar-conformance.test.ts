// The compiled Cedar evaluator against the shared part of Cedar's integration-test corpus
// (../shared/conformance/cedar): every request must give the expected decision, determining policies and erroring
// policies, those holding whole numbers beyond 2^53 included (cedar-wasm's JavaScript interface cannot run them).
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { CEDAR_EXTENSIONS } from '../../src/policy/compiled/evaluator.ts'
import { runCorpusPath } from './cedar-corpus.ts'

const here = dirname(fileURLToPath(import.meta.url))

/** `cedar/` in TEST_CONFORMANCE_DIR, by default in the `shared/conformance` directory beside the checkout. */
const CORPUS = join(
  process.env.TEST_CONFORMANCE_DIR
    ? resolve(process.env.TEST_CONFORMANCE_DIR, 'cedar')
    : join(here, '../../../../../shared/conformance/cedar'),
  'corpus-tests-part.tar.gz',
)

it('the Cedar corpus: all 31,656 requests give Cedar’s decision, determining and erroring policies', () => {
  if (!existsSync(CORPUS))
    assert.fail(
      `the Cedar corpus is not at ${CORPUS}. It is read from ../shared/conformance/cedar beside the checkout, or ` +
        'from cedar/ in TEST_CONFORMANCE_DIR: run `TEST_CONFORMANCE_DIR=/path/to/conformance npm test`.',
    )
  const result = runCorpusPath(CORPUS, CEDAR_EXTENSIONS)
  assert.deepEqual(result.failures, [])
  assert.equal(result.failed, 0)
  assert.equal(result.passed, 31656)
  // Requests whose entities or context hold integers that JSON.parse would round: all exact here.
  assert.ok(result.bigIntegers.requests >= 76, `${result.bigIntegers.requests} requests with big integers`)
  assert.equal(result.bigIntegers.passed, result.bigIntegers.requests)
})
