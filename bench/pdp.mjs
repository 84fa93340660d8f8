#!/usr/bin/env node
// Policy decision point benchmark, in one run: Mandate's PDP in-process against calling cedar-wasm directly, and
// Mandate's AuthZEN HTTP endpoint against the Cerbos PDP over HTTP. Run with `npm run bench:pdp` (node --import tsx).
//
// In-process. A generated but realistic model, the same every run (seeded): 600 employees, 40 projects and 360
// documents (1,000 entities), 10 actions on documents, and 50 policies (owner, department, role and level rules,
// project membership through the entity hierarchy, sensitivity and legal-hold forbids), loaded into a scratch Mandate
// store through the registry like any deployment. A stream of 4,000 distinct requests (employee, action, document),
// a mix of allows and denies (the share is printed), is decided by each engine in turn, pinned to CPU 0:
//   mandate-pdp          PolicyDecisionPoint.evaluate with the decision cache off (MANDATE_DECISION_CACHE_SIZE=0):
//                        entity slice from the in-memory registry, preparsed policies (cedar-wasm statefulIsAuthorized)
//   cedar-stateful       the same preparsed set and the same slice, calling cedar-wasm directly (the engine alone)
//   cedar-slice          cedar-wasm isAuthorized with the policy text and the slice on every call
//   cedar-all            cedar-wasm isAuthorized with the policy text and all 1,000 entities on every call
// Every engine's decisions are compared with mandate-pdp's on the same requests (cedar-all on the first --compare
// requests only: it is slow); any difference fails the run. Rounds are interleaved; each figure is the median.
//
// HTTP. Mandate (`mandate serve`, decision cache off) and Cerbos 0.51 (the binary npm `cerbos` ships, from its
// platform package @cerbos/cerbos-linux-x64, an optional dependency; GOMAXPROCS=1) each run pinned
// to CPU 0, autocannon on CPU 1, 50 connections; both get the same 64 AuthZEN evaluation bodies in turn (agents with a
// classification, department, delegating human and roles; tickets and records with an owner, department and
// sensitivity) and hold equivalent policies (bench/targets/cerbos/policies, and HTTP_POLICIES below). Both answer
// every body the same before the load starts. Mandate authenticates each call (an API key); Cerbos has no
// authentication. Mandate records every decision durably in its audit log; Cerbos's audit log is off.
//
// Usage: npm run bench:pdp -- [--duration 5] [--runs 3] [--connections 50] [--compare 100] [--skip-http] [--json]
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { PolicyWorkbench } from '../packages/server/src/cli/policy-workbench.ts'
import { isAuthorized } from '../packages/server/src/policy/cedar.ts'
import { EntitySlicer } from '../packages/server/src/policy/entities.ts'
import { CedarWasmEvaluator } from '../packages/server/src/policy/evaluator.ts'
import { CLIENT_CPU, freePort, load, median, repoRoot, SERVER_CPU, spawnServer, waitReady } from './lib.mjs'

const log = (line) => process.stderr.write(`${line}\n`)

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      runs: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      compare: { type: 'string', default: '100' },
      'skip-http': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  })
  const n = (name, min, max) => {
    const v = Number(values[name])
    if (!Number.isInteger(v) || v < min || v > max) {
      log(`--${name} must be a whole number from ${min} to ${max}`)
      process.exit(2)
    }
    return v
  }
  return {
    duration: n('duration', 1, 120),
    runs: n('runs', 1, 20),
    connections: n('connections', 1, 1000),
    compare: n('compare', 1, 10000),
    skipHttp: values['skip-http'],
    json: values.json,
  }
}

const pin = (cpu) =>
  execFileSync('taskset', ['-a', '-p', '-c', cpu, String(process.pid)], { stdio: 'ignore' })

// ---------------------------------------------------------------------------------------------------------------
// The in-process model

