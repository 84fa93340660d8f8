// `mandate serve` start-up: master key handling, configuration errors naming the setting, the first-start admin token
// and demo data. Every process gets an environment built from scratch.
import assert from 'node:assert/strict'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { newMasterKey, postgresStore, startTestNode, tempDir } from '../support/harness.ts'
import {
  cliEnv,
  hasStackTrace,
  runCli,
  type ServeProcess,
  serveAndStopAtBanner,
  startServe,
} from './run-cli.ts'

function serveEnv(
  dataDir: string,
  variables: Record<string, string | undefined> = {},
): Record<string, string> {
  return cliEnv({ MANDATE_PORT: '0', MANDATE_DATA_DIR: dataDir, MANDATE_LOG_LEVEL: 'silent', ...variables })
}

async function getJson(
  url: string,
  token?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {})
  return { status: response.status, json: (await response.json()) as Record<string, unknown> }
}

describe('mandate serve on a new embedded store without a master key', () => {
  const dir = tempDir()
  let first: ServeProcess | undefined
  let second: ServeProcess | undefined
  let token: string | undefined

  before(async () => {
    first = await startServe({ env: serveEnv(dir.path, { MANDATE_DEMO_DATA: 'auto' }), cwd: dir.path })
  })

  after(async () => {
    await first?.stop()
    await second?.stop()
    dir.drop()
  })

  it('generates master.key with mode 0600 and warns about it in the banner', () => {
    const file = join(dir.path, 'master.key')
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.equal(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64').length, 32)
    assert.ok(
      first?.stdout().includes(`WARNING: generated a master key in ${file} (mode 0600)`),
      first?.stdout(),
    )
  })

  it('prints a working admin token on the first start', async () => {
    token = /^ {4}export MANDATE_TOKEN=(mnd_adm_\S+)$/m.exec(first?.stdout() ?? '')?.[1]
    assert.ok(token, first?.stdout())
    assert.equal((await getJson(`${first?.url}/api/v1/keys`, token)).status, 200)
    assert.equal((await getJson(`${first?.url}/api/v1/keys`)).status, 401)
  })

  it('seeds the demo agents into the empty embedded store with MANDATE_DEMO_DATA=auto', async () => {
    assert.ok(token, 'the admin token of the first start')
    assert.match(first?.stdout() ?? '', /seeded 17 demo documents/)
    const agents = await getJson(`${first?.url}/api/v1/agents`, token)
    assert.equal(agents.status, 200)
    const ids = (agents.json.items as Array<{ id: string }>).map((a) => a.id).sort()
    assert.deepEqual(ids, ['care-assistant', 'care-scheduler', 'fraud-watch', 'support-bot'])
  })

  it("issue 8: the README's delegation walk-through works on the demo data: the demo IdP's token for Alice is exchanged for her, and Bob's first one binds him by verified email", async () => {
    assert.ok(token && first, 'the admin token and node of the first start')
    const url = first.url
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response bodies
      return { status: response.status, json: (await response.json()) as Record<string, any> }
    }
    const helper = await call('PUT', '/api/v1/agents/inbox-helper', {
      sponsor: 'alice@example.com',
      classification: 'delegated',
      ceiling: ['crm:read'],
      credentials: [{ type: 'client_secret' }],
    })
    assert.equal(helper.status, 201, JSON.stringify(helper.json))
    const secret = String(helper.json.issued_secrets[0].client_secret)
    // Each human's mandate for the agent, granted with the CLI: the IdP token alone grants nothing.
    for (const human of ['alice@example.com', 'bob@example.com']) {
      const granted = await runCli(
        [
          '--json',
          'mandates',
          'grant',
          '--human',
          human,
          '--agent',
          'inbox-helper',
          '--actions',
          'crm:read',
          '--resource-servers',
          'https://crm.example.com/',
          '--expires',
          '8h',
        ],
        { env: cliEnv({ MANDATE_URL: url, MANDATE_TOKEN: token }) },
      )
      assert.equal(granted.code, 0, granted.stderr)
      assert.match(JSON.parse(granted.stdout).id, /^mdt_/)
    }
    const exchange = async (human: string) => {
      const minted = await runCli(['demo', 'idp-token', human, '--scope', 'crm:read', '--audience', url], {
        env: serveEnv(dir.path),
        cwd: dir.path,
      })
      assert.equal(minted.code, 0, minted.stderr)
      const response = await fetch(`${url}/oauth/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`inbox-helper:${secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: minted.stdout.trim(),
          subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
          resource: 'https://crm.example.com/',
          scope: 'crm:read',
        }),
      })
      const answer = (await response.json()) as Record<string, unknown>
      assert.equal(response.status, 200, JSON.stringify(answer))
      return JSON.parse(Buffer.from(String(answer.access_token).split('.')[1] ?? '', 'base64url').toString())
    }
    const alice = await exchange('alice@example.com')
    assert.equal(alice.sub, 'alice@example.com')
    assert.deepEqual(alice.act, { sub: 'inbox-helper' })
    assert.equal((await call('GET', '/api/v1/humans/bob@example.com')).json.identities, undefined)
    assert.equal((await exchange('bob@example.com')).sub, 'bob@example.com')
    assert.equal(
      (await call('GET', '/api/v1/humans/bob@example.com')).json.identities[0].issuer,
      `${url}/dev-idp`,
    )
  })

  it('with MANDATE_PORT=0, names the port it listens on in the default issuer and the discovery metadata', async () => {
    const metadata = await getJson(`${first?.url}/.well-known/oauth-authorization-server`)
    assert.equal(metadata.json.issuer, first?.url)
    assert.equal(metadata.json.jwks_uri, `${first?.url}/.well-known/jwks.json`)
    assert.match(first?.stdout() ?? '', new RegExp(`issuer: ${first?.url}$`, 'm'))
  })

  it('stops on SIGTERM with exit code 0', async () => {
    assert.deepEqual(await first?.stop(), { code: 0, signal: null })
  })

  it('does not print an admin token, a key warning or seed again on the second start', async () => {
    second = await startServe({ env: serveEnv(dir.path, { MANDATE_DEMO_DATA: 'auto' }), cwd: dir.path })
    const banner = second.stdout()
    assert.doesNotMatch(banner, /MANDATE_TOKEN=|mnd_adm_/)
    // The data directory is not ./data, so the hint says the command needs this node's settings (issue 8).
    assert.match(banner, /Need an admin token\? Run, with this node's configuration: npx mandate admin token/)
    assert.doesNotMatch(banner, /WARNING|seeded/)
    assert.ok(banner.includes(`master key: ${join(dir.path, 'master.key')}`), banner)
    assert.ok(token, 'the admin token of the first start')
    assert.equal((await getJson(`${second.url}/api/v1/keys`, token)).status, 200)
  })
})

