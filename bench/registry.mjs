#!/usr/bin/env node
// Registry at scale: how fast agents can be provisioned through the admin API, what a node holding them costs in
// memory and start-up time, and how long `mandate apply -f` of many documents takes in one transaction.
//
// What is measured, in one run against one node (`node packages/server/bin/mandate.js serve`, embedded SQLite store in
// a fresh temporary data directory, synchronous=FULL, so every create is durable before it is answered):
//   create    --agents N agents (default 100,000), each by `POST /api/v1/agents` from --clients (default 16)
//             concurrent clients over keep-alive loopback connections; every answer must be 201. The rate is printed
//             overall and for each block of --block agents (default 10,000), so that any slope (a create costing more
//             as the registry grows) shows.
//   rss       the node's resident memory (VmRSS) after the creates, and again after a restart.
//   start-up  time from spawning the node on the data directory now holding N agents to its /readyz answering 200,
//             the median of --restarts (default 3) starts.
//   apply     `mandate apply -f` of --apply documents (default 10,000: humans, agents sponsored by them, and entities of
//             a declared type) in one transaction, timed from the command's start to its exit, on the same node.
//
// How. The node runs pinned to CPU 0 (`taskset -c 0`) and this process, the clients, pinned to CPU 1 (see lib.mjs).
// The run is bounded: the creates stop after --max-seconds (default 600) even if fewer than N were made, and the
// figures say how many were. Defaults take about two to four minutes on a 2-core machine.
//
// Usage: node bench/registry.mjs [--agents 100000] [--clients 16] [--block 10000] [--apply 10000] [--restarts 3]
//                                [--max-seconds 600] [--data-dir DIR] [--cpu-prof DIR] [--json]
// Progress goes to stderr; results to stdout. Exit code 0 when every request succeeded, 1 otherwise, 2 on usage errors.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  cpuBusySeconds,
  freePort,
  median,
  pinSelf,
  processCpuSeconds,
  repoRoot,
  SERVER_CPU,
  spawnServer,
  waitReady,
} from './lib.mjs'

const SPONSOR = 'bench@example.com'
const log = (line) => process.stderr.write(`${line}\n`)

function usage(message, code = 2) {
  process.stderr.write(`${message}\n`)
  process.stderr.write(
    'usage: node bench/registry.mjs [--agents N] [--clients N] [--block N] [--apply N] [--restarts N] ' +
      '[--max-seconds S] [--data-dir DIR] [--cpu-prof DIR] [--json]\n',
  )
  process.exit(code)
}