/** mulberry32: a small seeded generator, so every run benchmarks the same model and requests. */
function random(seed) {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const ACTIONS = [
  'view',
  'comment',
  'edit',
  'share',
  'export',
  'print',
  'approve',
  'archive',
  'restore',
  'delete',
]
const DEPARTMENTS = ['sales', 'legal', 'finance', 'support', 'research', 'hr']
const ROLES = ['staff', 'staff', 'staff', 'lead', 'manager', 'auditor']

function model() {
  const rnd = random(42)
  const pick = (list) => list[Math.floor(rnd() * list.length)]
  const documents = []
  documents.push(
    { kind: 'EntityType', id: 'project', attributes: { department: { type: 'String', required: true } } },
    {
      kind: 'EntityType',
      id: 'employee',
      principal: true,
      attributes: {
        department: { type: 'String', required: true },
        role: { type: 'String', required: true },
        level: { type: 'Long', required: true },
      },
      member_of: ['project'],
    },
    {
      kind: 'EntityType',
      id: 'document',
      attributes: {
        owner: { type: 'Entity', entity_type: 'employee', required: true },
        department: { type: 'String', required: true },
        sensitivity: { type: 'Long', required: true },
        tags: { type: 'Set<String>', required: true },
      },
      member_of: ['project'],
      actions: ACTIONS,
    },
  )
  for (let i = 0; i < 40; i++)
    documents.push({ kind: 'Entity', id: `project:p${i}`, attributes: { department: pick(DEPARTMENTS) } })
  for (let i = 0; i < 600; i++)
    documents.push({
      kind: 'Entity',
      id: `employee:e${i}`,
      attributes: { department: pick(DEPARTMENTS), role: pick(ROLES), level: 1 + Math.floor(rnd() * 6) },
      parents: [`project:p${Math.floor(rnd() * 40)}`, `project:p${Math.floor(rnd() * 40)}`].filter(
        (p, k, all) => all.indexOf(p) === k,
      ),
    })
  for (let i = 0; i < 360; i++)
    documents.push({
      kind: 'Entity',
      id: `document:d${i}`,
      attributes: {
        owner: `employee:e${Math.floor(rnd() * 600)}`,
        department: pick(DEPARTMENTS),
        sensitivity: Math.floor(rnd() * 5),
        tags: rnd() < 0.08 ? ['legal-hold'] : rnd() < 0.3 ? ['draft'] : [],
      },
      parents: [`project:p${Math.floor(rnd() * 40)}`],
    })
  // Five rules per action: 50 policies.
  const policies = ACTIONS.flatMap((action, i) => {
    const a = `Action::"${action}"`
    const level = 1 + (i % 5)
    return [
      `@id("${action}.owner")\npermit (principal is employee, action == ${a}, resource is document)\nwhen { resource.owner == principal };`,
      `@id("${action}.department")\npermit (principal is employee, action == ${a}, resource is document)\nwhen { resource.department == principal.department && principal.level >= ${level} && resource.sensitivity < ${1 + (i % 4)} };`,
      `@id("${action}.project")\npermit (principal is employee, action == ${a}, resource is document)\nwhen { principal.role == "${i % 2 ? 'lead' : 'manager'}" && principal.level >= ${level - 1} };`,
      `@id("${action}.sensitive")\nforbid (principal is employee, action == ${a}, resource is document)\nwhen { resource.sensitivity >= ${2 + (i % 3)} && principal.role != "manager" && !(resource.owner == principal) };`,
      `@id("${action}.hold")\nforbid (principal is employee, action == ${a}, resource is document)\nwhen { resource.tags.contains("legal-hold") && ${i < 5 ? 'principal.role != "auditor"' : 'true'} };`,
    ]
  })
  documents.push({ kind: 'Policy', id: 'docs', policies: policies.join('\n\n') })
  const requests = []
  for (let i = 0; i < 4000; i++)
    requests.push({
      principal: { type: 'employee', id: `e${Math.floor(rnd() * 600)}` },
      action: pick(ACTIONS),
      resource: { type: 'document', id: `d${Math.floor(rnd() * 360)}` },
    })
  return { documents, policies, requests }
}

/** Runs `decide` over the requests for `seconds` (or until they run out): decisions/s and latency percentiles. */
async function measure(decide, requests, seconds, offset) {
  const latencies = []
  const decisions = new Map()
  const deadline = process.hrtime.bigint() + BigInt(seconds * 1e9)
  const start = process.hrtime.bigint()
  let i = 0
  while (process.hrtime.bigint() < deadline && i < requests.length) {
    const index = (offset + i) % requests.length
    const t0 = process.hrtime.bigint()
    const decision = await decide(requests[index])
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6)
    decisions.set(index, decision)
    i++
  }
  const wall = Number(process.hrtime.bigint() - start) / 1e9
  latencies.sort((a, b) => a - b)
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)]
  return { count: i, rate: i / wall, p50: pct(50), p99: pct(99), decisions }
}

