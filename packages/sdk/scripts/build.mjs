// Builds @mandate/sdk with tsc: ES modules in dist/esm and CommonJS in dist/cjs, each with declarations.
// npm runs it on install (`prepare`), so a clone works without a manual step; `--if-stale` rebuilds only when a source
// or build setting is newer than the last build, for the repository's own scripts to call before they run.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const dist = join(root, 'dist')
// Written last, so it exists only after a complete build.
const stamp = join(dist, 'cjs', 'package.json')
const inputs = ['src', 'package.json', 'tsconfig.build.json', 'tsconfig.cjs.json', 'scripts/build.mjs']

function newestMtime(path) {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))))
}

function isStale() {
  if (!existsSync(stamp)) return true
  const built = statSync(stamp).mtimeMs
  return inputs.some((input) => newestMtime(join(root, input)) > built)
}

if (process.argv.includes('--if-stale') && !isStale()) process.exit(0)

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
rmSync(dist, { recursive: true, force: true })
for (const project of ['tsconfig.build.json', 'tsconfig.cjs.json']) {
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, project)], { stdio: 'inherit' })
  if (result.status !== 0) {
    rmSync(dist, { recursive: true, force: true })
    console.error(`@mandate/sdk: tsc -p ${project} failed`)
    process.exit(result.status ?? 1)
  }
}
// The package is "type": "module"; this marks the CommonJS build as such for Node.js and for TypeScript.
writeFileSync(stamp, '{ "type": "commonjs" }\n')
