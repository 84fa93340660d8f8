// `mandate policy validate | test | explain`: policy work before and after it is deployed. validate and test run
// offline on a scratch registry built from the documents given (the same schema and engine a node uses); explain asks
// a running node how its policies decide one request.
import { basename, dirname, resolve } from 'node:path'
import type { AdminClient, Explanation } from '@mandate/sdk'
import type { Command } from 'commander'
import { parseDocument } from 'yaml'
import type { FieldError } from '../errors/mandate-error.ts'
import type { RequestEntity } from '../policy/entities.ts'
import { type Document, describeYamlErrors, orderDocuments, parseDocuments } from './documents.ts'
import { readText } from './files.ts'
import { CliFailure, ExitCode, print } from './output.ts'
import { type CaseResult, caseName, type PolicyCase, PolicyWorkbench } from './policy-workbench.ts'

interface Helpers {
  json: () => boolean
  admin: () => AdminClient
}

/** Reads policy sources: a `.cedar` file is one policy set named after the file; anything else holds documents. */
function readPolicySources(files: readonly string[]): Document[] {
  return files.flatMap((file) => {
    const text = readText(file)
    if (file.endsWith('.cedar'))
      return [
        {
          kind: 'Policy' as const,
          id: basename(file, '.cedar'),
          body: { id: basename(file, '.cedar'), policies: text },
          source: file,
        },
      ]
    return parseDocuments(text, file)
  })
}

function readDocuments(files: readonly string[]): Document[] {
  return files.flatMap((file) => parseDocuments(readText(file), file))
}

// Writes documents in dependency order; a refused one is reported with its source and stops the command.
async function load(
  workbench: PolicyWorkbench,
  documents: readonly Document[],
): Promise<Array<{ doc: Document; problems: FieldError[] }>> {
  const refused: Array<{ doc: Document; problems: FieldError[] }> = []
  for (const doc of orderDocuments([...documents])) {
    const problems = await workbench.put(doc.kind, doc.id, doc.body)
    if (problems.length > 0) refused.push({ doc, problems })
  }
  return refused
}

function describeProblem(source: string, problem: FieldError): string {
  const where = problem.location
    ? `${source}:${problem.location.line}:${problem.location.column}`
    : `${source} ${problem.path}`
  const policy = problem.location?.policy ? ` ${problem.location.policy}:` : ''
  return `${where}:${policy} ${problem.message}${problem.help ? `\n    help: ${problem.help}` : ''}`
}

// `type:id` (split at the first colon) or a mapping with type, id and properties.
function entityOf(value: unknown, where: string): RequestEntity {
  if (typeof value === 'string' && value.includes(':')) {
    const colon = value.indexOf(':')
    return { type: value.slice(0, colon), id: value.slice(colon + 1) }
  }
  if (
    value &&
    typeof value === 'object' &&
    typeof (value as RequestEntity).type === 'string' &&
    typeof (value as RequestEntity).id === 'string'
  )
    return value as RequestEntity
  throw new CliFailure(`${where}: must be "type:id" or a mapping with type and id`, ExitCode.failed)
}

