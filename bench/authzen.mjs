#!/usr/bin/env node
// AuthZEN over HTTP, side by side in one run: Mandate's `POST /access/v1/evaluation` against the Cerbos PDP without
// and with its audit log, and against a bare node:http JSON endpoint (the floor). Also the batch endpoint
// (`POST /access/v1/evaluations`, --batch items per request) unless --batch 0.
//
// What is measured. Every target gets the same 64 AuthZEN bodies in turn (agents with a classification, department,
// delegating human and roles; tickets and records with an owner, department and sensitivity; bench/authzen-model.mjs)
// and holds equivalent policies (Cedar for Mandate, bench/targets/cerbos/policies for Cerbos):
//   mandate       `mandate serve`, embedded SQLite store in a fresh temporary data directory, decision cache off (every
//                 request is decided). Each call authenticates with a PEP key (`mandate admin token --pep`), as
//                 Mandate requires of every PEP; each decision is recorded in the hash-chained audit log and durable
//                 (SQLite WAL, synchronous=FULL, group commit) before the answer. After the runs, the records are
//                 counted: at least one per answered evaluation, or the target is INVALID.
//   cerbos        Cerbos 0.51 (the binary of the optional npm dependency @cerbos/cerbos-linux-x64), GOMAXPROCS=1, no
//                 authentication (Cerbos has none on its API), audit log off (bench/targets/cerbos/cerbos.yaml).
//   cerbos-audit  the same with its decision log on, `local` backend (BadgerDB) tuned as Cerbos' configuration
//                 reference shows (bench/targets/cerbos/cerbos-audit.yaml): written asynchronously in batches, not
//                 synced, so Cerbos answers before its record is on disk.
//   floor         bench/targets/authzen-floor.mjs: node:http reads and parses the body and answers a constant deny. No
//                 authentication, no decision, no record: the most a Node.js core can serve for this request.
// Before any load, Mandate, cerbos and cerbos-audit answer every body (and every batch) and must agree on every
// decision; the floor must answer 200. Any difference stops the benchmark (exit code 1).
//
// How. Every target runs as a child process pinned to CPU 0 (`taskset -c 0`); this process, which runs autocannon,
// pins itself to CPU 1. Each target is started, checked and warmed up (--warmup s); then --runs rounds, each
// measuring every target once, alone, for --duration s with --connections keep-alive connections, pipelining 1.
// Figures are medians of the runs; ratios name their baseline: mandate/cerbos, mandate/cerbos-audit, mandate/floor
// (throughput below 1: Mandate serves fewer; latency above 1: Mandate is slower).
//
// Usage: node bench/authzen.mjs [--duration 10] [--runs 3] [--warmup 2] [--connections 50] [--batch 10]
//                               [--targets mandate,cerbos,cerbos-audit,floor] [--data-dir DIR] [--cpu-prof DIR] [--json]
//   --cpu-prof DIR   run Mandate under `node --cpu-prof`, profiles in DIR/mandate/ (written when it stops)
// Progress goes to stderr, results to stdout. Exit code 0 when every target was valid, 1 otherwise, 2 on usage errors.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import { batchBodies, MANDATE_DOCUMENTS, singleBodies } from './authzen-model.mjs'
import {
  CLIENT_CPU,
  freePort,
  inheritedEnv,
  load,
  median,
  pinSelf,
  repoRoot,
  SERVER_CPU,
  spawnServer,
  waitReady,
} from './lib.mjs'

const ALL_TARGETS = ['mandate', 'cerbos', 'cerbos-audit', 'floor']
/** No set-up or check request waits longer than this: the benchmark is bounded in time. */
const SETUP_TIMEOUT_MS = 30_000
const log = (line) => process.stderr.write(`${line}\n`)

function usage(message, code = 2) {
  log(message)
  log(
    'usage: node bench/authzen.mjs [--duration S] [--runs N] [--warmup S] [--connections N] [--batch N] ' +
      '[--targets mandate,cerbos,cerbos-audit,floor] [--data-dir DIR] [--cpu-prof DIR] [--json]',
  )
  process.exit(code)
}

