#!/usr/bin/env node
// Policy decision point benchmark, in-process, in one run: Mandate's compiled Cedar evaluator against cedar-wasm
// with a preparsed policy set, on the same policies and requests. Run with `npm run bench:pdp` (node --import tsx).
//
// Scenarios. A generated but realistic model, the same every run (seeded; bench/pdp-model.mjs): employees (department,
// role, level; members of projects), projects and documents (owner, department, sensitivity, tags, project; in a
// project), and five rules per action (owner; department with level and sensitivity; project membership through the
// entity hierarchy, `principal in resource.project`; a sensitivity forbid; a legal-hold or project-freeze forbid;
// every third action's department rule reads an attribute some documents lack, and errors there).
//   small   1,000 entities (600 employees, 40 projects, 360 documents), 10 actions, 50 policies
//   large   100,000 entities (60,000 employees, 4,000 projects, 36,000 documents), 100 actions, 500 policies
// Each scenario decides a stream of --requests distinct requests (employee, action, document; a fifth of them by the
// document's owner), cycled. The two sides:
//   cedar-wasm  CedarWasmEvaluator (packages/server/src/policy/evaluator.ts): the set preparsed once
//               (statefulIsAuthorized), and for each request the entity slice it needs: principal, resource, the
//               entities their attributes name, and all their ancestors. The slices are built before the clock runs,
//               so the figure is the engine alone (the most favourable baseline: a node also builds each slice).
//   compiled    Mandate's compiled evaluator (packages/server/src/policy/compiled/evaluator.ts): the set compiled to
//               JavaScript closures, every entity of the scenario held in memory with its ancestors precomputed, each
//               request given as a request object (entity references, context record), no slice, no JSON.
// Before the clock runs, both sides decide every request of the stream and must agree on the decision, the
// determining policies and the erroring policies; any mismatch fails the benchmark (exit code 1). Where the compiled
// evaluator is not in this checkout, the baseline alone is measured and the ratio is not printed.
//
// How. This process pins itself to CPU 0 (`taskset`). Per scenario: load both sides (load times printed), compare,
// warm up each side for 1 s, then --runs rounds, each running every side once: --duration/2 s of decisions back to
// back for decisions/s, then --duration/2 s timing each decision (process.hrtime) for p50 and p99. Figures are medians
// of the runs; a run in which this process had under 90% of its core is flagged CONTENDED. The ratio
// compiled/cedar-wasm names its baseline (decisions/s above 1: the compiled evaluator decides more per second;
// latency below 1: it is faster).
//
// Usage: npm run bench:pdp -- [--duration 4] [--runs 3] [--requests 4000] [--scenarios small,large] [--json]
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { CedarWasmEvaluator } from '../packages/server/src/policy/evaluator.ts'
import { median, repoRoot, SERVER_CPU } from './lib.mjs'
import { SCENARIOS, scenario } from './pdp-model.mjs'

const log = (line) => process.stderr.write(`${line}\n`)

