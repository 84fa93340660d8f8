// Runs the `mandate` command as a child process, with an environment built from scratch: only PATH is kept, so that a
// developer's MANDATE_* or DATABASE_URL variables never reach the command under test.
import { spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { TestNode } from '../support/harness.ts'

/** The `mandate` entry point (loads the TypeScript sources through tsx). */
export const MANDATE_BIN = fileURLToPath(new URL('../../bin/mandate.js', import.meta.url))

/** How a command ended and what it printed. */
export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** A process environment with PATH and the given variables (undefined values left out). */
export function cliEnv(variables: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '' }
  for (const [name, value] of Object.entries(variables)) if (value !== undefined) env[name] = value
  return env
}

/** The environment of an admin command against a test node: its URL and admin token. */
export function adminEnv(
  test: TestNode,
  variables: Record<string, string | undefined> = {},
): Record<string, string> {
  return cliEnv({ MANDATE_URL: test.node.url, MANDATE_TOKEN: test.token, ...variables })
}

// A guard against a command that never ends (e.g. a `serve` that unexpectedly starts); not a timing assertion.
const HANG_GUARD_MS = 60_000

/** Runs `mandate ...args` to completion; `input` is written to its standard input. */
export function runCli(
  args: string[],
  options: { env: Record<string, string>; input?: string; cwd?: string },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MANDATE_BIN, ...args], {
      env: options.env,
      cwd: options.cwd ?? tmpdir(),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const guard = setTimeout(() => child.kill('SIGKILL'), HANG_GUARD_MS)
    child.on('error', (error) => {
      clearTimeout(guard)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(guard)
      resolve({ code, signal, stdout, stderr })
    })
    child.stdin.on('error', () => {})
    child.stdin.end(options.input ?? '')
  })
}

/** A running `mandate serve` process. */
export interface ServeProcess {
  /** The URL from the banner. */
  url: string
  /** Everything printed on stdout so far (the banner first). */
  stdout(): string
  stderr(): string
  /** Sends SIGTERM and waits for the process to end. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Sends `signal` (e.g. SIGKILL, which no handler sees) at once. */
  kill(signal: NodeJS.Signals): void
}

/**
 * Starts `mandate serve` and resolves once its banner is complete and it answered `/readyz`; rejects with its output
 * if it ends first. (The banner is printed before the SIGTERM handler is installed; an answered request proves the
 * start-up code has run to its end.)
 */
export function startServe(options: {
  env: Record<string, string>
  args?: string[]
  cwd?: string
}): Promise<ServeProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MANDATE_BIN, ...(options.args ?? []), 'serve'], {
      env: options.env,
      cwd: options.cwd ?? tmpdir(),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let started = false
    let ended = false
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      child.on('close', (code, signal) => done({ code, signal })),
    )
    const guard = setTimeout(() => child.kill('SIGKILL'), HANG_GUARD_MS)
    const fail = (reason: string) => {
      clearTimeout(guard)
      child.kill('SIGKILL')
      reject(new Error(`${reason}\nstdout:\n${stdout}\nstderr:\n${stderr}`))
    }
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      // The banner is written at once and ends with the admin API hint.
      const url = /is running at (http:\/\/\S+)/.exec(stdout)?.[1]
      if (started || url === undefined || !stdout.includes('for the admin API')) return
      started = true
      fetch(`${url}/readyz`).then(
        (response) => {
          if (ended) return
          if (response.status !== 200)
            return fail(`mandate serve is not ready: /readyz answered ${response.status}`)
          clearTimeout(guard)
          resolve({
            url,
            stdout: () => stdout,
            stderr: () => stderr,
            stop: async () => {
              if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
              return exited
            },
            kill: (signal) => {
              child.kill(signal)
            },
          })
        },
        (error: Error) => fail(`mandate serve did not answer /readyz: ${error.message}`),
      )
    })
    child.on('error', reject)
    void exited.then(({ code, signal }) => {
      ended = true
      clearTimeout(guard)
      reject(
        new Error(
          `mandate serve ended (code ${code}, signal ${signal}) before it was ready\nstdout:\n${stdout}\nstderr:\n${stderr}`,
        ),
      )
    })
  })
}

/**
 * Starts `mandate serve` and sends SIGTERM the moment the banner line arrives, as a supervisor may once the node says
 * it is running; resolves with how the process ended.
 */
export function serveAndStopAtBanner(options: {
  env: Record<string, string>
  cwd?: string
}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MANDATE_BIN, 'serve'], {
      env: options.env,
      cwd: options.cwd ?? tmpdir(),
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    let stdout = ''
    let signalled = false
    const guard = setTimeout(() => child.kill('SIGKILL'), HANG_GUARD_MS)
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      if (signalled || !stdout.includes('is running at')) return
      signalled = true
      child.kill('SIGTERM')
    })
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(guard)
      resolve({ code, signal, stdout })
    })
  })
}

/** Whether `text` holds a stack trace line. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at /m.test(text)
}
