// Shared by the benchmarks: pinning to cores, starting servers on a core, CPU accounting from /proc, and one
// autocannon run with sub-millisecond latencies. Linux only (taskset, /proc).
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { availableParallelism } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const SERVER_CPU = '0'
export const CLIENT_CPU = '1'
/** A run is contended when others used more than this share of the server's core, or when the client's core was
 * busier than CLIENT_BUSY altogether (see the other_cpu figures). */
export const CONTENDED = 0.1
export const CLIENT_BUSY = 0.9

/** Pins this process (every thread, and so the threads it starts later) to the client core. */
export function pinSelf() {
  if (availableParallelism() < 2)
    throw new Error('this benchmark needs two CPUs (one for the server, one for the client)')
  execFileSync('taskset', ['-a', '-p', '-c', CLIENT_CPU, String(process.pid)], { stdio: 'ignore' })
}

/** A free loopback port (bound then released: another process could take it in between, which is unlikely here). */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolvePort(port))
    })
  })
}

/** This process's environment without Mandate's settings, so that none of the caller's leaks into a target. */
export function inheritedEnv() {
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('MANDATE_') && key !== 'DATABASE_URL'),
  )
}

/** Starts `node <args>` (or `command <args>`) pinned to the server core; its output is kept (last 64 KiB) to show if it fails. */
export function spawnServer(name, args, env, cpuProf, command = process.execPath) {
  const nodeArgs = cpuProf
    ? // One directory per target; Node names each thread's profile (the ESM loader thread has its own).
      ['--cpu-prof', `--cpu-prof-dir=${join(cpuProf, name)}`]
    : []
  const child = spawn(
    'taskset',
    ['-c', SERVER_CPU, command, ...(command === process.execPath ? nodeArgs : []), ...args],
    {
      cwd: repoRoot,
      env: { ...inheritedEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-65536)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  let exited = false
  const exit = new Promise((resolveExit) =>
    child.once('exit', (code, signal) => {
      exited = true
      resolveExit({ code, signal })
    }),
  )
  return {
    child,
    get exited() {
      return exited
    },
    output: () => output,
    async stop() {
      if (exited) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exit
      clearTimeout(timer)
    },
  }
}

/** Waits until `url` answers 200 (or the server exits, or `timeoutMs` pass), asking every `intervalMs`. */
export async function waitReady(server, url, name, intervalMs = 100, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (server.exited)
      throw new Error(`${name} exited before it was ready (its output is above)`, { cause: server.output() })
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) })
      await res.arrayBuffer()
      if (res.status === 200) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  throw new Error(`${name} was not ready within ${timeoutMs / 1000} s (its output is above)`, {
    cause: server.output(),
  })
}

/** CPU time (user + system) of a process so far, in seconds, from /proc. */
export function processCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name; clock ticks of 1/100 s.
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

/** Busy time (all but idle and iowait) of each CPU so far, in seconds, from /proc/stat. */
export function cpuBusySeconds() {
  const busy = {}
  try {
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const match = /^cpu(\d+) (.*)$/.exec(line)
      if (!match) continue
      const [user, nice, system, , , irq, softirq, steal] = match[2].trim().split(/\s+/).map(Number)
      busy[match[1]] = (user + nice + system + irq + softirq + steal) / 100
    }
  } catch {
    // not Linux: no contention figure
  }
  return busy
}

/** One autocannon run; latencies are collected per response with sub-millisecond precision (autocannon's own
 * histogram keeps whole milliseconds). Only 200 responses count towards latency. */
export function load(target, seconds, connections) {
  return new Promise((resolveRun, reject) => {
    const latencies = []
    const serverCpu0 = processCpuSeconds(target.server.child.pid)
    const clientCpu0 = process.cpuUsage()
    const busy0 = cpuBusySeconds()
    const wall0 = process.hrtime.bigint()
    const instance = autocannon(
      {
        url: target.url,
        method: 'POST',
        ...target.request,
        connections,
        pipelining: 1,
        duration: seconds,
        timeout: 10,
      },
      (error, result) => {
        if (error) return reject(error)
        const wall = Number(process.hrtime.bigint() - wall0) / 1e9
        const clientCpu = process.cpuUsage(clientCpu0)
        const serverCpu = processCpuSeconds(target.server.child.pid) - serverCpu0
        const busy1 = cpuBusySeconds()
        const busy = (cpu) => (busy1[cpu] ?? Number.NaN) - (busy0[cpu] ?? Number.NaN)
        const clientSeconds = (clientCpu.user + clientCpu.system) / 1e6
        // CPU time on each benchmark core that neither the server nor the client used: other processes, and the
        // kernel's loopback work charged to neither. A few percent is normal; much more means a contended run.
        const otherServerCore = Math.max(0, busy(SERVER_CPU) - serverCpu) / wall
        const otherClientCore = Math.max(0, busy(CLIENT_CPU) - clientSeconds) / wall
        const sorted = Float64Array.from(latencies).sort()
        const pct = (p) =>
          sorted.length
            ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
            : Number.NaN
        let ok = 0
        let non200 = 0
        const statuses = {}
        for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) {
          statuses[code] = count
          if (code === '200') ok += count
          else non200 += count
        }
        resolveRun({
          seconds: result.duration,
          requests: result.requests.total,
          ok,
          rps: ok / result.duration,
          p50: pct(50),
          p99: pct(99),
          max: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
          non200,
          statuses,
          errors: result.errors,
          timeouts: result.timeouts,
          resets: result.resets,
          server_cpu: serverCpu / wall,
          client_cpu: clientSeconds / wall,
          other_cpu0: otherServerCore,
          other_cpu1: otherClientCore,
          contended: otherServerCore > CONTENDED || clientSeconds / wall + otherClientCore > CLIENT_BUSY,
        })
      },
    )
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode === 200) latencies.push(responseTime)
    })
  })
}

export const median = (values) => {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** mulberry32: a small seeded generator, so that every run benchmarks the same model and requests. */
export function random(seed) {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