describe('mandate serve refuses to start', () => {
  const dirs: Array<ReturnType<typeof tempDir>> = []
  const newDir = () => {
    const dir = tempDir()
    dirs.push(dir)
    return dir.path
  }

  after(() => {
    for (const dir of dirs) dir.drop()
  })

  it('with a master key other than the one the store was created with: exit 78, without a stack trace or the keys', async () => {
    const dataDir = newDir()
    const original = newMasterKey()
    const other = newMasterKey()
    const first = await startServe({ env: serveEnv(dataDir, { MANDATE_MASTER_KEY: original }), cwd: dataDir })
    assert.equal((await first.stop()).code, 0)

    const result = await runCli(['serve'], {
      env: serveEnv(dataDir, { MANDATE_MASTER_KEY: other }),
      cwd: dataDir,
    })
    assert.equal(result.code, 78, result.stderr)
    assert.match(result.stderr, /the master key does not match the one this store was created with/)
    assert.ok(!hasStackTrace(result.stderr), result.stderr)
    for (const key of [original, other])
      assert.ok(!`${result.stdout}${result.stderr}`.includes(key), 'a master key was printed')
    assert.doesNotMatch(result.stdout, /is running at/)
  })

  it('with PostgreSQL and no master key: exit 78 naming MANDATE_MASTER_KEY', async () => {
    const store = postgresStore()
    try {
      const { databaseUrl, databaseSchema, dataDir } = store.settings as Record<string, string>
      const result = await runCli(['serve'], {
        env: serveEnv(dataDir as string, {
          DATABASE_URL: databaseUrl,
          MANDATE_DATABASE_SCHEMA: databaseSchema,
        }),
      })
      assert.equal(result.code, 78, result.stderr)
      assert.match(
        result.stderr,
        /MANDATE_MASTER_KEY \(or MANDATE_MASTER_KEY_FILE\) is required with PostgreSQL/,
      )
      assert.ok(!hasStackTrace(result.stderr), result.stderr)
    } finally {
      await store.drop()
    }
  })

  it('with invalid settings: exit 78 naming every setting, echoing plain values but never a secret', async () => {
    const dataDir = newDir()
    const result = await runCli(['serve'], {
      env: serveEnv(dataDir, {
        MANDATE_PORT: 'abc',
        MANDATE_SIGNING_ALG: 'HS256',
        DATABASE_URL: 'mysql://admin:pa55w0rd-in-url@db.example.com/mandate',
      }),
      cwd: dataDir,
    })
    assert.equal(result.code, 78)
    assert.equal(
      result.stderr,
      [
        'mandate: invalid configuration',
        '  MANDATE_PORT: must be a whole number from 0 to 65535 (got "abc")',
        '  DATABASE_URL: must be a postgres:// URL',
        '  MANDATE_SIGNING_ALG: must be one of ES256, EdDSA, RS256 (got "HS256")',
        '',
      ].join('\n'),
    )
  })

  it('with an unknown key in the --config file, named file:key', async () => {
    const dataDir = newDir()
    const file = join(dataDir, 'mandate.yaml')
    writeFileSync(file, 'port: 0\nlogLevel: silent\nmasterKeyFiel: /etc/mandate/master.key\n')
    const result = await runCli(['--config', file, 'serve'], {
      env: cliEnv({ MANDATE_DATA_DIR: dataDir }),
      cwd: dataDir,
    })
    assert.equal(result.code, 78)
    assert.match(
      result.stderr,
      new RegExp(`^ {2}${file.replaceAll('.', '\\.')}:masterKeyFiel: unknown setting$`, 'm'),
    )
  })

  it('with a malformed MANDATE_MASTER_KEY, without echoing it', async () => {
    const dataDir = newDir()
    const value = 'short-Secr3tValue'
    const result = await runCli(['serve'], {
      env: serveEnv(dataDir, { MANDATE_MASTER_KEY: value }),
      cwd: dataDir,
    })
    assert.equal(result.code, 78)
    assert.match(
      result.stderr,
      /^mandate: invalid configuration\n {2}MANDATE_MASTER_KEY: must be 32 random bytes as base64 or 64 hex digits/,
    )
    assert.ok(!result.stderr.includes(value) && !result.stdout.includes(value), 'the master key was echoed')
    assert.ok(!hasStackTrace(result.stderr), result.stderr)
  })
})