function parseCases(file: string): { documents: string[]; policies: string[]; cases: PolicyCase[] } {
  const parsed = parseDocument(readText(file), { uniqueKeys: true })
  if (parsed.errors.length > 0) throw new CliFailure(describeYamlErrors(file, parsed.errors), ExitCode.failed)
  const raw: unknown = parsed.toJS()
  const spec = (raw ?? {}) as { documents?: unknown; policies?: unknown; cases?: unknown }
  const base = dirname(file)
  const paths = (value: unknown, name: string) => {
    if (value === undefined) return []
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
      throw new CliFailure(`${file}: ${name} must be a list of file paths`, ExitCode.failed)
    return (value as string[]).map((p) => resolve(base, p))
  }
  if (!Array.isArray(spec.cases) || spec.cases.length === 0)
    throw new CliFailure(`${file}: cases must be a non-empty list`, ExitCode.failed)
  const cases = spec.cases.map((c, i) => {
    const where = `${file}: cases[${i}]`
    const item = (c ?? {}) as Record<string, unknown>
    if (typeof item.action !== 'string') throw new CliFailure(`${where}: action is required`, ExitCode.failed)
    if (!['allow', 'deny', 'approval_required'].includes(String(item.expect)))
      throw new CliFailure(`${where}: expect must be allow, deny or approval_required`, ExitCode.failed)
    if (item.mode !== undefined && item.mode !== 'autonomous' && item.mode !== 'delegated')
      throw new CliFailure(`${where}: mode must be autonomous or delegated`, ExitCode.failed)
    return {
      ...(typeof item.name === 'string' ? { name: item.name } : {}),
      principal: entityOf(item.principal, `${where}.principal`),
      action: item.action,
      resource: entityOf(item.resource, `${where}.resource`),
      ...(item.context && typeof item.context === 'object'
        ? { context: item.context as Record<string, unknown> }
        : {}),
      ...(item.mode ? { mode: item.mode as 'autonomous' | 'delegated' } : {}),
      ...(typeof item.delegator === 'string' ? { delegator: item.delegator } : {}),
      expect: item.expect as PolicyCase['expect'],
      ...(Array.isArray(item.determining) ? { determining: item.determining.map(String) } : {}),
    } satisfies PolicyCase
  })
  return { documents: paths(spec.documents, 'documents'), policies: paths(spec.policies, 'policies'), cases }
}

function caseLine(result: CaseResult): string {
  const c = result.case
  const name = caseName(c)
  const mark = result.passed ? 'ok  ' : 'FAIL'
  const gate = result.decision.gate
  const why = gate
    ? ` by the ${gate.reason} gate (${gate.message})`
    : result.decision.determining.length > 0
      ? ` by ${result.decision.determining.join(', ')}`
      : ''
  const expected = result.passed
    ? ''
    : ` (expected ${c.expect}${c.determining ? ` by ${c.determining.join(', ')}` : ''})`
  const errors = result.decision.errors.map((e) => `\n      error in ${e.policy}: ${e.message}`).join('')
  return `${mark} ${name}: ${result.decision.decision}${why}${expected}${errors}`
}

function explanationText(e: Explanation): string {
  const lines = [`decision: ${e.decision}`]
  if (e.gate) lines.push(`stopped before any policy: ${e.gate.reason} (${e.gate.message})`)
  else if (e.determining.length === 0 && e.errors.length === 0)
    lines.push('no policy applies: denied by default')
  for (const p of e.policies) lines.push(`\n${p.id} (${p.effect}):\n${p.text}`)
  if (e.obligations.maxTtlSeconds !== undefined)
    lines.push(`\ntokens capped at ${e.obligations.maxTtlSeconds} s`)
  if (e.obligations.approval) lines.push(`\nneeds the ${e.obligations.approval}'s approval`)
  for (const err of e.errors) lines.push(`\nerror in ${err.policy}: ${err.message} (an error denies)`)
  return lines.join('\n')
}

