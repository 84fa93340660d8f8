#!/usr/bin/env node
// Token endpoint benchmark: Mandate against oidc-provider 9 and a bare node:http + jose reference, in one run.
//
// What is measured. Each target answers the same request, over loopback only (127.0.0.1):
//   POST <token endpoint>   Authorization: Basic base64(bench-bot:<secret>)
//   grant_type=client_credentials&scope=bench:read&resource=https://api.bench.example/
// and returns an ES256-signed RFC 9068 JWT access token (typ at+jwt, aud = the resource, scope bench:read).
//   mandate        `node packages/server/bin/mandate.js serve`, embedded SQLite store in a fresh temporary data
//                  directory; the scope decided by a Cedar policy, and two durable (synchronous=FULL, group-committed)
//                  audit records per token issued: the policy decision and the issuance.
//   mandate-exchange  the same node, a delegated agent exchanging a user's IdP token for a token (RFC 8693).
//   mandate-agents  the `mandate` request on a node whose store holds --agents more agents (default 100,000; 1,000
//                  sponsors; each with a classification, a ceiling and a client secret), seeded before the node starts
//                  through the registry in-process (bench/seed-agents.mjs, transactions of 10,000, as `mandate apply`
//                  writes them). For every Mandate node the benchmark also reports its start-up time (spawn to /readyz
//                  answering 200, asked every 10 ms), its RSS once ready and its peak RSS at the end.
//   oidc-provider  oidc-provider 9 (bench/targets/oidc-provider.mjs): client_secret_basic client, resource indicators
//                  with accessTokenFormat 'jwt', ES256 key. Stores nothing per JWT access token.
//   bare           node:http + jose (bench/targets/bare.mjs): parse the form, compare the Basic header with a constant,
//                  SignJWT ES256, answer JSON. What one Node.js core can do with no framework and no state.
//
// How. Each target runs as a child process pinned to CPU 0 (`taskset -c 0`); this process, which runs autocannon,
// pins itself to CPU 1, so the load generator never competes with the server for a core. Every target is started,
// set up, checked (one token, signature verified against the target's JWKS, claims checked) and warmed up (--warmup s,
// default 2); then the measurements run in rounds: --runs rounds (default 3), each measuring every target once, alone,
// for --duration s (default 10) with --connections (default 50) keep-alive connections and pipelining 1. Interleaving
// spreads slow drift of a shared machine over all targets. The idle targets wait on CPU 0 meanwhile, doing next to
// nothing. Defaults take about four minutes, seeding the 100,000 agents included (30-60 s on a quiet machine).
//
// How to read the output. One row per target: requests/s, p50 and p99 latency in ms, each the median over the runs
// (each metric's own median). `server cpu` is the server process's CPU use over the runs (100% = the whole pinned core,
// which is what a saturated single-process Node server shows; less when it waits, e.g. on fsync); `client cpu` is
// this process's (if it nears 100% the load generator, not the server, is the limit and the figures are a floor);
// `other cpu0/1` is the time CPU 0 (server's) and CPU 1 (client's) spent on anything else: other processes on a shared
// machine. A run with more than 10% of CPU 0 taken by others, or CPU 1 busier than 90%, is flagged CONTENDED and a
// warning follows the table: its figures are too low; run again on a quiet machine. Every response must be 200: non-200
// answers, socket errors and timeouts are counted, and a target with any in any run is marked INVALID. Below the table,
// Mandate's ratios: requests/s and latencies divided by oidc-provider's and by bare's (throughput ratio < 1 means
// Mandate serves fewer tokens per second; latency ratio > 1 means Mandate is slower), and mandate-agents/mandate: the
// same node with and without the agents. Then a table of the Mandate nodes' start-up times and memory.
//
// Usage: node bench/token.mjs [--duration 10] [--runs 3] [--warmup 2] [--connections 50]
//                             [--targets mandate,mandate-exchange,mandate-agents,oidc-provider,bare] [--agents N]
//                             [--data-dir DIR] [--cpu-prof DIR] [--json]
//   --data-dir DIR   parent of Mandate's temporary data directory (default: the OS temp dir). The audit record's fsync
//                    cost depends on the file system: a tmpfs (e.g. /dev/shm) makes fsync free.
//   --cpu-prof DIR   run the servers under `node --cpu-prof`, profiles in DIR/<target>/ (written when they stop; the
//                    main thread's is the largest file, others are loader or worker threads).
//   --json           print one JSON document with every run's figures instead of the table.
// Progress goes to stderr; results to stdout. Exit code 0 when every target was valid, 1 otherwise, 2 on usage errors.
import { spawn } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose'