function parseOptions() {
  let values
  try {
    ;({ values } = parseArgs({
      options: {
        agents: { type: 'string', default: '100000' },
        clients: { type: 'string', default: '16' },
        block: { type: 'string', default: '10000' },
        apply: { type: 'string', default: '10000' },
        restarts: { type: 'string', default: '3' },
        'max-seconds': { type: 'string', default: '600' },
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
  if (values.help) usage('Benchmarks provisioning through the admin API, start-up, memory and apply.', 0)
  const integer = (name, min, max) => {
    const n = Number(values[name])
    if (!Number.isInteger(n) || n < min || n > max)
      usage(`--${name} must be a whole number from ${min} to ${max}`)
    return n
  }
  return {
    agents: integer('agents', 1, 10_000_000),
    clients: integer('clients', 1, 256),
    block: integer('block', 1, 10_000_000),
    apply: integer('apply', 0, 100_000),
    restarts: integer('restarts', 0, 20),
    maxSeconds: integer('max-seconds', 1, 86_400),
    dataDir: values['data-dir'] ? resolve(values['data-dir']) : tmpdir(),
    cpuProf: values['cpu-prof'] ? resolve(values['cpu-prof']) : undefined,
    json: values.json,
  }
}

/** The node's resident memory in MiB, from /proc. */
function rssMiB(pid) {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) / 1024 : Number.NaN
  } catch {
    return Number.NaN
  }
}

/** Starts a node on `dataDir` and answers it once /readyz says 200, with the time that took. */
async function startNode(options, dataDir, masterKey, bootstrap, name) {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const t0 = performance.now()
  const server = spawnServer(
    name,
    ['packages/server/bin/mandate.js', 'serve'],
    {
      MANDATE_HOST: '127.0.0.1',
      MANDATE_PORT: String(port),
      MANDATE_DATA_DIR: dataDir,
      MANDATE_MASTER_KEY: masterKey,
      MANDATE_BOOTSTRAP_TOKEN: bootstrap,
      MANDATE_DEMO_DATA: 'off',
      MANDATE_LOG_LEVEL: 'warn',
    },
    options.cpuProf,
  )
  try {
    await waitReady(server, `${base}/readyz`, 'mandate')
  } catch (error) {
    await server.stop()
    log(server.output())
    throw error
  }
  return { server, base, startMs: performance.now() - t0 }
}

// Keep-alive connections, as many as there are clients, so that each client keeps its own.
let agent = new Agent({ keepAlive: true, maxSockets: 16 })

/** One JSON request over a keep-alive connection. */
function call(base, token, method, path, body) {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolveCall, reject) => {
    const req = request(
      `${base}${path}`,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => {
          text += chunk
        })
        res.on('end', () => resolveCall({ status: res.statusCode ?? 0, text }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

/** Creates `count` agents from `clients` concurrent clients; answers the time each block of `block` took. */
async function createAgents(options, base, token) {
  const blocks = []
  let next = 0
  let done = 0
  let failed = 0
  let firstFailure
  const t0 = performance.now()
  let blockStart = t0
  const deadline = t0 + options.maxSeconds * 1000
  const client = async () => {
    while (next < options.agents && performance.now() < deadline) {
      const i = next++
      const id = `bench-agent-${String(i).padStart(7, '0')}`
      const res = await call(base, token, 'POST', '/api/v1/agents', {
        id,
        sponsor: SPONSOR,
        classification: 'autonomous',
        ceiling: ['bench:read'],
      })
      if (res.status !== 201) {
        failed++
        firstFailure ??= `${res.status} ${res.text.slice(0, 300)}`
        continue
      }
      done++
      if (done % options.block === 0) {
        const now = performance.now()
        blocks.push({
          through: done,
          seconds: (now - blockStart) / 1000,
          rate: options.block / ((now - blockStart) / 1000),
        })
        blockStart = now
        log(`  ${done} agents, ${Math.round(blocks.at(-1).rate)}/s in the last ${options.block}`)
      }
    }
  }
  await Promise.all(Array.from({ length: options.clients }, client))
  const seconds = (performance.now() - t0) / 1000
  return {
    created: done,
    failed,
    firstFailure,
    seconds,
    rate: done / seconds,
    blocks,
    complete: done === options.agents,
  }
}

/** The documents `apply` writes: humans, agents they sponsor, and entities of one declared type. */
function applyDocuments(count) {
  const docs = [{ kind: 'EntityType', id: 'bench_record', attributes: { owner: { type: 'String' } } }]
  const humans = Math.max(1, Math.floor(count / 5))
  const entities = Math.floor(count / 5)
  for (let i = 0; i < humans && docs.length < count; i++)
    docs.push({ kind: 'Human', id: `bench-human-${i}`, email: `bench-human-${i}@example.com` })
  for (let i = 0; i < entities && docs.length < count; i++)
    docs.push({ kind: 'Entity', id: `bench_record:${i}`, attributes: { owner: `bench-human-${i % humans}` } })
  for (let i = 0; docs.length < count; i++)
    docs.push({
      kind: 'Agent',
      id: `bench-applied-${i}`,
      sponsor: `bench-human-${i % humans}`,
      classification: 'delegated',
      ceiling: ['bench:read'],
    })
  return docs
}

/** Runs `mandate apply -f` on the documents, timed from start to exit. */
function applyWithCli(base, token, file) {
  return new Promise((resolveRun) => {
    const t0 = performance.now()
    execFile(
      process.execPath,
      ['packages/server/bin/mandate.js', 'apply', '-f', file, '--json'],
      {
        cwd: repoRoot,
        env: { ...process.env, MANDATE_URL: base, MANDATE_TOKEN: token },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const seconds = (performance.now() - t0) / 1000
        let result
        try {
          result = JSON.parse(stdout)
        } catch {
          result = undefined
        }
        resolveRun({
          ok: !error && result?.applied === true,
          seconds,
          created: result?.created,
          ...(error ? { error: `${error.message}\n${stderr.slice(-2000)}` } : {}),
        })
      },
    )
  })
}

async function main() {
  const options = parseOptions()
  pinSelf()
  agent = new Agent({ keepAlive: true, maxSockets: options.clients })
  const dataDir = mkdtempSync(join(options.dataDir, 'mandate-bench-registry-'))
  const masterKey = randomBytes(32).toString('base64')
  const bootstrap = randomBytes(32).toString('base64url')
  const figures = { agents: options.agents, clients: options.clients }
  let node
  try {
    node = await startNode(options, dataDir, masterKey, bootstrap, 'mandate')
    const sponsor = await call(node.base, bootstrap, 'PUT', `/api/v1/humans/${SPONSOR}`, {})
    if (sponsor.status >= 300) throw new Error(`PUT human answered ${sponsor.status}: ${sponsor.text}`)
    log(`creating ${options.agents} agents with ${options.clients} clients`)
    const cpu0 = processCpuSeconds(node.server.child.pid)
    const busy0 = cpuBusySeconds()[SERVER_CPU]
    figures.create = await createAgents(options, node.base, bootstrap)
    const cpu = processCpuSeconds(node.server.child.pid) - cpu0
    // The node's CPU time per agent is what the machine's other load changes least; `other` is the share of the
    // node's core that other processes took meanwhile (a contended run when it is more than a few percent).
    figures.create.server_cpu_ms_per_agent = (cpu * 1000) / Math.max(1, figures.create.created)
    figures.create.other_cpu0 =
      Math.max(0, (cpuBusySeconds()[SERVER_CPU] ?? 0) - (busy0 ?? 0) - cpu) / figures.create.seconds
    figures.rss_after_create_mib = rssMiB(node.server.child.pid)
    await node.server.stop()
    node = undefined

    const starts = []
    for (let i = 0; i < Math.max(1, options.restarts); i++) {
      node = await startNode(options, dataDir, masterKey, bootstrap, `mandate-restart-${i}`)
      starts.push(node.startMs)
      log(`  start-up with ${figures.create.created} agents: ${Math.round(node.startMs)} ms`)
      if (i < Math.max(1, options.restarts) - 1) {
        await node.server.stop()
        node = undefined
      }
    }
    figures.startup_ms = median(starts)
    figures.startup_runs_ms = starts
    figures.rss_after_start_mib = rssMiB(node.server.child.pid)

    if (options.apply > 0) {
      const file = join(dataDir, 'apply.json')
      writeFileSync(file, JSON.stringify(applyDocuments(options.apply)))
      log(`mandate apply -f of ${options.apply} documents`)
      figures.apply = { documents: options.apply, ...(await applyWithCli(node.base, bootstrap, file)) }
    }
  } finally {
    await node?.server.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
  print(options, figures)
  const ok = figures.create.failed === 0 && (figures.apply?.ok ?? true)
  process.exitCode = ok ? 0 : 1
}

function print(options, figures) {
  if (options.json) {
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`)
    return
  }
  const c = figures.create
  const out = []
  out.push(
    `agents created through POST /api/v1/agents, ${options.clients} clients (SQLite, synchronous=FULL)`,
  )
  out.push(
    `  ${c.created} created${c.complete ? '' : ` of ${options.agents} (stopped at --max-seconds)`} in ${c.seconds.toFixed(1)} s: ${Math.round(c.rate)}/s overall`,
  )
  out.push(
    `  node CPU per agent: ${c.server_cpu_ms_per_agent.toFixed(3)} ms; other processes took ${(c.other_cpu0 * 100).toFixed(0)}% of the node's core${c.other_cpu0 > 0.1 ? ' (CONTENDED: rates too low)' : ''}`,
  )
  if (c.failed > 0) out.push(`  FAILED: ${c.failed} requests, first: ${c.firstFailure}`)
  for (const b of c.blocks) out.push(`  through ${String(b.through).padStart(8)}: ${Math.round(b.rate)}/s`)
  out.push(`node RSS after the creates: ${figures.rss_after_create_mib.toFixed(0)} MiB`)
  out.push(
    `start-up with ${c.created} agents: ${Math.round(figures.startup_ms)} ms (median of ${figures.startup_runs_ms.length}), RSS after start ${figures.rss_after_start_mib.toFixed(0)} MiB`,
  )
  if (figures.apply)
    out.push(
      figures.apply.ok
        ? `mandate apply -f of ${figures.apply.documents} documents in one transaction: ${figures.apply.seconds.toFixed(1)} s`
        : `mandate apply -f of ${figures.apply.documents} documents FAILED after ${figures.apply.seconds.toFixed(1)} s: ${figures.apply.error}`,
    )
  process.stdout.write(`${out.join('\n')}\n`)
}

await main()
