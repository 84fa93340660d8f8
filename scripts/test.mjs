// Runs every test file of every package with node:test (through tsx) and ends with the runner's summary.
// The store suites run on SQLite and on PostgreSQL: TEST_DATABASE_URL if set (`embedded` asks for the embedded
// server), else the local server at 127.0.0.1:5432 if it answers, else an embedded PostgreSQL started for the run.
// The node and the tests use @mandate/sdk as published, compiled; it is rebuilt first when its sources changed.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { availableParallelism, constants } from 'node:os'
import { join } from 'node:path'
import { postgresForTests } from './test-postgres.mjs'

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : find(path)
    return name.endsWith('.test.ts') ? [path] : []
  })
}

const build = spawnSync(process.execPath, ['packages/sdk/scripts/build.mjs', '--if-stale'], {
  stdio: 'inherit',
})
if (build.status !== 0) process.exit(build.status ?? 1)

const only = process.argv.slice(2)
const files =
  only.length > 0
    ? only
    : ['packages/sdk/test', 'packages/server/test']
        .filter((d) => existsSync(d))
        .flatMap((d) => find(d))
        .sort()

let postgres
try {
  postgres = await postgresForTests(process.env, (line) => console.log(line))
} catch (error) {
  console.error(`PostgreSQL for the tests: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}
const env = { ...process.env, TEST_DATABASE_URL: postgres.url, MANDATE_LOG_LEVEL: 'silent' }
console.log(
  `running ${files.length} test files on Node.js ${process.version}; ` +
    `PostgreSQL at ${postgres.url.replace(/\/\/[^@]*@/, '//…@')}`,
)

// Test files run in parallel: most of their time is spent waiting (fsync, loopback HTTP, child processes), so a few
// more than the cores keep them busy. MANDATE_TEST_CONCURRENCY overrides it (1 runs them one by one).
const concurrency = Number(process.env.MANDATE_TEST_CONCURRENCY ?? Math.max(2, availableParallelism() * 2))
const runner = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, ...files],
  {
    stdio: 'inherit',
    env,
  },
)
// A signal sent to this process alone (not to the terminal's process group) reaches the runner too; either way the
// embedded server is stopped and its directory removed before this process ends.
let signalled
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    signalled ??= signal
    runner.kill(signal)
  })
}
const status = await new Promise((resolve) => {
  runner.once('exit', (code) => resolve(code ?? 1))
  runner.once('error', (error) => {
    console.error(error)
    resolve(1)
  })
})
await postgres.stop()
process.exit(signalled ? 128 + constants.signals[signalled] : status)