function options() {
  let values
  try {
    ;({ values } = parseArgs({
      options: {
        duration: { type: 'string', default: '4' },
        runs: { type: 'string', default: '3' },
        requests: { type: 'string', default: '4000' },
        scenarios: { type: 'string', default: Object.keys(SCENARIOS).join(',') },
        json: { type: 'boolean', default: false },
      },
      strict: true,
    }))
  } catch (error) {
    log(error.message)
    process.exit(2)
  }
  const n = (name, min, max) => {
    const v = Number(values[name])
    if (!Number.isInteger(v) || v < min || v > max) {
      log(`--${name} must be a whole number from ${min} to ${max}`)
      process.exit(2)
    }
    return v
  }
  const scenarios = values.scenarios.split(',').map((s) => s.trim())
  for (const s of scenarios)
    if (!SCENARIOS[s]) {
      log(`unknown scenario ${s} (known: ${Object.keys(SCENARIOS).join(', ')})`)
      process.exit(2)
    }
  return {
    duration: n('duration', 1, 120),
    runs: n('runs', 1, 20),
    requests: n('requests', 100, 100000),
    scenarios,
    json: values.json,
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The two sides. Each answers { name, loadSeconds, prepare(request) -> prepared, decide(prepared) -> Evaluation }:
// `prepare` runs before the clock (building what the side is given per request), `decide` is what is timed.

function cedarWasmSide(model) {
  const t0 = process.hrtime.bigint()
  const evaluator = new CedarWasmEvaluator()
  evaluator.load(model.policies)
  const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9
  return {
    name: 'cedar-wasm',
    loadSeconds,
    prepare: (r) => ({
      principal: r.principal,
      action: r.action,
      resource: r.resource,
      context: {},
      entities: model.slice(r),
    }),
    decide: (prepared) => evaluator.evaluate(prepared),
  }
}

const COMPILED_MODULE = join(repoRoot, 'packages/server/src/policy/compiled/evaluator.ts')

/** The compiled side, or undefined when the compiled evaluator is not in this checkout. */
async function compiledSide(model) {
  if (!existsSync(COMPILED_MODULE)) return undefined
  const [{ CEDAR_EXTENSIONS, CompiledEvaluator }, { EntityMap }, values] = await Promise.all([
    import(COMPILED_MODULE),
    import('../packages/server/src/policy/compiled/json-values.ts'),
    import('../packages/server/src/policy/compiled/values.ts'),
  ])
  const t0 = process.hrtime.bigint()
  // Cedar's extensions, as a node sets it up.
  const evaluator = new CompiledEvaluator()
  const extensions = CEDAR_EXTENSIONS
  evaluator.load(model.policies)
  // A set the compiler cannot handle is evaluated by cedar-wasm: that would measure cedar-wasm twice.
  if (evaluator.fallback)
    throw new Error(`the compiled evaluator fell back to cedar-wasm for this model: ${evaluator.fallback}`)
  const entities = new EntityMap(model.entities, extensions)
  const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9
  const noContext = new values.CedarRecord(new Map())
  return {
    name: 'compiled',
    loadSeconds,
    prepare: (r) => ({
      principal: values.entityUid(r.principal.type, r.principal.id),
      action: values.entityUid('Action', r.action),
      resource: values.entityUid(r.resource.type, r.resource.id),
      context: noContext,
    }),
    decide: (prepared) => evaluator.decide(prepared, entities),
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Measurement

/** A run is contended when this process had less than this share of its core (others ran on it). */
const CONTENDED = 0.9

/**
 * Decisions back to back for `seconds`: decisions/s, and the share of the wall time this process was on its core
 * (below CONTENDED, other processes took the core and the figure is too low). The clock is read every 64 decisions.
 */
function throughput(side, prepared, seconds, offset) {
  const cpu0 = process.cpuUsage()
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(Math.round(seconds * 1e9))
  let i = 0
  let now = start
  while (now < deadline) {
    for (let k = 0; k < 64; k++) side.decide(prepared[(offset + i++) % prepared.length])
    now = process.hrtime.bigint()
  }
  const wall = Number(now - start) / 1e9
  const cpu = process.cpuUsage(cpu0)
  return { rate: i / wall, cpu: (cpu.user + cpu.system) / 1e6 / wall }
}

/** Each decision timed for `seconds`: p50 and p99 in microseconds. */
function latency(side, prepared, seconds, offset) {
  const samples = []
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9))
  let i = 0
  for (;;) {
    const t0 = process.hrtime.bigint()
    side.decide(prepared[(offset + i++) % prepared.length])
    const t1 = process.hrtime.bigint()
    samples.push(Number(t1 - t0) / 1e3)
    if (t1 >= deadline) break
  }
  const sorted = Float64Array.from(samples).sort()
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
  return { p50: pct(50), p99: pct(99) }
}

const sameList = (a, b) => a.length === b.length && a.every((x, i) => x === b[i])

/** Both sides decide every request; answers the mismatches (decision, determining or erroring policies). */
function compare(sides, requests, prepared) {
  const mismatches = []
  let allowed = 0
  let erroring = 0
  for (let i = 0; i < requests.length; i++) {
    const answers = sides.map((side, s) => side.decide(prepared[s][i]))
    const [first] = answers
    if (first.decision === 'allow') allowed++
    if (first.errors.length > 0) erroring++
    for (let s = 1; s < sides.length; s++) {
      const other = answers[s]
      const errorsOf = (e) => e.errors.map((x) => x.policy).sort()
      if (
        other.decision !== first.decision ||
        !sameList([...other.determining].sort(), [...first.determining].sort()) ||
        !sameList(errorsOf(other), errorsOf(first))
      )
        mismatches.push({
          request: requests[i],
          [sides[0].name]: first,
          [sides[s].name]: other,
        })
    }
  }
  return { mismatches, allowed: allowed / requests.length, erroring: erroring / requests.length }
}

async function benchScenario(name, opts) {
  const t0 = Date.now()
  const model = scenario(name, opts.requests)
  log(
    `[${name}] model: ${model.entityCount} entities, ${model.policies.size} policies, ${model.requests.length} requests (${Date.now() - t0} ms to generate)`,
  )
  const sides = [cedarWasmSide(model)]
  const compiled = await compiledSide(model)
  if (compiled) sides.push(compiled)
  else log(`[${name}] the compiled evaluator is not in this checkout (${COMPILED_MODULE}): baseline only`)
  for (const side of sides) log(`[${name} ${side.name}] loaded in ${(side.loadSeconds * 1000).toFixed(0)} ms`)
  const prepared = sides.map((side) => model.requests.map(side.prepare))
  const { mismatches, allowed, erroring } = compare(sides, model.requests, prepared)
  if (sides.length > 1)
    log(
      mismatches.length === 0
        ? `[${name}] ${sides.map((s) => s.name).join(' and ')} agree on all ${model.requests.length} requests (${Math.round(allowed * 100)}% allowed)`
        : `[${name}] DECISIONS DIFFER on ${mismatches.length} of ${model.requests.length} requests; first: ${JSON.stringify(mismatches[0])}`,
    )
  const runs = Object.fromEntries(sides.map((s) => [s.name, []]))
  if (mismatches.length === 0) {
    // Warm-up: the JIT (and cedar-wasm's tier-up) before anything is counted.
    sides.forEach((side, s) => {
      throughput(side, prepared[s], 1, 0)
    })
    const half = opts.duration / 2
    for (let run = 0; run < opts.runs; run++)
      sides.forEach((side, s) => {
        const offset = run * 997
        const { rate, cpu } = throughput(side, prepared[s], half, offset)
        const { p50, p99 } = latency(side, prepared[s], half, offset)
        const contended = cpu < CONTENDED
        runs[side.name].push({ rate, p50, p99, cpu, contended })
        log(
          `[${name} ${side.name}] run ${run + 1}/${opts.runs}: ${Math.round(rate)} decisions/s, p50 ${p50.toFixed(1)} us, p99 ${p99.toFixed(1)} us, cpu ${Math.round(cpu * 100)}%${contended ? ' CONTENDED' : ''}`,
        )
      })
  }
  const sideResults = Object.fromEntries(
    sides.map((side) => [
      side.name,
      {
        load_ms: side.loadSeconds * 1000,
        rate: median(runs[side.name].map((r) => r.rate)),
        p50_us: median(runs[side.name].map((r) => r.p50)),
        p99_us: median(runs[side.name].map((r) => r.p99)),
        contended_runs: runs[side.name].filter((r) => r.contended).length,
        runs: runs[side.name],
      },
    ]),
  )
  const base = sideResults['cedar-wasm']
  const mine = sideResults.compiled
  return {
    scenario: name,
    entities: model.entityCount,
    policies: model.policies.size,
    requests: model.requests.length,
    allowed_share: allowed,
    erroring_share: erroring,
    mismatches: mismatches.slice(0, 10),
    mismatch_count: mismatches.length,
    sides: sideResults,
    ratio: mine
      ? {
          'compiled/cedar-wasm': {
            rate: mine.rate / base.rate,
            p50: mine.p50_us / base.p50_us,
            p99: mine.p99_us / base.p99_us,
          },
        }
      : {},
  }
}

// ---------------------------------------------------------------------------------------------------------------

function table(result) {
  const lines = [
    `In-process on CPU ${SERVER_CPU}; ${result.options.runs} rounds x ${result.options.duration} s per side (half back to back for decisions/s, half timed for latency), medians; Node ${process.version}`,
  ]
  for (const s of result.scenarios) {
    lines.push(
      '',
      `${s.scenario}: ${s.entities.toLocaleString('en')} entities, ${s.policies} policies, ${s.requests} distinct requests, ${Math.round(s.allowed_share * 100)}% allowed, ${Math.round(s.erroring_share * 100)}% with an erroring policy; ` +
        (Object.keys(s.sides).length < 2
          ? 'one side, nothing compared'
          : s.mismatch_count === 0
            ? 'identical decisions, determining and erroring policies on every request'
            : `DECISIONS DIFFER on ${s.mismatch_count} requests`),
      'side          decisions/s   p50 us   p99 us   load ms  what it is given per request',
    )
    for (const [name, r] of Object.entries(s.sides))
      lines.push(
        `${name.padEnd(12)}  ${String(Math.round(r.rate)).padStart(11)}  ${r.p50_us.toFixed(1).padStart(7)}  ${r.p99_us.toFixed(1).padStart(7)}  ${r.load_ms.toFixed(0).padStart(8)}  ${name === 'compiled' ? 'a request object; entities in memory' : 'its entity slice (JSON), built beforehand'}`,
      )
    for (const [pair, r] of Object.entries(s.ratio))
      lines.push(
        `${pair}: decisions/s x${r.rate.toFixed(1)}   p50 x${r.p50.toPrecision(2)} (1/${(1 / r.p50).toFixed(0)})   p99 x${r.p99.toPrecision(2)} (1/${(1 / r.p99).toFixed(0)})`,
      )
    if (!s.sides.compiled) lines.push('compiled: not in this checkout, no ratio')
  }
  const contended = result.scenarios.flatMap((s) =>
    Object.entries(s.sides)
      .filter(([, r]) => r.contended_runs > 0)
      .map(([name, r]) => `${s.scenario} ${name} ${r.contended_runs}/${r.runs.length}`),
  )
  if (contended.length > 0)
    lines.push(
      '',
      `WARNING: contended runs (this process had less than ${CONTENDED * 100}% of CPU ${SERVER_CPU} while counting decisions/s): ${contended.join(', ')}.`,
      'Their decisions/s are too low; run again on a quiet machine.',
    )
  return lines.join('\n')
}

async function main() {
  const opts = options()
  execFileSync('taskset', ['-a', '-p', '-c', SERVER_CPU, String(process.pid)], { stdio: 'ignore' })
  const started = Date.now()
  const result = { node: process.version, options: opts, scenarios: [] }
  for (const name of opts.scenarios) result.scenarios.push(await benchScenario(name, opts))
  result.seconds = Math.round((Date.now() - started) / 1000)
  process.stdout.write(
    opts.json
      ? `${JSON.stringify(result, null, 2)}\n`
      : `\n${table(result)}\n\ntotal time ${result.seconds} s\n`,
  )
  process.exit(result.scenarios.some((s) => s.mismatch_count > 0) ? 1 : 0)
}

main().catch((error) => {
  log(`bench:pdp failed: ${error.stack ?? error}`)
  process.exit(1)
})