describe('mandate serve shutdown', () => {
  const dir = tempDir()
  after(() => dir.drop())

  it('shuts down cleanly on a SIGTERM sent as soon as the banner says it is running', async () => {
    const env = serveEnv(dir.path, { MANDATE_MASTER_KEY: newMasterKey(), MANDATE_DEMO_DATA: 'off' })
    const endings: string[] = []
    for (let attempt = 0; attempt < 3; attempt++) {
      const ended = await serveAndStopAtBanner({ env, cwd: dir.path })
      assert.match(ended.stdout, /is running at/)
      endings.push(`code ${ended.code}, signal ${ended.signal}`)
    }
    assert.deepEqual(endings, Array(3).fill('code 0, signal null'))
  })
})

describe('PostgreSQL stores side by side', () => {
  // Kysely finds its bookkeeping tables in any schema unless the Migrator is told which one (fixed in 7feef5a).
  it('a node migrates a fresh schema while another schema of the same database holds a store', async () => {
    const first = postgresStore()
    const second = postgresStore()
    try {
      const a = await startTestNode(first)
      try {
        const b = await startTestNode(second)
        const health = await b.call('GET', '/api/v1/keys')
        await b.close()
        assert.equal(health.status, 200)
      } finally {
        await a.close()
      }
    } finally {
      await first.drop()
      await second.drop()
    }
  })
})