import {
  CLIENT_BUSY,
  CLIENT_CPU,
  CONTENDED,
  freePort,
  inheritedEnv,
  load as loadRun,
  median,
  pinSelf,
  repoRoot,
  SERVER_CPU,
  spawnServer,
  waitReady,
} from './lib.mjs'

const CLIENT_ID = 'bench-bot'
const RESOURCE = 'https://api.bench.example/'
const SCOPE = 'bench:read'
const SPONSOR = 'bench@example.com'
const ALL_TARGETS = ['mandate', 'mandate-exchange', 'mandate-agents', 'oidc-provider', 'bare']
const EXCHANGE_AGENT = 'bench-assistant'
/** No set-up or check request waits longer than this, and seeding the agents no longer than SEED_TIMEOUT_MS. */
const SETUP_TIMEOUT_MS = 30_000
const SEED_TIMEOUT_MS = 15 * 60_000
const IDP = 'https://idp.bench.example'
const BENCH_POLICIES = `@id("autonomous")
permit (principal is agent, action == Action::"${SCOPE}", resource == resource_server::"bench")
when { context has mode && context.mode == "autonomous" && principal.classification != "delegated" };

@id("delegated")
permit (principal is agent, action == Action::"${SCOPE}", resource == resource_server::"bench")
when { context has mode && context.mode == "delegated" && context has delegator && context.delegator.status == "active" };
`

// ---------------------------------------------------------------------------------------------------------------
// Options

function usage(message, code = 2) {
  process.stderr.write(`${message}\n`)
  process.stderr.write(
    'usage: node bench/token.mjs [--duration S] [--runs N] [--warmup S] [--connections N] ' +
      '[--targets mandate,mandate-exchange,mandate-agents,oidc-provider,bare] [--agents N] [--data-dir DIR] ' +
      '[--cpu-prof DIR] [--json]\n',
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
        targets: { type: 'string', default: ALL_TARGETS.join(',') },
        agents: { type: 'string', default: '100000' },
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
    usage('Benchmarks the client_credentials token endpoint of Mandate, oidc-provider and a bare server.', 0)
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
    duration: integer('duration', 1, 300),
    runs: integer('runs', 1, 20),
    warmup: integer('warmup', 0, 60),
    connections: integer('connections', 1, 1000),
    agents: integer('agents', 0, 1000000),
    targets,
    dataDir: values['data-dir'] ? resolve(values['data-dir']) : tmpdir(),
    cpuProf: values['cpu-prof'] ? resolve(values['cpu-prof']) : undefined,
    json: values.json,
  }
}

/** One autocannon run of a target's token request. */
const load = (target, seconds, connections) =>
  loadRun(
    {
      ...target,
      request: {
        headers: { authorization: target.authorization, 'content-type': 'application/x-www-form-urlencoded' },
        body: target.body ?? FORM,
      },
    },
    seconds,
    connections,
  )

const log = (line) => process.stderr.write(`${line}\n`)

// ---------------------------------------------------------------------------------------------------------------
// Processes

// ---------------------------------------------------------------------------------------------------------------
// Targets: each starts its server and returns the token request to send and the JWKS to verify with.