function parseOptions() {
  let values
  try {
    ;({ values } = parseArgs({
      options: {
        duration: { type: 'string', default: '10' },
        runs: { type: 'string', default: '3' },
        warmup: { type: 'string', default: '2' },
        connections: { type: 'string', default: '50' },
        batch: { type: 'string', default: '10' },
        targets: { type: 'string', default: ALL_TARGETS.join(',') },
        'data-dir': { type: 'string' },
        'cpu-prof': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }))
  } catch (error) {
    usage(error.message)
  }
  if (values.help)
    usage('Benchmarks AuthZEN evaluations: Mandate, Cerbos (audit off and on) and a bare floor.', 0)
  const integer = (name, min, max) => {
    const n = Number(values[name])
    if (!Number.isInteger(n) || n < min || n > max)
      usage(`--${name} must be a whole number from ${min} to ${max}`)
    return n
  }
  const targets = values.targets.split(',').map((t) => t.trim())
  for (const t of targets)
    if (!ALL_TARGETS.includes(t)) usage(`unknown target ${t} (known: ${ALL_TARGETS.join(', ')})`)
  return {
    duration: integer('duration', 1, 600),
    runs: integer('runs', 1, 20),
    warmup: integer('warmup', 0, 60),
    connections: integer('connections', 1, 1000),
    batch: integer('batch', 0, 100),
    targets,
    dataDir: values['data-dir'] ?? tmpdir(),
    cpuProf: values['cpu-prof'],
    json: values.json,
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Targets: each answers { name, server, base, headers, stop, after? }

async function startMandate(options) {
  const port = await freePort()
  const dataDir = mkdtempSync(join(options.dataDir, 'mandate-bench-authzen-'))
  const bootstrap = `mnd_adm_${randomBytes(32).toString('base64url')}`
  const env = {
    MANDATE_PORT: String(port),
    MANDATE_HOST: '127.0.0.1',
    MANDATE_DATA_DIR: dataDir,
    MANDATE_DEMO_DATA: 'off',
    MANDATE_LOG_LEVEL: 'error',
    MANDATE_BOOTSTRAP_TOKEN: bootstrap,
    MANDATE_DECISION_CACHE_SIZE: '0',
  }
  const server = spawnServer('mandate', ['packages/server/bin/mandate.js', 'serve'], env, options.cpuProf)
  const base = `http://127.0.0.1:${port}`
  const stop = async () => {
    await server.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
  try {
    await waitReady(server, `${base}/readyz`, 'mandate')
    const res = await fetch(`${base}/api/v1/apply`, {
      signal: AbortSignal.timeout(SETUP_TIMEOUT_MS),
      method: 'POST',
      headers: { authorization: `Bearer ${bootstrap}`, 'content-type': 'application/json' },
      body: JSON.stringify({ documents: MANDATE_DOCUMENTS }),
    })
    if (res.status >= 300) throw new Error(`mandate: apply: ${res.status} ${await res.text()}`)
    // A PEP key, as an operator issues one: it may call the AuthZEN API and nothing else.
    const issued = JSON.parse(
      execFileSync(
        process.execPath,
        ['packages/server/bin/mandate.js', '--json', 'admin', 'token', '--pep', '--name', 'bench-pep'],
        { cwd: repoRoot, env: { ...inheritedEnv(), ...env }, encoding: 'utf8', timeout: SETUP_TIMEOUT_MS },
      ),
    )
    if (typeof issued.token !== 'string' || issued.role !== 'pep')
      throw new Error('mandate: no PEP key issued')
    return {
      name: 'mandate',
      server,
      base,
      headers: { authorization: `Bearer ${issued.token}`, 'content-type': 'application/json' },
      stop,
      /** Decision records in the audit log, read from the store once the node has stopped. */
      records: () => {
        const db = new Database(join(dataDir, 'mandate.db'), { readonly: true })
        try {
          return db.prepare("select count(*) as n from audit_events where type = 'policy.decision'").get().n
        } finally {
          db.close()
        }
      },
    }
  } catch (error) {
    await stop()
    throw error
  }
}

function cerbosBinary() {
  const platformPackage = `@cerbos/cerbos-${process.platform}-${process.arch}`
  try {
    return createRequire(import.meta.url).resolve(platformPackage)
  } catch {
    throw new Error(`the Cerbos binary (${platformPackage}) is not installed: it ships for linux-x64 only`)
  }
}

async function startCerbos(options, audit) {
  const name = audit ? 'cerbos-audit' : 'cerbos'
  const binary = cerbosBinary()
  const [http, grpc] = [await freePort(), await freePort()]
  const auditDir = audit ? mkdtempSync(join(options.dataDir, 'cerbos-bench-audit-')) : undefined
  const config = join(repoRoot, 'bench/targets/cerbos', audit ? 'cerbos-audit.yaml' : 'cerbos.yaml')
  const server = spawnServer(
    name,
    ['server', `--config=${config}`, '--log-level=error'],
    {
      // One core, as the other targets have.
      GOMAXPROCS: '1',
      CERBOS_HTTP_PORT: String(http),
      CERBOS_GRPC_PORT: String(grpc),
      CERBOS_POLICY_DIR: join(repoRoot, 'bench/targets/cerbos/policies'),
      CERBOS_NO_TELEMETRY: '1',
      ...(auditDir ? { CERBOS_AUDIT_DIR: auditDir } : {}),
    },
    undefined,
    binary,
  )
  const base = `http://127.0.0.1:${http}`
  const stop = async () => {
    await server.stop()
    if (auditDir) rmSync(auditDir, { recursive: true, force: true })
  }
  try {
    await waitReady(server, `${base}/_cerbos/health`, name)
    return {
      name,
      server,
      base,
      headers: { 'content-type': 'application/json' },
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}

async function startFloor() {
  const port = await freePort()
  const server = spawnServer('floor', [join(repoRoot, 'bench/targets/authzen-floor.mjs')], {
    BENCH_PORT: String(port),
  })
  const base = `http://127.0.0.1:${port}`
  try {
    await waitReady(server, `${base}/healthz`, 'floor')
  } catch (error) {
    await server.stop()
    throw error
  }
  return {
    name: 'floor',
    server,
    base,
    headers: { 'content-type': 'application/json' },
    stop: () => server.stop(),
  }
}

const starters = {
  mandate: startMandate,
  cerbos: (options) => startCerbos(options, false),
  'cerbos-audit': (options) => startCerbos(options, true),
  floor: startFloor,
}

// ---------------------------------------------------------------------------------------------------------------
// Checks and load

const PATHS = { single: '/access/v1/evaluation', batch: '/access/v1/evaluations' }

/** Every body's decisions from one target (one boolean per evaluation; a batch gives one list per body). */
async function decisionsOf(target, mode, bodies) {
  const out = []
  for (const body of bodies) {
    const res = await fetch(`${target.base}${PATHS[mode]}`, {
      signal: AbortSignal.timeout(SETUP_TIMEOUT_MS),
      method: 'POST',
      headers: target.headers,
      body: JSON.stringify(body),
    })
    const text = await res.text()
    if (res.status !== 200) throw new Error(`${target.name} ${PATHS[mode]}: ${res.status} ${text}`)
    const json = JSON.parse(text)
    out.push(mode === 'single' ? json.decision : (json.evaluations ?? []).map((e) => e.decision))
  }
  return out
}

/** Asks every target every body; the engines must agree on every decision. Answers the share allowed. */
async function checkDecisions(targets, mode, bodies) {
  const engines = targets.filter((t) => t.name !== 'floor')
  const answers = []
  for (const t of targets) {
    const decisions = await decisionsOf(t, mode, bodies)
    if (t.name !== 'floor') answers.push({ name: t.name, decisions })
  }
  const flat = answers.map((a) => ({ name: a.name, decisions: a.decisions.flat() }))
  const expected = mode === 'single' ? bodies.length : bodies.reduce((n, b) => n + b.evaluations.length, 0)
  for (const a of flat)
    if (a.decisions.length !== expected || a.decisions.some((d) => typeof d !== 'boolean'))
      throw new Error(`${a.name} ${PATHS[mode]}: ${a.decisions.length} decisions for ${expected} evaluations`)
  for (const a of flat.slice(1)) {
    const i = a.decisions.findIndex((d, k) => d !== flat[0].decisions[k])
    if (i >= 0)
      throw new Error(
        `${a.name} and ${flat[0].name} disagree on ${PATHS[mode]} evaluation ${i}: ${a.decisions[i]} against ${flat[0].decisions[i]}`,
      )
  }
  const reference = flat[0]?.decisions ?? []
  log(
    `[check ${mode}] ${engines.map((t) => t.name).join(', ')} agree on all ${expected} evaluations` +
      (reference.length
        ? `, ${Math.round((100 * reference.filter(Boolean).length) / reference.length)}% allowed`
        : ''),
  )
  return reference.length ? reference.filter(Boolean).length / reference.length : Number.NaN
}

const runOf = (target, mode, bodies) => ({
  ...target,
  url: `${target.base}${PATHS[mode]}`,
  request: {
    headers: target.headers,
    requests: bodies.map((b) => ({ method: 'POST', body: JSON.stringify(b) })),
  },
})

// ---------------------------------------------------------------------------------------------------------------
// Report

const pct = (x) => (Number.isNaN(x) ? '-' : `${Math.round(x * 100)}%`)
const num = (x, digits) => (Number.isNaN(x) || x === undefined ? '-' : x.toFixed(digits))

function summarize(runs, items) {
  const sum = (key) => runs.reduce((n, r) => n + r[key], 0)
  return {
    evaluations_per_s: median(runs.map((r) => r.rps * items)),
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    server_cpu: median(runs.map((r) => r.server_cpu)),
    client_cpu: median(runs.map((r) => r.client_cpu)),
    other_cpu0: median(runs.map((r) => r.other_cpu0)),
    other_cpu1: median(runs.map((r) => r.other_cpu1)),
    failed: sum('non200') + sum('errors') + sum('timeouts'),
    contended_runs: runs.filter((r) => r.contended).length,
    runs,
  }
}

function ratios(results) {
  const out = {}
  for (const [mode, byTarget] of Object.entries(results)) {
    const mine = byTarget.mandate
    if (!mine) continue
    for (const base of ['cerbos', 'cerbos-audit', 'floor']) {
      const theirs = byTarget[base]
      if (!theirs) continue
      out[`${mode}: mandate/${base}`] = {
        evaluations_per_s: mine.evaluations_per_s / theirs.evaluations_per_s,
        p50: mine.p50 / theirs.p50,
        p99: mine.p99 / theirs.p99,
      }
    }
  }
  return out
}

const DOES = {
  mandate: 'PEP key checked, Cedar decision, durable hash-chained audit record per decision',
  cerbos: 'no authentication, decision, no record',
  'cerbos-audit': 'no authentication, decision, record buffered (async, not synced)',
  floor: 'parse body, constant answer: no authentication, no decision, no record',
}

function printTable(doc) {
  const out = [
    '',
    `AuthZEN over HTTP, loopback; server on CPU ${SERVER_CPU}, autocannon on CPU ${CLIENT_CPU}; ${doc.settings.connections} connections, pipelining 1,`,
    `warm-up ${doc.settings.warmup_s} s, ${doc.settings.runs} rounds x ${doc.settings.duration_s} s per target, medians of the runs; Node ${process.version}`,
  ]
  for (const [mode, byTarget] of Object.entries(doc.results)) {
    const items = mode === 'single' ? 1 : doc.settings.batch
    out.push(
      '',
      mode === 'single'
        ? `POST ${PATHS.single}: 64 bodies, ${pct(doc.allowed[mode])} allowed, identical decisions from every engine`
        : `POST ${PATHS.batch}: 64 bodies of ${items} evaluations, ${pct(doc.allowed[mode])} allowed, identical decisions`,
    )
    const rows = [
      [
        'target',
        'eval/s',
        'req/s',
        'p50 ms',
        'p99 ms',
        'failed',
        'server cpu',
        'other cpu0/1',
        'what it does',
      ],
      ...Object.entries(byTarget).map(([name, r]) => [
        name,
        num(r.evaluations_per_s, 0),
        num(r.rps, 0),
        num(r.p50, 2),
        num(r.p99, 2),
        String(r.failed),
        pct(r.server_cpu),
        `${pct(r.other_cpu0)}/${pct(r.other_cpu1)}${r.contended_runs ? ` CONTENDED ${r.contended_runs}` : ''}`,
        DOES[name],
      ]),
    ]
    const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)))
    const line = (row) =>
      row
        .map((cell, c) =>
          c === 0 || c === row.length - 1 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]),
        )
        .join('  ')
        .trimEnd()
    out.push(line(rows[0]), line(widths.map((w) => '-'.repeat(w))), ...rows.slice(1).map(line))
  }
  out.push('')
  for (const [pair, r] of Object.entries(doc.ratios))
    out.push(
      `${pair.padEnd(28)}  eval/s x${num(r.evaluations_per_s, 2)}   p50 x${num(r.p50, 2)}   p99 x${num(r.p99, 2)}`,
    )
  if (doc.audit.mandate)
    out.push(
      '',
      `mandate audit: ${doc.audit.mandate.records} decision records for ${doc.audit.mandate.answered} answered evaluations` +
        (doc.audit.mandate.records >= doc.audit.mandate.answered
          ? ' (every one recorded)'
          : ' MISSING RECORDS'),
    )
  for (const f of doc.failures) out.push(`${f.target} FAILED: ${f.failure.split('\n')[0]}`)
  if (Object.values(doc.results).some((m) => Object.values(m).some((r) => r.contended_runs > 0)))
    out.push(
      '',
      'WARNING: contended runs (see CONTENDED above): figures too low and noisy; run again on a quiet machine.',
    )
  out.push('', `total time ${Math.round(doc.elapsed_s)} s`)
  process.stdout.write(`${out.join('\n')}\n`)
}

// ---------------------------------------------------------------------------------------------------------------

/** Targets started and not yet stopped, stopped if this process is interrupted. */
const live = new Set()

async function main() {
  const options = parseOptions()
  const started = Date.now()
  pinSelf()
  for (const signal of ['SIGINT', 'SIGTERM'])
    process.once(signal, () => {
      log(`interrupted (${signal}): stopping`)
      void Promise.allSettled([...live].map((t) => t.stop())).finally(() => process.exit(130))
    })
  const modes = { single: singleBodies() }
  if (options.batch > 0) modes.batch = batchBodies(options.batch)
  const failures = []
  const targets = []
  const results = {}
  const allowed = {}
  const answered = {}
  const audit = {}
  try {
    for (const name of options.targets) {
      log(`[${name}] starting`)
      try {
        const target = await starters[name](options)
        live.add(target)
        targets.push(target)
      } catch (error) {
        if (error.cause) log(String(error.cause))
        log(`[${name}] FAILED: ${error.stack ?? error}`)
        failures.push({ target: name, failure: String(error.message ?? error) })
      }
    }
    // Decisions first: a benchmark of engines that disagree would compare different work.
    for (const [mode, bodies] of Object.entries(modes))
      allowed[mode] = await checkDecisions(targets, mode, bodies)
    const count = (target, mode, run) => {
      answered[target.name] = (answered[target.name] ?? 0) + run.ok * (mode === 'single' ? 1 : options.batch)
    }
    for (const [mode, bodies] of Object.entries(modes)) {
      results[mode] = {}
      for (const t of targets) {
        if (options.warmup > 0) {
          const warm = await load(runOf(t, mode, bodies), options.warmup, options.connections)
          count(t, mode, warm)
          log(`[${t.name} ${mode}] warm-up ${options.warmup} s: ${Math.round(warm.rps)} req/s`)
        }
      }
      const runs = Object.fromEntries(targets.map((t) => [t.name, []]))
      for (let i = 1; i <= options.runs; i++)
        for (const t of targets) {
          const run = await load(runOf(t, mode, bodies), options.duration, options.connections)
          runs[t.name].push(run)
          count(t, mode, run)
          log(
            `[${t.name} ${mode}] run ${i}/${options.runs}: ${Math.round(run.rps)} req/s, p50 ${run.p50.toFixed(2)} ms, ` +
              `p99 ${run.p99.toFixed(2)} ms, non-200 ${run.non200}, errors ${run.errors}, timeouts ${run.timeouts}, ` +
              `server cpu ${pct(run.server_cpu)}, other cpu0/1 ${pct(run.other_cpu0)}/${pct(run.other_cpu1)}` +
              (run.contended ? ' CONTENDED' : ''),
          )
          if (t.server.exited)
            throw new Error(`${t.name} exited during the runs`, { cause: t.server.output() })
        }
      for (const [name, rs] of Object.entries(runs))
        results[mode][name] = summarize(rs, mode === 'single' ? 1 : options.batch)
    }
  } catch (error) {
    if (error.cause) log(String(error.cause))
    log(`FAILED: ${error.stack ?? error}`)
    failures.push({ target: 'benchmark', failure: String(error.message ?? error) })
  } finally {
    for (const t of targets) {
      await t.server.stop()
      if (t.records) audit[t.name] = { records: t.records(), answered: answered[t.name] ?? 0 }
      await t.stop()
      live.delete(t)
    }
  }
  const doc = {
    benchmark: 'authzen',
    settings: {
      duration_s: options.duration,
      runs: options.runs,
      warmup_s: options.warmup,
      connections: options.connections,
      batch: options.batch,
      pipelining: 1,
      server_cpu: Number(SERVER_CPU),
      client_cpu: Number(CLIENT_CPU),
      node: process.version,
    },
    allowed,
    results,
    ratios: ratios(results),
    audit,
    failures,
    elapsed_s: (Date.now() - started) / 1000,
  }
  if (options.json) {
    const clean = (value) => JSON.parse(JSON.stringify(value, (_k, v) => (Number.isNaN(v) ? null : v)))
    process.stdout.write(`${JSON.stringify(clean(doc), null, 2)}\n`)
  } else printTable(doc)
  const invalid =
    failures.length > 0 ||
    Object.values(results).some((m) => Object.values(m).some((r) => r.failed > 0)) ||
    (audit.mandate && audit.mandate.records < audit.mandate.answered)
  process.exitCode = invalid ? 1 : 0
}

await main()