async function inProcess(opts) {
  pin(SERVER_CPU)
  const { documents, policies, requests } = model()
  const workbench = await PolicyWorkbench.open({ decisionCacheSize: 0 })
  const { core } = workbench
  try {
    for (const { kind, ...doc } of documents) {
      const problems = await workbench.put(kind, doc.id, doc)
      if (problems.length > 0) throw new Error(`${kind} ${doc.id}: ${JSON.stringify(problems)}`)
    }
    await core.directory.refresh()
    const declarations = new Map([...core.directory.entityTypes()].map((t) => [t.id, t]))
    const slicer = new EntitySlicer(core.directory, declarations)
    const staticPolicies = Object.fromEntries(policies.map((text, i) => [`docs/${i}`, text]))
    const evaluator = new CedarWasmEvaluator()
    evaluator.load(new Map(Object.entries(staticPolicies)))
    const all = [
      ...core.directory.entityIdsOfType('employee'),
      ...core.directory.entityIdsOfType('project'),
      ...core.directory.entityIdsOfType('document'),
    ].map((uid) => {
      const colon = uid.indexOf(':')
      return slicer.slice(
        { type: uid.slice(0, colon), id: uid.slice(colon + 1) },
        { type: 'project', id: 'none' },
      )[0]
    })
    const slice = (r) => slicer.slice(r.principal, r.resource)
    const cedarCall = (r, entities) => {
      const answer = isAuthorized({
        principal: r.principal,
        action: { type: 'Action', id: r.action },
        resource: r.resource,
        context: {},
        policies: { staticPolicies },
        entities,
      })
      if (answer.type !== 'success') throw new Error(answer.errors.map((e) => e.message).join('; '))
      return answer.response.decision
    }
    const engines = {
      'mandate-pdp': async (r) => (await core.pdp.evaluate(r)).decision,
      'cedar-stateful': (r) =>
        evaluator.evaluate({
          principal: r.principal,
          action: r.action,
          resource: r.resource,
          context: {},
          entities: slice(r),
        }).decision,
      'cedar-slice': (r) => cedarCall(r, slice(r)),
      'cedar-all': (r) => cedarCall(r, all),
    }
    // Warm up every engine (wasm tier-up, JIT) before measuring.
    for (const decide of Object.values(engines)) await measure(decide, requests, 1, 0)
    const rounds = Object.fromEntries(Object.keys(engines).map((name) => [name, []]))
    const reference = new Map()
    for (let run = 0; run < opts.runs; run++) {
      for (const [name, decide] of Object.entries(engines)) {
        const seconds = name === 'cedar-all' ? Math.min(opts.duration, 3) : opts.duration
        const result = await measure(decide, requests, seconds, run * 997)
        rounds[name].push(result)
        if (name === 'mandate-pdp') for (const [i, d] of result.decisions) reference.set(i, d)
        log(
          `[in-process ${name}] run ${run + 1}/${opts.runs}: ${Math.round(result.rate)} decisions/s, p50 ${result.p50.toFixed(3)} ms, p99 ${result.p99.toFixed(3)} ms`,
        )
      }
    }
    // Decisions identical: every engine against mandate-pdp on the same requests (all of them for the faster ones).
    const mismatches = []
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]
      const ours = reference.get(i) ?? (await core.pdp.evaluate(r)).decision
      const theirs = {
        'cedar-stateful': engines['cedar-stateful'](r),
        'cedar-slice': i < opts.compare * 5 ? engines['cedar-slice'](r) : ours,
        'cedar-all': i < opts.compare ? engines['cedar-all'](r) : ours,
      }
      for (const [name, d] of Object.entries(theirs))
        if (d !== ours) mismatches.push({ request: r, engine: name, ours, theirs: d })
    }
    const allowed = [...reference.values()].filter((d) => d === 'allow').length / Math.max(1, reference.size)
    return {
      entities: all.length,
      policies: policies.length,
      allowed_share: allowed,
      compared: {
        all_requests: requests.length,
        cedar_slice: Math.min(requests.length, opts.compare * 5),
        cedar_all: opts.compare,
      },
      mismatches,
      engines: Object.fromEntries(
        Object.entries(rounds).map(([name, runs]) => [
          name,
          {
            rate: median(runs.map((r) => r.rate)),
            p50: median(runs.map((r) => r.p50)),
            p99: median(runs.map((r) => r.p99)),
            runs: runs.map((r) => ({ rate: r.rate, p50: r.p50, p99: r.p99, count: r.count })),
          },
        ]),
      ),
    }
  } finally {
    await workbench.close()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP: Mandate's AuthZEN endpoint against Cerbos, equivalent policies

const HTTP_DOCUMENTS = [
  {
    kind: 'EntityType',
    id: 'bot',
    principal: true,
    attributes: {
      classification: { type: 'String', required: true },
      department: { type: 'String', required: true },
      delegator: { type: 'String' },
      roles: { type: 'Set<String>' },
    },
  },
  ...['ticket', 'record'].map((id) => ({
    kind: 'EntityType',
    id,
    attributes: {
      owner: { type: 'String', required: true },
      department: { type: 'String', required: true },
      sensitivity: { type: 'Long', required: true },
    },
    actions: ['read', 'write', 'delete'],
  })),
  {
    kind: 'Policy',
    id: 'bench',
    // The Cedar twin of bench/targets/cerbos/policies: a forbid on high sensitivity beats every permit.
    policies: `@id("ticket.deny-high-sensitivity")
forbid (principal, action, resource is ticket) when { resource.sensitivity >= 5 };

@id("record.deny-high-sensitivity")
forbid (principal, action, resource is record) when { resource.sensitivity >= 5 };

@id("ticket.delegated-owner")
permit (principal is bot, action in [Action::"read", Action::"write"], resource is ticket)
when { ["delegated", "blended"].contains(principal.classification) && principal has delegator && resource.owner == principal.delegator };

@id("record.autonomous-own-department")
permit (principal is bot, action == Action::"read", resource is record)
when { ["autonomous", "blended"].contains(principal.classification) && resource.department == principal.department && resource.sensitivity < 3 };

@id("ticket.admin")
permit (principal is bot, action, resource is ticket) when { principal has roles && principal.roles.contains("admin") };

@id("record.admin")
permit (principal is bot, action, resource is record) when { principal has roles && principal.roles.contains("admin") };
`,
  },
]

/** 64 AuthZEN bodies, the same for both PDPs (`cerbos.roles` is how Cerbos reads roles; Mandate reads `roles`). */
function httpBodies() {
  const rnd = random(7)
  const pick = (list) => list[Math.floor(rnd() * list.length)]
  const bodies = []
  for (let i = 0; i < 64; i++) {
    const roles = rnd() < 0.15 ? ['agent', 'admin'] : ['agent']
    const delegator = rnd() < 0.8 ? pick(['alice', 'bob']) : undefined
    bodies.push({
      subject: {
        type: 'bot',
        id: `agent-${i}`,
        properties: {
          classification: pick(['delegated', 'autonomous', 'blended']),
          department: pick(['support', 'risk']),
          ...(delegator ? { delegator } : {}),
          roles,
          'cerbos.roles': roles,
        },
      },
      action: { name: pick(['read', 'write', 'delete']) },
      resource: {
        type: pick(['ticket', 'record']),
        id: `r-${i}`,
        properties: {
          owner: pick(['alice', 'bob']),
          department: pick(['support', 'risk']),
          sensitivity: Math.floor(rnd() * 6),
        },
      },
    })
  }
  return bodies
}

async function startMandate() {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'mandate-bench-pdp-http-'))
  const bootstrap = `mnd_adm_${randomBytes(32).toString('base64url')}`
  const server = spawnServer('mandate', ['packages/server/bin/mandate.js', 'serve'], {
    MANDATE_PORT: String(port),
    MANDATE_HOST: '127.0.0.1',
    MANDATE_DATA_DIR: dataDir,
    MANDATE_DEMO_DATA: 'off',
    MANDATE_LOG_LEVEL: 'error',
    MANDATE_BOOTSTRAP_TOKEN: bootstrap,
    MANDATE_DECISION_CACHE_SIZE: '0',
  })
  const base = `http://127.0.0.1:${port}`
  await waitReady(server, `${base}/readyz`, 'mandate')
  const res = await fetch(`${base}/api/v1/apply`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bootstrap}`, 'content-type': 'application/json' },
    body: JSON.stringify({ documents: HTTP_DOCUMENTS }),
  })
  if (res.status >= 300) throw new Error(`mandate: apply: ${res.status} ${await res.text()}`)
  return {
    name: 'mandate',
    server,
    url: `${base}/access/v1/evaluation`,
    headers: { authorization: `Bearer ${bootstrap}`, 'content-type': 'application/json' },
    stop: async () => {
      await server.stop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

async function startCerbos() {
  const require = createRequire(import.meta.url)
  const platformPackage = `@cerbos/cerbos-${process.platform}-${process.arch}`
  let binary
  try {
    binary = require.resolve(platformPackage)
  } catch {
    throw new Error(
      `the Cerbos binary (${platformPackage}) is not installed: the HTTP part runs on linux-x64; use --skip-http`,
    )
  }
  const [http, grpc] = [await freePort(), await freePort()]
  const server = spawnServer(
    'cerbos',
    ['server', `--config=${join(repoRoot, 'bench/targets/cerbos/cerbos.yaml')}`, '--log-level=error'],
    {
      GOMAXPROCS: '1',
      CERBOS_HTTP_PORT: String(http),
      CERBOS_GRPC_PORT: String(grpc),
      CERBOS_POLICY_DIR: join(repoRoot, 'bench/targets/cerbos/policies'),
      CERBOS_NO_TELEMETRY: '1',
    },
    undefined,
    binary,
  )
  await waitReady(server, `http://127.0.0.1:${http}/_cerbos/health`, 'cerbos')
  return {
    name: 'cerbos',
    server,
    url: `http://127.0.0.1:${http}/access/v1/evaluation`,
    headers: { 'content-type': 'application/json' },
    stop: () => server.stop(),
  }
}

