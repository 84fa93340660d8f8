// Headless Chromium for page tests: playwright-core drives the browser that @sparticuz/chromium ships inside its npm
// package (unpacked to the temp directory on first use), so `npm install && npm test` needs nothing else. Where that
// binary cannot run, Debian's /usr/bin/chromium is used if present; MANDATE_TEST_CHROMIUM names another.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sparticuz from '@sparticuz/chromium'
import { type Browser, type BrowserContext, chromium } from 'playwright-core'

let launched: Promise<Browser> | undefined

// Not @sparticuz/chromium's own argument list: it is made for serverless functions (one process, web security off),
// and the tests need a browser that enforces what a user's browser enforces (same-origin policy, CSP, SameSite).
// Tests run as root in containers, where Chromium's sandbox cannot start.
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage']

// @sparticuz/chromium unpacks into the temp directory and reuses whatever file it finds there: test files running in
// parallel processes would launch each other's half-written binaries. Each process unpacks into a directory of its own,
// removed when it exits.
async function unpacked(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'mandate-chromium-'))
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  const previous = process.env.TMPDIR
  process.env.TMPDIR = dir
  try {
    return await sparticuz.executablePath()
  } finally {
    if (previous === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = previous
  }
}

async function executable(): Promise<string> {
  const chosen = process.env.MANDATE_TEST_CHROMIUM
  if (chosen) return chosen
  try {
    return await unpacked()
  } catch (error) {
    if (existsSync('/usr/bin/chromium')) return '/usr/bin/chromium'
    throw error
  }
}

/** The shared headless browser of this test process (launched on first use). */
export function browser(): Promise<Browser> {
  launched ??= (async () => {
    return chromium.launch({ executablePath: await executable(), args: ARGS, headless: true })
  })()
  return launched
}

/** A fresh browser context (its own cookies), for one user. */
export async function newContext(): Promise<BrowserContext> {
  return (await browser()).newContext()
}

/** Closes the shared browser; call it in the suite's `after`. */
export async function closeBrowser(): Promise<void> {
  const current = launched
  launched = undefined
  if (current) await (await current).close()
}