const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`
const FORM = new URLSearchParams({
  grant_type: 'client_credentials',
  scope: SCOPE,
  resource: RESOURCE,
}).toString()

/**
 * Starts Mandate on a new data directory. `mode` is `client` (client_credentials), `exchange` (delegated token
 * exchange) or `agents` (client_credentials on a node whose store holds `options.agents` more agents, seeded before
 * it starts through the registry in-process, bench/seed-agents.mjs). Every mode reports the node's start-up time
 * (spawn to /readyz answering 200) and its resident memory once ready.
 */
async function startMandate(options, mode = 'client') {
  const port = await freePort()
  const dataDir = mkdtempSync(join(options.dataDir, 'mandate-bench-'))
  const bootstrap = randomBytes(32).toString('base64url')
  const base = `http://127.0.0.1:${port}`
  const env = {
    MANDATE_HOST: '127.0.0.1',
    MANDATE_PORT: String(port),
    MANDATE_DATA_DIR: dataDir,
    MANDATE_MASTER_KEY: randomBytes(32).toString('base64'),
    MANDATE_BOOTSTRAP_TOKEN: bootstrap,
    MANDATE_DEMO_DATA: 'off',
    MANDATE_LOG_LEVEL: 'warn',
  }
  let seeded
  if (mode === 'agents') {
    try {
      seeded = await seedAgents(env, options.agents)
    } catch (error) {
      rmSync(dataDir, { recursive: true, force: true })
      throw error
    }
  }
  const spawned = process.hrtime.bigint()
  const server = spawnServer('mandate', ['packages/server/bin/mandate.js', 'serve'], env, options.cpuProf)
  const cleanup = async () => {
    await server.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
  try {
    await waitReady(server, `${base}/readyz`, 'mandate', 10, 180_000)
    const node = {
      startup_s: Number(process.hrtime.bigint() - spawned) / 1e9,
      rss_ready_mib: memoryMiB(server.child.pid).rss,
      agents: (seeded?.agents ?? 0) + (mode === 'exchange' ? 2 : 1),
      ...(seeded ? { seed_s: seeded.seconds } : {}),
    }
    if (seeded) {
      log(
        `[mandate-agents] seeded ${seeded.agents} agents in ${seeded.seconds.toFixed(1)} s; ready in ${node.startup_s.toFixed(2)} s, RSS ${node.rss_ready_mib.toFixed(0)} MiB`,
      )
      return {
        server,
        dataDir,
        node,
        url: `${base}/oauth/token`,
        jwksUrl: `${base}/.well-known/jwks.json`,
        issuer: base,
        authorization: basic(CLIENT_ID, seeded.client_secret),
        cleanup,
      }
    }
    const put = async (path, body) => {
      const res = await fetch(`${base}${path}`, {
        signal: AbortSignal.timeout(SETUP_TIMEOUT_MS),
        method: 'PUT',
        headers: { authorization: `Bearer ${bootstrap}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      const text = await res.text()
      if (res.status >= 300) throw new Error(`mandate: PUT ${path} answered ${res.status}: ${text}`)
      return JSON.parse(text)
    }
    await put(`/api/v1/humans/${SPONSOR}`, {})
    await put('/api/v1/resource-servers/bench', { audience: RESOURCE, scopes: [SCOPE] })
    // Every scope is decided by policy (Cedar): one permit per mode, as the starter policies write them.
    await put('/api/v1/policies/bench', { policies: BENCH_POLICIES })
    const agent = await put(`/api/v1/agents/${CLIENT_ID}`, {
      sponsor: SPONSOR,
      classification: 'autonomous',
      ceiling: [SCOPE],
      credentials: [{ type: 'client_secret' }],
    })
    const secret = agent.issued_secrets?.[0]?.client_secret
    if (!secret) throw new Error('mandate: the agent was created without an issued client secret')
    if (mode === 'exchange')
      return {
        ...(await prepareExchange(put, base, `Bearer ${bootstrap}`)),
        server,
        dataDir,
        node,
        url: `${base}/oauth/token`,
        jwksUrl: `${base}/.well-known/jwks.json`,
        issuer: base,
        cleanup,
      }
    return {
      server,
      dataDir,
      node,
      url: `${base}/oauth/token`,
      jwksUrl: `${base}/.well-known/jwks.json`,
      issuer: base,
      authorization: basic(CLIENT_ID, secret),
      cleanup,
    }
  } catch (error) {
    await cleanup()
    throw error
  }
}

/** Seeds the store of `env`'s data directory with `count` agents and the benchmark's own objects; answers the
 * benchmark agent's client secret. */
async function seedAgents(env, count) {
  log(`[mandate-agents] seeding ${count} agents (registry in-process, transactions of 10,000)`)
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(repoRoot, 'bench/seed-agents.mjs'),
      '--data-dir',
      env.MANDATE_DATA_DIR,
      '--agents',
      String(count),
      '--client-id',
      CLIENT_ID,
      '--sponsor',
      SPONSOR,
      '--resource',
      RESOURCE,
      '--scope',
      SCOPE,
      '--policies',
      BENCH_POLICIES,
    ],
    { cwd: repoRoot, env: { ...inheritedEnv(), ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let out = ''
  child.stdout.on('data', (chunk) => {
    out += chunk
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), SEED_TIMEOUT_MS)
  const [code, signal] = await once(child, 'exit')
  clearTimeout(timer)
  if (code !== 0) throw new Error(`seeding ${count} agents failed (${signal ?? `exit code ${code}`})`)
  return JSON.parse(out)
}

/** Resident memory of a process, now and at its peak, in MiB (from /proc). */
function memoryMiB(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN)
    return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 }
  } catch {
    return { rss: Number.NaN, peak: Number.NaN }
  }
}

async function startScript(name, script, options) {
  const port = await freePort()
  const secret = randomBytes(32).toString('base64url')
  const base = `http://127.0.0.1:${port}`
  const server = spawnServer(
    name,
    [join(repoRoot, 'bench', 'targets', script)],
    {
      BENCH_PORT: String(port),
      BENCH_CLIENT_ID: CLIENT_ID,
      BENCH_CLIENT_SECRET: secret,
      BENCH_RESOURCE: RESOURCE,
      BENCH_SCOPE: SCOPE,
    },
    options.cpuProf,
  )
  const cleanup = () => server.stop()
  try {
    const ready = name === 'bare' ? `${base}/healthz` : `${base}/.well-known/openid-configuration`
    await waitReady(server, ready, name)
    return {
      server,
      url: `${base}/token`,
      jwksUrl: `${base}/jwks`,
      issuer: base,
      authorization: basic(CLIENT_ID, secret),
      cleanup,
    }
  } catch (error) {
    await cleanup()
    throw error
  }
}

// Delegated token exchange (RFC 8693): a delegated agent exchanges a user's token from the company IdP (one token,
// signed once, as a user session would present it) for a token for one action. Each answer waits for its durable
// audit record, with the human and the agent as the actor chain.
async function prepareExchange(put, base, admin) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'idp-1', alg: 'ES256' }
  await put('/api/v1/trusted-issuers/bench-idp', { issuer: IDP, type: 'human_idp', jwks: { keys: [jwk] } })
  // The IdP names the sponsor by a subject bound to them.
  await put(`/api/v1/humans/${SPONSOR}`, { identities: [{ issuer: IDP, subject: SPONSOR }] })
  const agent = await put(`/api/v1/agents/${EXCHANGE_AGENT}`, {
    sponsor: SPONSOR,
    classification: 'delegated',
    ceiling: [SCOPE],
    credentials: [{ type: 'client_secret' }],
  })
  // The human's grant to the agent: a delegated token needs a mandate covering the scope on the resource server.
  const mandate = await fetch(`${base}/api/v1/mandates`, {
    signal: AbortSignal.timeout(SETUP_TIMEOUT_MS),
    method: 'POST',
    headers: { authorization: admin, 'content-type': 'application/json' },
    body: JSON.stringify({
      human: SPONSOR,
      agent: EXCHANGE_AGENT,
      actions: [SCOPE],
      resource_servers: ['bench'],
      expires_at: new Date(Date.now() + 24 * 3600_000).toISOString(),
    }),
  })
  if (mandate.status !== 201)
    throw new Error(`mandate: POST /api/v1/mandates answered ${mandate.status}: ${await mandate.text()}`)
  const now = Math.floor(Date.now() / 1000)
  const subject = await new SignJWT({
    iss: IDP,
    sub: SPONSOR,
    aud: base,
    scope: SCOPE,
    iat: now,
    exp: now + 3600,
  })
    .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
    .sign(privateKey)
  return {
    authorization: basic(EXCHANGE_AGENT, agent.issued_secrets[0].client_secret),
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: subject,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      scope: SCOPE,
      resource: RESOURCE,
    }).toString(),
    expect: { sub: SPONSOR, client_id: EXCHANGE_AGENT },
  }
}

const starters = {
  mandate: startMandate,
  'mandate-exchange': (options) => startMandate(options, 'exchange'),
  'mandate-agents': (options) => startMandate(options, 'agents'),
  'oidc-provider': (options) => startScript('oidc-provider', 'oidc-provider.mjs', options),
  bare: (options) => startScript('bare', 'bare.mjs', options),
}

/** Gets one token and checks it: 200, Bearer, ES256 at+jwt verified against the target's JWKS, aud, scope, client. */
async function checkToken(target) {
  const res = await fetch(target.url, {
    signal: AbortSignal.timeout(SETUP_TIMEOUT_MS),
    method: 'POST',
    headers: { authorization: target.authorization, 'content-type': 'application/x-www-form-urlencoded' },
    body: target.body ?? FORM,
  })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`token request answered ${res.status}: ${text}`)
  const body = JSON.parse(text)
  if (typeof body.access_token !== 'string' || !/^bearer$/i.test(body.token_type))
    throw new Error(`not a Bearer token response: ${text}`)
  const jwks = await (await fetch(target.jwksUrl, { signal: AbortSignal.timeout(SETUP_TIMEOUT_MS) })).json()
  const { payload, protectedHeader } = await jwtVerify(body.access_token, createLocalJWKSet(jwks), {
    issuer: target.issuer,
    audience: RESOURCE,
    algorithms: ['ES256'],
    typ: 'at+jwt',
  })
  if (payload.scope !== SCOPE)
    throw new Error(`token scope is ${JSON.stringify(payload.scope)}, not ${SCOPE}`)
  const expect = target.expect ?? { sub: CLIENT_ID, client_id: CLIENT_ID }
  if (payload.client_id !== expect.client_id || payload.sub !== expect.sub)
    throw new Error(
      `token client_id/sub are ${payload.client_id}/${payload.sub}, not ${expect.client_id}/${expect.sub}`,
    )
  if (typeof payload.exp !== 'number' || typeof payload.jti !== 'string')
    throw new Error('token lacks exp or jti')
  return {
    header: protectedHeader ?? decodeProtectedHeader(body.access_token),
    claims: Object.keys(payload).sort(),
    expires_in: body.expires_in,
    token_bytes: body.access_token.length,
    response_bytes: Buffer.byteLength(text),
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Load

/** Targets started and not yet stopped, stopped (and their data removed) if this process is interrupted. */
const live = new Set()

function failed(name, error) {
  if (error.cause) log(String(error.cause))
  log(`[${name}] FAILED: ${error.stack ?? error}`)
  return { target: name, failure: String(error.message ?? error) }
}

/** Starts a target, checks one token and warms it up. */
async function prepare(name, options) {
  log(`[${name}] starting`)
  const target = await starters[name](options)
  live.add(target)
  try {
    const check = await checkToken(target)
    log(
      `[${name}] token ok: ${check.header.alg} ${check.header.typ}, claims ${check.claims.join(' ')}, ${check.token_bytes} bytes`,
    )
    if (options.warmup > 0) {
      const warm = await load(target, options.warmup, options.connections)
      log(`[${name}] warm-up ${options.warmup} s: ${Math.round(warm.rps)} req/s`)
    }
    return { name, target, check, runs: [] }
  } catch (error) {
    live.delete(target)
    await target.cleanup()
    throw error
  }
}

function summarize(entry) {
  if (entry.failure) {
    return {
      target: entry.target,
      valid: false,
      failure: entry.failure,
      ...Object.fromEntries(
        ['rps', 'p50', 'p99', 'server_cpu', 'client_cpu', 'other_cpu0', 'other_cpu1'].map((k) => [
          k,
          Number.NaN,
        ]),
      ),
      contended_runs: 0,
      non200: 0,
      errors: 0,
      timeouts: 0,
      runs: entry.runs ?? [],
    }
  }
  const { runs } = entry
  const sum = (key) => runs.reduce((n, r) => n + r[key], 0)
  return {
    target: entry.name,
    valid: sum('non200') + sum('errors') + sum('timeouts') === 0,
    check: entry.check,
    node: entry.target?.node,
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    server_cpu: median(runs.map((r) => r.server_cpu)),
    client_cpu: median(runs.map((r) => r.client_cpu)),
    other_cpu0: median(runs.map((r) => r.other_cpu0)),
    other_cpu1: median(runs.map((r) => r.other_cpu1)),
    contended_runs: runs.filter((r) => r.contended).length,
    non200: sum('non200'),
    errors: sum('errors'),
    timeouts: sum('timeouts'),
    runs,
  }
}

/**
 * Starts, checks and warms up every target, then measures them in rounds (round i runs each target once), so that a
 * slow drift of the machine (other tenants, disk, frequency) spreads over all targets instead of favouring one.
 * Idle targets stay up between their runs; they do next to nothing while idle.
 */
async function benchAll(options) {
  const entries = []
  try {
    for (const name of options.targets) {
      try {
        entries.push(await prepare(name, options))
      } catch (error) {
        entries.push(failed(name, error))
      }
    }
    for (let i = 1; i <= options.runs; i++) {
      for (const entry of entries) {
        if (entry.failure) continue
        const { name, target } = entry
        const run = await load(target, options.duration, options.connections)
        entry.runs.push(run)
        log(
          `[${name}] run ${i}/${options.runs}: ${Math.round(run.rps)} req/s, p50 ${run.p50.toFixed(2)} ms, ` +
            `p99 ${run.p99.toFixed(2)} ms, non-200 ${run.non200}, errors ${run.errors}, timeouts ${run.timeouts}, ` +
            `server cpu ${pctText(run.server_cpu)}, client cpu ${pctText(run.client_cpu)}, ` +
            `other cpu0/1 ${pctText(run.other_cpu0)}/${pctText(run.other_cpu1)}${run.contended ? ' CONTENDED' : ''}`,
        )
        if (target.server.exited) {
          const error = new Error(`${name} exited during run ${i} (its output is above)`, {
            cause: target.server.output(),
          })
          Object.assign(entry, failed(name, error), { runs: entry.runs })
          live.delete(target)
          await target.cleanup()
        }
      }
    }
  } finally {
    for (const entry of entries) {
      if (!entry.target?.cleanup || !live.has(entry.target)) continue
      if (entry.target.node) entry.target.node.rss_peak_mib = memoryMiB(entry.target.server.child.pid).peak
      live.delete(entry.target)
      await entry.target.cleanup()
      log(`[${entry.name}] stopped`)
    }
  }
  return entries.map(summarize)
}

// ---------------------------------------------------------------------------------------------------------------
// Report

const num = (x, digits) => (Number.isNaN(x) ? '-' : x.toFixed(digits))
const pctText = (x) => (Number.isNaN(x) ? '-' : `${Math.round(x * 100)}%`)
const ratio = (a, b) => (a && b ? a / b : Number.NaN)

function ratios(results) {
  const by = Object.fromEntries(results.map((r) => [r.target, r]))
  const out = {}
  for (const mine of ['mandate', 'mandate-exchange', 'mandate-agents']) {
    for (const other of ['oidc-provider', 'bare', ...(mine === 'mandate-agents' ? ['mandate'] : [])]) {
      if (!by[mine] || !by[other]) continue
      out[`${mine}/${other}`] = {
        rps: ratio(by[mine].rps, by[other].rps),
        p50: ratio(by[mine].p50, by[other].p50),
        p99: ratio(by[mine].p99, by[other].p99),
      }
    }
  }
  return out
}

function printTable(results, options, elapsed) {
  const rows = [
    [
      'target',
      'req/s',
      'p50 ms',
      'p99 ms',
      'non-200',
      'errors',
      'timeouts',
      'server cpu',
      'client cpu',
      'other cpu0/1',
      'status',
    ],
    ...results.map((r) => [
      r.target,
      num(r.rps, 0),
      num(r.p50, 2),
      num(r.p99, 2),
      String(r.non200),
      String(r.errors),
      String(r.timeouts),
      pctText(r.server_cpu),
      pctText(r.client_cpu),
      `${pctText(r.other_cpu0)}/${pctText(r.other_cpu1)}`,
      r.failure ? 'FAILED' : r.valid ? 'valid' : 'INVALID',
    ]),
  ]
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)))
  const line = (row) =>
    row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')
  const out = [
    '',
    `Token endpoint, client_credentials + resource + ES256 JWT, client_secret_basic; loopback; server on CPU ${SERVER_CPU}, autocannon on CPU ${CLIENT_CPU}`,
    `${options.connections} connections, pipelining 1, warm-up ${options.warmup} s, ${options.runs} rounds x ${options.duration} s per target, medians of the runs; Node ${process.version}`,
    '',
    line(rows[0]),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.slice(1).map(line),
    '',
  ]
  for (const [pair, r] of Object.entries(ratios(results)))
    out.push(`${pair.padEnd(29)}  req/s x${num(r.rps, 2)}   p50 x${num(r.p50, 2)}   p99 x${num(r.p99, 2)}`)
  const nodes = results.filter((r) => r.node)
  if (nodes.length > 0) {
    out.push('', 'Mandate nodes: start-up (spawn to /readyz 200) and resident memory (RSS)')
    out.push('target            agents   start-up s   RSS at ready MiB   peak RSS MiB')
    for (const r of nodes)
      out.push(
        `${r.target.padEnd(16)}  ${String(r.node.agents).padStart(6)}   ${num(r.node.startup_s, 2).padStart(10)}   ${num(r.node.rss_ready_mib, 0).padStart(16)}   ${num(r.node.rss_peak_mib ?? Number.NaN, 0).padStart(12)}`,
      )
    const small = nodes.find((r) => r.target === 'mandate')?.node
    const large = nodes.find((r) => r.target === 'mandate-agents')?.node
    if (large?.seed_s)
      out.push(
        `mandate-agents seeded before start-up in ${num(large.seed_s, 1)} s (${num((large.agents - 1) / large.seed_s, 0)} agents/s; registry in-process, transactions of 10,000)`,
      )
    if (small && large)
      out.push(
        `mandate-agents/mandate  start-up x${num(large.startup_s / small.startup_s, 2)}   RSS at ready x${num(large.rss_ready_mib / small.rss_ready_mib, 2)}`,
      )
  }
  for (const r of results.filter((r) => !r.valid)) {
    if (r.failure) {
      out.push(`${r.target} FAILED: ${r.failure.split('\n')[0]}`)
      continue
    }
    const statuses = {}
    for (const run of r.runs)
      for (const [code, count] of Object.entries(run.statuses))
        if (code !== '200') statuses[code] = (statuses[code] ?? 0) + count
    const codes = Object.entries(statuses).map(([code, count]) => `${code} x${count}`)
    out.push(
      `${r.target} INVALID: ${r.non200} non-200 answers${codes.length ? ` (${codes.join(', ')})` : ''}, ` +
        `${r.errors} errors, ${r.timeouts} timeouts over ${r.runs.length} runs`,
    )
  }
  const contended = results.filter((r) => r.contended_runs > 0)
  if (contended.length > 0)
    out.push(
      '',
      `WARNING: contended runs (other processes on CPU ${SERVER_CPU} above ${pctText(CONTENDED)}, or CPU ${CLIENT_CPU} ` +
        `above ${pctText(CLIENT_BUSY)} busy): ${contended.map((r) => `${r.target} ${r.contended_runs}/${r.runs.length}`).join(', ')}.`,
      'Their figures are too low and noisy; run again on a quiet machine.',
    )
  out.push('', `total time ${Math.round(elapsed)} s`)
  process.stdout.write(`${out.join('\n')}\n`)
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  const options = parseOptions()
  const started = Date.now()
  pinSelf()
  for (const signal of ['SIGINT', 'SIGTERM'])
    process.once(signal, () => {
      log(`interrupted (${signal}): stopping`)
      void Promise.allSettled([...live].map((target) => target.cleanup())).finally(() => process.exit(130))
    })
  const results = await benchAll(options)
  const elapsed = (Date.now() - started) / 1000
  if (options.json) {
    const clean = (value) => JSON.parse(JSON.stringify(value, (_k, v) => (Number.isNaN(v) ? null : v)))
    const doc = {
      benchmark: 'token-endpoint',
      request: {
        grant_type: 'client_credentials',
        scope: SCOPE,
        resource: RESOURCE,
        client_auth: 'client_secret_basic',
      },
      settings: {
        duration_s: options.duration,
        runs: options.runs,
        warmup_s: options.warmup,
        connections: options.connections,
        pipelining: 1,
        server_cpu: Number(SERVER_CPU),
        client_cpu: Number(CLIENT_CPU),
        node: process.version,
        mandate_data_dir_parent: options.dataDir,
      },
      results,
      ratios: ratios(results),
      elapsed_s: elapsed,
    }
    process.stdout.write(`${JSON.stringify(clean(doc), null, 2)}\n`)
  } else {
    printTable(results, options, elapsed)
  }
  process.exitCode = results.every((r) => r.valid) ? 0 : 1
}

await main()