async function decisionsOf(target, bodies) {
  const out = []
  for (const body of bodies) {
    const res = await fetch(target.url, {
      method: 'POST',
      headers: target.headers,
      body: JSON.stringify(body),
    })
    const json = await res.json()
    if (res.status !== 200) throw new Error(`${target.name}: ${res.status} ${JSON.stringify(json)}`)
    out.push(json.decision)
  }
  return out
}

async function overHttp(opts) {
  pin(CLIENT_CPU)
  const bodies = httpBodies()
  const targets = []
  try {
    targets.push(await startMandate(), await startCerbos())
    const [ours, theirs] = [await decisionsOf(targets[0], bodies), await decisionsOf(targets[1], bodies)]
    const mismatches = bodies.flatMap((body, i) =>
      ours[i] === theirs[i] ? [] : [{ body, mandate: ours[i], cerbos: theirs[i] }],
    )
    if (mismatches.length > 0)
      throw new Error(`the PDPs disagree on ${mismatches.length} bodies: ${JSON.stringify(mismatches[0])}`)
    const requests = bodies.map((body) => ({ method: 'POST', body: JSON.stringify(body) }))
    const runs = Object.fromEntries(targets.map((t) => [t.name, []]))
    for (const t of targets)
      await load({ ...t, request: { headers: t.headers, requests } }, 2, opts.connections)
    for (let run = 0; run < opts.runs; run++)
      for (const t of targets) {
        const result = await load(
          { ...t, request: { headers: t.headers, requests } },
          opts.duration,
          opts.connections,
        )
        runs[t.name].push(result)
        log(
          `[http ${t.name}] run ${run + 1}/${opts.runs}: ${Math.round(result.rps)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, non-200 ${result.non200}, server cpu ${Math.round(result.server_cpu * 100)}%${result.contended ? ' CONTENDED' : ''}`,
        )
      }
    return {
      allowed_share: ours.filter(Boolean).length / ours.length,
      targets: Object.fromEntries(
        Object.entries(runs).map(([name, rs]) => [
          name,
          {
            rps: median(rs.map((r) => r.rps)),
            p50: median(rs.map((r) => r.p50)),
            p99: median(rs.map((r) => r.p99)),
            non200: rs.reduce((n, r) => n + r.non200 + r.errors + r.timeouts, 0),
            contended: rs.filter((r) => r.contended).length,
          },
        ]),
      ),
    }
  } finally {
    for (const t of targets) await t.stop()
  }
}