describe('mandate serve banner (issue 8)', () => {
  const dirs: Array<ReturnType<typeof tempDir>> = []
  after(() => {
    for (const dir of dirs) dir.drop()
  })

  // The banner is everything up to its last line; what follows is the log.
  function splitBanner(stdout: string): { banner: string[]; after: string[] } {
    const lines = stdout.split('\n')
    const end = lines.findIndex((line) => line.includes('for the admin API'))
    assert.ok(end > 0, stdout)
    return { banner: lines.slice(0, end + 1), after: lines.slice(end + 1).filter((line) => line !== '') }
  }

  it('with logging at info: no raw JSON line before or in the banner; the start and each request are logged after it', async () => {
    const dir = tempDir()
    dirs.push(dir)
    const serve = await startServe({
      env: serveEnv(dir.path, { MANDATE_LOG_LEVEL: 'info', MANDATE_MASTER_KEY: newMasterKey() }),
      cwd: dir.path,
    })
    try {
      assert.equal(
        (await fetch(`${serve.url}/healthz`, { headers: { 'x-request-id': 'banner-1' } })).status,
        200,
      )
      await serve.stop()
      const { banner, after: logged } = splitBanner(serve.stdout())
      assert.equal(banner[0], '', 'nothing is printed before the banner')
      assert.match(banner[1] ?? '', /^ {2}Mandate \S+ is running at http:\/\/127\.0\.0\.1:\d+$/)
      for (const line of banner) assert.doesNotMatch(line, /^\s*\{/, `a JSON line in the banner: ${line}`)
      const records = logged.map((line) => JSON.parse(line) as Record<string, unknown>)
      assert.deepEqual(
        { msg: records[0]?.msg, url: records[0]?.url, store: records[0]?.store },
        { msg: 'node started', url: serve.url, store: 'sqlite' },
      )
      assert.ok(
        records.some((r) => r.msg === 'request' && r.reqId === 'banner-1' && r.url === '/healthz'),
        logged.join('\n'),
      )
      assert.ok(!records.some((r) => String(r.msg).startsWith('Server listening')))
    } finally {
      await serve.stop()
    }
  })

  it('on a port other than 7400, the hints set MANDATE_URL so that the admin commands find the node', async () => {
    const dir = tempDir()
    dirs.push(dir)
    const serve = await startServe({
      env: serveEnv(dir.path, { MANDATE_MASTER_KEY: newMasterKey(), MANDATE_DEMO_DATA: 'on' }),
      cwd: dir.path,
    })
    try {
      const { banner } = splitBanner(serve.stdout())
      const next = banner.slice(banner.indexOf('  Next:'))
      assert.equal(next[1], `    export MANDATE_URL=${serve.url}`)
      assert.ok(next.includes('    npx mandate get agent support-bot'), next.join('\n'))
      // Following the hints works: the admin token it printed, at the URL it printed.
      const token = /^ {4}export MANDATE_TOKEN=(\S+)$/m.exec(serve.stdout())?.[1]
      assert.ok(token)
      const listed = await runCli(['--json', 'list', 'agents'], {
        env: cliEnv({ MANDATE_URL: serve.url, MANDATE_TOKEN: token }),
      })
      assert.equal(listed.code, 0, listed.stderr)
      assert.ok(JSON.parse(listed.stdout).some((a: { id: string }) => a.id === 'support-bot'))
    } finally {
      await serve.stop()
    }
  })

  it('on PostgreSQL, the banner names PostgreSQL (host, database, schema) without the credentials, and no SQLite or demo hints', async () => {
    const store = postgresStore()
    try {
      const { databaseUrl, databaseSchema, dataDir } = store.settings as Record<string, string>
      const url = new URL(databaseUrl as string)
      url.password = 'Pg-Secr3t-in-url'
      const serve = await startServe({
        env: serveEnv(dataDir as string, {
          DATABASE_URL: url.toString(),
          MANDATE_DATABASE_SCHEMA: databaseSchema,
          MANDATE_MASTER_KEY: newMasterKey(),
          MANDATE_DEMO_DATA: 'auto',
        }),
      })
      try {
        const { banner } = splitBanner(serve.stdout())
        const text = banner.join('\n')
        assert.ok(
          banner.includes(`  store:  PostgreSQL at ${url.host}${url.pathname}, schema ${databaseSchema}`),
          text,
        )
        assert.doesNotMatch(text, /SQLite|\.\/data|master key:|get agent support-bot|seeded/)
        assert.ok(!serve.stdout().includes('Pg-Secr3t-in-url'), 'the database password was printed')
        assert.ok(banner.includes('    npx mandate list agents'), text)
      } finally {
        await serve.stop()
      }
    } finally {
      await store.drop()
    }
  })
})
