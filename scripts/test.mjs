// Runs every test file of every package with node:test (through tsx) and ends with the runner's summary.
// The store suites run on SQLite and on PostgreSQL at TEST_DATABASE_URL (default: the local server's `test` database).
// The node and the tests use @mandate/sdk as published, compiled; it is rebuilt first when its sources changed.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

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
const env = {
  ...process.env,
  TEST_DATABASE_URL: process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  MANDATE_LOG_LEVEL: 'silent',
}
console.log(
  `running ${files.length} test files; PostgreSQL at ${env.TEST_DATABASE_URL.replace(/\/\/[^@]*@/, '//…@')}`,
)
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env,
})
process.exit(result.status ?? 1)