// ---------------------------------------------------------------------------------------------------------------

function table(result) {
  const lines = []
  const ip = result.inProcess
  lines.push(
    `In-process, one core: ${ip.policies} policies, ${ip.entities} entities, ${Math.round(ip.allowed_share * 100)}% of requests allowed; medians of the runs`,
  )
  lines.push('engine            decisions/s  p50 ms  p99 ms')
  for (const [name, e] of Object.entries(ip.engines))
    lines.push(
      `${name.padEnd(16)}  ${String(Math.round(e.rate)).padStart(11)}  ${e.p50.toFixed(3).padStart(6)}  ${e.p99.toFixed(3).padStart(6)}`,
    )
  const e = ip.engines
  lines.push(
    `mandate-pdp / cedar-slice x${(e['mandate-pdp'].rate / e['cedar-slice'].rate).toFixed(2)}   mandate-pdp / cedar-all x${(e['mandate-pdp'].rate / e['cedar-all'].rate).toFixed(1)}   mandate-pdp / cedar-stateful x${(e['mandate-pdp'].rate / e['cedar-stateful'].rate).toFixed(2)}`,
  )
  lines.push(
    ip.mismatches.length === 0
      ? `decisions identical: all ${ip.compared.all_requests} requests (cedar-stateful), first ${ip.compared.cedar_slice} (cedar-slice), first ${ip.compared.cedar_all} (cedar-all)`
      : `DECISIONS DIFFER on ${ip.mismatches.length} comparisons`,
  )
  if (result.http) {
    const h = result.http.targets
    lines.push('')
    lines.push(
      `AuthZEN /access/v1/evaluation over HTTP, server on CPU ${SERVER_CPU}, autocannon on CPU ${CLIENT_CPU}; 64 bodies, ${Math.round(result.http.allowed_share * 100)}% allowed, identical decisions`,
    )
    lines.push('target    req/s  p50 ms  p99 ms  failed')
    for (const [name, t] of Object.entries(h))
      lines.push(
        `${name.padEnd(8)}  ${String(Math.round(t.rps)).padStart(5)}  ${t.p50.toFixed(2).padStart(6)}  ${t.p99.toFixed(2).padStart(6)}  ${String(t.non200).padStart(6)}${t.contended ? `  CONTENDED ${t.contended} runs` : ''}`,
      )
    lines.push(
      `mandate / cerbos  req/s x${(h.mandate.rps / h.cerbos.rps).toFixed(2)}   p50 x${(h.mandate.p50 / h.cerbos.p50).toFixed(2)}   p99 x${(h.mandate.p99 / h.cerbos.p99).toFixed(2)}`,
    )
  }
  return lines.join('\n')
}

async function main() {
  const opts = options()
  const started = Date.now()
  const result = { node: process.version, options: opts, inProcess: await inProcess(opts) }
  if (!opts.skipHttp) result.http = await overHttp(opts)
  result.seconds = Math.round((Date.now() - started) / 1000)
  process.stdout.write(
    opts.json
      ? `${JSON.stringify(result, null, 2)}\n`
      : `\n${table(result)}\n\ntotal time ${result.seconds} s\n`,
  )
  const bad =
    result.inProcess.mismatches.length > 0 ||
    Object.values(result.http?.targets ?? {}).some((t) => t.non200 > 0)
  process.exit(bad ? 1 : 0)
}

main().catch((error) => {
  log(`bench:pdp failed: ${error.stack ?? error}`)
  process.exit(1)
})
