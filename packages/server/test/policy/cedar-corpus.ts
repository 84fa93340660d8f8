// Runs a folder of Cedar's integration-test corpus (see ../shared/conformance/cedar/README.md for the format, or a
// .tar.gz of it) against the compiled evaluator: every request of every test must give the expected decision, the
// same determining policies and the same erroring policies. Run it with `npm run conformance:cedar -- <folder>`.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { policySetTextToParts, schemaToJson } from '../../src/policy/cedar.ts'
import { CEDAR_EXTENSIONS, CompiledEvaluator } from '../../src/policy/compiled/evaluator.ts'
import { type ExactJson, parseJson } from '../../src/policy/compiled/json.ts'
import {
  EntityMap,
  type Extensions,
  recordFromJson,
  uidFromJson,
} from '../../src/policy/compiled/json-values.ts'
import { type EntityUid, entityUid } from '../../src/policy/compiled/values.ts'

/** What a corpus run found. */
export interface CorpusResult {
  passed: number
  failed: number
  /** The first failures, described (at most `maxFailures`). */
  failures: string[]
  /** How many requests held whole numbers beyond 2^53, and how many of those passed. */
  bigIntegers: { requests: number; passed: number }
}

interface CorpusRequest {
  description: string
  principal: ExactJson
  action: ExactJson
  resource: ExactJson
  context: ExactJson
  decision: 'allow' | 'deny'
  reason: string[]
  errors: string[]
}

interface CorpusTest {
  policies: string
  entities: string
  schema: string
  requests: CorpusRequest[]
}

/** The folder that holds `corpus-tests/`, and the test files in it. */
function testFiles(folder: string): { root: string; files: string[] } {
  const inner = existsSync(join(folder, 'corpus-tests')) ? join(folder, 'corpus-tests') : folder
  const files = readdirSync(inner)
    .filter((name) => name.endsWith('.json') && !name.endsWith('.entities.json'))
    .sort()
    .map((name) => join(inner, name))
  return { root: dirname(inner), files }
}

/** The action groups a Cedar schema declares: each action's parents. */
function actionGroups(schemaText: string): Map<EntityUid, EntityUid[]> {
  const groups = new Map<EntityUid, EntityUid[]>()
  const answer = schemaToJson(schemaText)
  if (answer.type === 'failure')
    throw new Error(`the schema does not parse: ${answer.errors.map((e) => e.message).join('; ')}`)
  for (const [namespace, fragment] of Object.entries(answer.json)) {
    const actionType = namespace ? `${namespace}::Action` : 'Action'
    for (const [name, action] of Object.entries(fragment.actions ?? {})) {
      const parents = (action.memberOf ?? []).map((parent) => {
        const type = parent.type === undefined ? actionType : parent.type
        return entityUid(namespace && !type.includes('::') ? `${namespace}::${type}` : type, parent.id)
      })
      groups.set(entityUid(actionType, name), parents)
    }
  }
  return groups
}

function hasBigInteger(json: ExactJson): boolean {
  if (typeof json === 'bigint') return true
  if (typeof json !== 'object' || json === null) return false
  return Object.values(json).some(hasBigInteger)
}

const sameIds = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().every((id, i) => id === [...b].sort()[i])

/** Runs every test of a corpus folder through the compiled evaluator. */
export function runCorpus(folder: string, extensions: Extensions, maxFailures = 10): CorpusResult {
  const result: CorpusResult = { passed: 0, failed: 0, failures: [], bigIntegers: { requests: 0, passed: 0 } }
  const fail = (count: number, why: string) => {
    result.failed += count
    if (result.failures.length < maxFailures) result.failures.push(why)
  }
  const { root, files } = testFiles(folder)
  for (const file of files) {
    const test = parseJson(readFileSync(file, 'utf8')) as unknown as CorpusTest
    const name = basename(file)
    const big = new Set(test.requests.filter((r) => hasBigInteger(r as unknown as ExactJson)))
    let evaluator: CompiledEvaluator
    let entities: EntityMap
    const entitiesText = readFileSync(join(root, test.entities), 'utf8')
    const entitiesJson = parseJson(entitiesText)
    if (hasBigInteger(entitiesJson)) for (const request of test.requests) big.add(request)
    const policyText = readFileSync(join(root, test.policies), 'utf8')
    result.bigIntegers.requests += big.size
    try {
      const parts = policySetTextToParts(policyText)
      if (parts.type === 'failure') throw new Error(parts.errors.map((e) => e.message).join('; '))
      if (parts.policy_templates.length > 0) throw new Error('templates in a corpus test are not supported')
      evaluator = new CompiledEvaluator({ extensions })
      evaluator.load(new Map(parts.policies.map((text, i) => [`policy${i}`, text])))
      if (evaluator.fallback) throw new Error(`evaluated by cedar-wasm, not compiled: ${evaluator.fallback}`)
      const schemaText = test.schema ? readFileSync(join(root, test.schema), 'utf8') : undefined
      entities = new EntityMap(
        entitiesJson as unknown[],
        extensions,
        schemaText === undefined ? undefined : actionGroups(schemaText),
      )
    } catch (error) {
      fail(test.requests.length, `${name}: ${(error as Error).message}`)
      continue
    }
    for (const request of test.requests) {
      let why: string | undefined
      try {
        const answer = evaluator.decide(
          {
            principal: uidFromJson(request.principal),
            action: uidFromJson(request.action),
            resource: uidFromJson(request.resource),
            context: recordFromJson(request.context, extensions),
          },
          entities,
        )
        const errors = answer.errors.map((e) => e.policy)
        if (
          answer.decision !== request.decision ||
          !sameIds(answer.determining, request.reason) ||
          !sameIds(errors, request.errors)
        )
          why =
            `expected ${request.decision} ${JSON.stringify(request.reason)} errors ${JSON.stringify(request.errors)}, ` +
            `got ${answer.decision} ${JSON.stringify(answer.determining)} errors ${JSON.stringify(answer.errors)}`
      } catch (error) {
        why = `threw ${(error as Error).message}`
      }
      if (why === undefined) {
        result.passed++
        if (big.has(request)) result.bigIntegers.passed++
      } else fail(1, `${name} ${request.description}: ${why}`)
    }
  }
  return result
}

/** Runs a folder, or a .tar.gz of one (unpacked to a temporary directory). */
export function runCorpusPath(path: string, extensions: Extensions, maxFailures?: number): CorpusResult {
  if (statSync(path).isDirectory()) return runCorpus(path, extensions, maxFailures)
  const dir = mkdtempSync(join(tmpdir(), 'cedar-corpus-'))
  try {
    execFileSync('tar', ['xzf', path, '-C', dir])
    return runCorpus(dir, extensions, maxFailures)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const target = process.argv[2]
  if (!target) {
    console.error('usage: npm run conformance:cedar -- <corpus folder or .tar.gz>')
    process.exit(2)
  }
  const result = runCorpusPath(resolve(process.env.INIT_CWD ?? process.cwd(), target), CEDAR_EXTENSIONS)
  for (const failure of result.failures) console.log(`FAIL ${failure}`)
  console.log(`${result.passed} passed, ${result.failed} failed`)
  console.log(
    `(${result.bigIntegers.passed} of ${result.bigIntegers.requests} requests with whole numbers beyond 2^53 passed)`,
  )
  process.exit(result.failed > 0 ? 1 : 0)
}