/** Registers `mandate policy ...`. */
export function registerPolicyCommands(program: Command, helpers: Helpers): void {
  const policy = program.command('policy').description('validate, test and explain Cedar policies')

  policy
    .command('validate')
    .description('check policy files against the schema the given documents generate (offline)')
    .argument(
      '<files...>',
      '.cedar files (one policy set each, named after the file) or YAML/JSON files with Policy documents',
    )
    .option(
      '-d, --documents <files...>',
      'registry documents the policies refer to: entity types, resource servers (their scopes are actions)',
    )
    .action(async (files: string[], options: { documents?: string[] }) => {
      const sources = readPolicySources(files)
      const workbench = await PolicyWorkbench.open()
      try {
        const setup = await load(workbench, readDocuments(options.documents ?? []))
        if (setup.length > 0)
          throw new CliFailure(
            setup
              .flatMap(({ doc, problems }) => problems.map((p) => describeProblem(doc.source, p)))
              .join('\n'),
            ExitCode.failed,
          )
        const refused = await load(workbench, sources)
        const problems = refused.flatMap(({ doc, problems }) =>
          problems.map((p) => ({ source: doc.source, ...p })),
        )
        const policies = sources.filter((s) => s.kind === 'Policy').length
        print(helpers.json(), { valid: problems.length === 0, policy_sets: policies, problems }, () =>
          problems.length === 0
            ? `${policies} policy set${policies === 1 ? '' : 's'} valid`
            : problems.map((p) => describeProblem(p.source, p)).join('\n'),
        )
        if (problems.length > 0) process.exitCode = ExitCode.failed
      } finally {
        await workbench.close()
      }
    })

  policy
    .command('test')
    .description(
      'run a table of requests against policies and compare the decisions (offline; non-zero exit on a mismatch)',
    )
    .argument('<cases>', 'YAML file with documents, policies and cases (see docs/policies.md)')
    .action(async (file: string) => {
      const spec = parseCases(file)
      const workbench = await PolicyWorkbench.open()
      try {
        const refused = await load(workbench, [
          ...readDocuments(spec.documents),
          ...readPolicySources(spec.policies),
        ])
        if (refused.length > 0)
          throw new CliFailure(
            refused
              .flatMap(({ doc, problems }) => problems.map((p) => describeProblem(doc.source, p)))
              .join('\n'),
            ExitCode.failed,
          )
        const results: CaseResult[] = []
        for (const c of spec.cases) results.push(await workbench.run(c))
        const failed = results.filter((r) => !r.passed).length
        print(
          helpers.json(),
          {
            passed: results.length - failed,
            failed,
            results: results.map((r) => ({ case: r.case, passed: r.passed, ...r.decision })),
          },
          () => [...results.map(caseLine), `${results.length - failed} passed, ${failed} failed`].join('\n'),
        )
        if (failed > 0) process.exitCode = ExitCode.failed
      } finally {
        await workbench.close()
      }
    })

  policy
    .command('explain')
    .description("explain how a node's policies decide one request (recorded, not enforced)")
    .requiredOption('--principal <type:id>', 'e.g. agent:support-bot')
    .requiredOption('--action <name>', 'e.g. crm:read')
    .requiredOption('--resource <type:id>', 'e.g. resource_server:crm')
    .option('--context <json>', 'request context as a JSON object')
    .option('--mode <mode>', 'autonomous or delegated: decide as the token service would')
    .option('--delegator <human>', 'for delegated mode: the human the agent acts for')
    .action(
      async (options: {
        principal: string
        action: string
        resource: string
        context?: string
        mode?: string
        delegator?: string
      }) => {
        let context: Record<string, unknown> | undefined
        if (options.context !== undefined) {
          try {
            context = JSON.parse(options.context)
          } catch {
            throw new CliFailure('--context must be a JSON object', ExitCode.usage)
          }
          if (!context || typeof context !== 'object' || Array.isArray(context))
            throw new CliFailure('--context must be a JSON object', ExitCode.usage)
        }
        if (options.mode !== undefined && options.mode !== 'autonomous' && options.mode !== 'delegated')
          throw new CliFailure('--mode must be autonomous or delegated', ExitCode.usage)
        const entity = (value: string, name: string) => {
          try {
            return entityOf(value, name)
          } catch {
            throw new CliFailure(`${name} must be type:id`, ExitCode.usage)
          }
        }
        const explanation = await helpers.admin().explainDecision({
          principal: entity(options.principal, '--principal'),
          action: options.action,
          resource: entity(options.resource, '--resource'),
          ...(context ? { context } : {}),
          ...(options.mode ? { mode: options.mode as 'autonomous' | 'delegated' } : {}),
          ...(options.delegator ? { delegator: options.delegator } : {}),
        })
        print(helpers.json(), explanation, () => explanationText(explanation))
      },
    )
}
