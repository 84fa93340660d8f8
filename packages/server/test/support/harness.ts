// Test harness: fresh stores (a temp SQLite file, or a fresh PostgreSQL schema that is dropped afterwards) and nodes
// listening on loopback with random ports.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { loadConfig } from '../../src/config/load.ts'
import type { Config } from '../../src/config/schema.ts'
import { type MandateNode, startNode } from '../../src/main.ts'

/** A store to run a suite against. */
export interface TestStore {
  name: 'sqlite' | 'postgres'
  /** Config overrides that point a node at this store. */
  settings: Partial<Record<keyof Config, unknown>>
  /** Removes everything the store wrote. */
  drop(): Promise<void>
}

/** The PostgreSQL URL the suite runs against. Required: PostgreSQL is tested, not optional. */
export function postgresUrl(): string {
  const url = process.env.TEST_DATABASE_URL
  if (!url) throw new Error('TEST_DATABASE_URL is not set; run the tests with npm test')
  return url
}

/** A temp directory removed by `drop`. */
export function tempDir(): { path: string; drop: () => void } {
  const path = mkdtempSync(join(tmpdir(), 'mandate-test-'))
  return { path, drop: () => rmSync(path, { recursive: true, force: true }) }
}

/** A fresh SQLite store in a temp directory. */
export function sqliteStore(): TestStore {
  const dir = tempDir()
  return { name: 'sqlite', settings: { dataDir: dir.path }, drop: async () => dir.drop() }
}

/** A fresh PostgreSQL schema, dropped with everything in it by `drop`. */
export function postgresStore(): TestStore {
  const schema = `mandate_test_${randomBytes(6).toString('hex')}`
  const dir = tempDir()
  return {
    name: 'postgres',
    settings: { databaseUrl: postgresUrl(), databaseSchema: schema, dataDir: dir.path },
    drop: async () => {
      dir.drop()
      const client = new pg.Client({ connectionString: postgresUrl() })
      await client.connect()
      try {
        await client.query(`drop schema if exists ${schema} cascade`)
      } finally {
        await client.end()
      }
    },
  }
}

/** Both store kinds, for suites that must pass on each. */
export const storeKinds: Array<{ name: 'sqlite' | 'postgres'; create: () => TestStore }> = [
  { name: 'sqlite', create: sqliteStore },
  { name: 'postgres', create: postgresStore },
]

/** A random master key in its text form. */
export function newMasterKey(): string {
  return randomBytes(32).toString('base64')
}

/** A configuration for tests: loopback, random port, quiet, a fixed master key and admin token. */
export function testConfig(store: TestStore, overrides: Partial<Record<keyof Config, unknown>> = {}): Config {
  return loadConfig({
    env: {},
    overrides: {
      host: '127.0.0.1',
      port: 0,
      logLevel: 'silent',
      demoData: 'off',
      masterKey: newMasterKey(),
      bootstrapToken: `mnd_adm_${randomBytes(32).toString('base64url')}`,
      keyRotationSeconds: 0,
      // Suites send many failing requests from one address on purpose; the rate limit has its own tests.
      authFailureBurst: 0,
      ...store.settings,
      ...overrides,
    },
  })
}

/** A running test node with its admin token and a helper for JSON calls. */
export interface TestNode {
  node: MandateNode
  config: Config
  token: string
  /** Calls the node over real HTTP. */
  call(
    method: string,
    path: string,
    options?: { body?: unknown; raw?: string; token?: string | null; headers?: Record<string, string> },
  ): Promise<{
    status: number
    headers: Headers // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response bodies
    json: any
    text: string
  }>
  close(): Promise<void>
}

/** Starts a node on `store` and returns it with an HTTP helper; `now` sets the node's clock (epoch ms). */
export async function startTestNode(
  store: TestStore,
  overrides: Partial<Record<keyof Config, unknown>> = {},
  options: { now?: () => number } = {},
): Promise<TestNode> {
  const config = testConfig(store, overrides)
  const node = await startNode(config, options)
  const token = String(config.bootstrapToken)
  return {
    node,
    config,
    token,
    async call(method, path, options = {}) {
      const headers: Record<string, string> = { ...(options.headers ?? {}) }
      if (options.token !== null) headers.authorization = `Bearer ${options.token ?? token}`
      let body: string | undefined
      if (options.raw !== undefined) body = options.raw
      else if (options.body !== undefined) body = JSON.stringify(options.body)
      if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
        headers['content-type'] = 'application/json'
      const response = await fetch(`${node.url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
      })
      const text = await response.text()
      let json: unknown
      try {
        json = text ? JSON.parse(text) : undefined
      } catch {
        json = undefined
      }
      return { status: response.status, headers: response.headers, json, text }
    },
    close: () => node.close(),
  }
}
