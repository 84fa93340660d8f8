// Uses @mandate/sdk as an application would: packs it, installs the tarball (and jose, TypeScript and Node.js types
// from the registry) into a scratch project, starts a real Mandate node, and runs a plain ES module, a plain CommonJS
// script and a strict `tsc` (NodeNext, no skipLibCheck) over TypeScript in both module formats against it.
// Run by scripts/ci-sdk.sh; exits non-zero on the first failure.
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const consumer = join(root, 'scripts', 'sdk-consumer')
const scratch = mkdtempSync(join(tmpdir(), 'mandate-sdk-pack-'))
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
let node

function step(text) {
  console.log(`sdk-pack-test: ${text}`)
}

function run(command, args, options = {}) {
  return execFileSync(command, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...options })
}

// The tarball holds the build, README and LICENSE, and nothing a consumer cannot use (sources, build configuration).
function pack() {
  const [result] = JSON.parse(
    run(npm, ['pack', '--json', '--workspace', 'packages/sdk', '--pack-destination', scratch], { cwd: root }),
  )
  const files = result.files.map((f) => f.path)
  for (const needed of [
    'package.json',
    'README.md',
    'LICENSE',
    'dist/esm/index.js',
    'dist/esm/index.d.ts',
    'dist/cjs/index.js',
    'dist/cjs/index.d.ts',
    'dist/cjs/package.json',
    'dist/esm/resource-server/verify-access-token.js',
  ])
    if (!files.includes(needed)) throw new Error(`the tarball lacks ${needed}`)
  const stray = files.filter(
    (f) => f.startsWith('src/') || f.startsWith('scripts/') || f.startsWith('tsconfig'),
  )
  if (stray.length > 0) throw new Error(`the tarball holds files a consumer cannot use: ${stray.join(', ')}`)
  return join(scratch, result.filename)
}

function install(tarball) {
  const app = join(scratch, 'app')
  mkdirSync(app)
  cpSync(consumer, app, { recursive: true })
  writeFileSync(
    join(app, 'package.json'),
    `${JSON.stringify({ name: 'sdk-consumer', private: true }, null, 2)}\n`,
  )
  const devDependencies = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).devDependencies
  run(
    npm,
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--no-package-lock',
      tarball,
      // The application's own jose, as an application using JOSE directly has.
      'jose@6',
      `typescript@${devDependencies.typescript}`,
      `@types/node@${devDependencies['@types/node']}`,
    ],
    { cwd: app, stdio: ['ignore', 'inherit', 'inherit'] },
  )
  // One copy of jose: the SDK's range is satisfied by the application's, so npm installs no second one under it.
  if (existsSync(join(app, 'node_modules/@mandate/sdk/node_modules/jose')))
    throw new Error('the SDK got its own copy of jose')
  return app
}

// A node of this checkout on a free loopback port, with a known admin token, an empty store and no demo data.
async function startNode() {
  const data = join(scratch, 'data')
  const token = `mnd_adm_${randomBytes(32).toString('base64url')}`
  node = spawn(process.execPath, [join(root, 'packages/server/bin/mandate.js'), 'serve'], {
    env: {
      ...process.env,
      MANDATE_DATA_DIR: data,
      MANDATE_PORT: '0',
      MANDATE_BOOTSTRAP_TOKEN: token,
      MANDATE_DEMO_DATA: 'off',
      MANDATE_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => reject(new Error(`the node did not start in 180 s:\n${output}`)), 180_000)
    node.stdout.on('data', (chunk) => {
      output += chunk
      const match = /is running at (http:\/\/\S+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(match[1])
      }
    })
    node.on('exit', (code) => reject(new Error(`the node exited with ${code}:\n${output}`)))
  })
  node.stdout.resume()
  return { url, token }
}

try {
  step('packing @mandate/sdk')
  const tarball = pack()
  step(`installing ${tarball.split('/').pop()} into a scratch project`)
  const app = install(tarball)
  step('starting a Mandate node')
  const { url, token } = await startNode()
  const env = { ...process.env, MANDATE_URL: url, MANDATE_TOKEN: token }
  for (const script of ['use.mjs', 'use.cjs']) {
    step(`node ${script}`)
    run(process.execPath, [script], { cwd: app, env, stdio: ['ignore', 'inherit', 'inherit'] })
  }
  step('tsc --noEmit (strict, NodeNext) over check.mts and check.cts')
  run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
    cwd: app,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  step('passed')
} finally {
  node?.kill()
  rmSync(scratch, { recursive: true, force: true })
}
