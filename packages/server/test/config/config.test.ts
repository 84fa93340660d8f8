// Configuration: defaults, sources and their precedence, coercion of environment strings, problems that name the
// setting without echoing secrets, and the generated reference that must not drift from the schema.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { TSchema } from '@sinclair/typebox'
import { renderConfigReference, renderExampleConfig } from '../../src/config/docs.ts'
import { ConfigError, type ConfigProblem, loadConfig } from '../../src/config/load.ts'
import { ConfigSchema, optionMeta } from '../../src/config/schema.ts'
import { MasterKey, MasterKeyError } from '../../src/tokens/master-key.ts'
import { tempDir } from '../support/harness.ts'

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url))
const options = Object.entries(ConfigSchema.properties as Record<string, TSchema>)

/** The problems of a configuration that must be refused. */
function problemsOf(sources: Parameters<typeof loadConfig>[0]): ConfigProblem[] {
  try {
    loadConfig(sources)
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`)
    return error.problems
  }
  assert.fail('the configuration was accepted')
}

describe('loadConfig', () => {
  const dir = tempDir()
  after(() => dir.drop())

  const configFile = (name: string, text: string): string => {
    const file = join(dir.path, name)
    writeFileSync(file, text)
    return file
  }

  it('applies every default of the schema and derives the issuer from host and port', () => {
    const config = loadConfig({ env: {} }) as unknown as Record<string, unknown>
    for (const [key, schema] of options)
      if (key !== 'issuer') assert.deepEqual(config[key], schema.default, key)
    assert.equal(config.issuer, 'http://127.0.0.1:7400')
    assert.equal(config.port, 7400)
    assert.equal(config.demoData, 'auto')
  })

  it('brackets an IPv6 host in the default issuer', () => {
    assert.equal(
      loadConfig({ env: { MANDATE_HOST: '::1', MANDATE_PORT: '8443' } }).issuer,
      'http://[::1]:8443',
    )
  })

  it('reads a YAML file; environment variables override it and overrides (CLI flags) override both', () => {
    const file = configFile('precedence.yaml', 'host: 0.0.0.0\nport: 8000\nlogLevel: warn\n')
    const fromFile = loadConfig({ env: {}, file })
    assert.deepEqual([fromFile.host, fromFile.port, fromFile.logLevel], ['0.0.0.0', 8000, 'warn'])
    const withEnv = loadConfig({ env: { MANDATE_PORT: '9000' }, file })
    assert.deepEqual([withEnv.host, withEnv.port, withEnv.logLevel], ['0.0.0.0', 9000, 'warn'])
    const withOverride = loadConfig({
      env: { MANDATE_PORT: '9000' },
      file,
      overrides: { port: 9100, host: undefined },
    })
    assert.deepEqual([withOverride.host, withOverride.port], ['0.0.0.0', 9100])
  })

  it('reads the file named by MANDATE_CONFIG, JSON included', () => {
    const file = configFile('mandate.json', JSON.stringify({ maxAgentDepth: 5, jwksAllowLoopback: true }))
    const config = loadConfig({ env: { MANDATE_CONFIG: file } })
    assert.equal(config.maxAgentDepth, 5)
    assert.equal(config.jwksAllowLoopback, true)
  })

  it('treats an empty environment variable as unset', () => {
    assert.equal(loadConfig({ env: { MANDATE_PORT: '', MANDATE_LOG_LEVEL: '' } }).port, 7400)
  })

  it('coerces environment strings to integers', () => {
    const config = loadConfig({
      env: { MANDATE_PORT: '8080', MANDATE_KEY_ROTATION_SECONDS: '0', MANDATE_CLOCK_SKEW_SECONDS: ' 45 ' },
    })
    assert.equal(config.port, 8080)
    assert.equal(config.keyRotationSeconds, 0)
    assert.equal(config.clockSkewSeconds, 45)
  })

  it('coerces the usual spellings of booleans', () => {
    for (const text of ['1', 'true', 'yes', 'on', 'TRUE', 'On'])
      assert.equal(loadConfig({ env: { MANDATE_JWKS_ALLOW_LOOPBACK: text } }).jwksAllowLoopback, true, text)
    for (const text of ['0', 'false', 'no', 'off', 'False'])
      assert.equal(loadConfig({ env: { MANDATE_JWKS_ALLOW_LOOPBACK: text } }).jwksAllowLoopback, false, text)
  })

  it('refuses values that are not of the option type, naming the variable and the expectation', () => {
    assert.deepEqual(problemsOf({ env: { MANDATE_PORT: '1.5' } }), [
      { setting: 'MANDATE_PORT', message: 'must be a whole number from 0 to 65535 (got 1.5)' },
    ])
    assert.deepEqual(problemsOf({ env: { MANDATE_PORT: '70000' } }), [
      { setting: 'MANDATE_PORT', message: 'must be a whole number from 0 to 65535 (got 70000)' },
    ])
    assert.deepEqual(problemsOf({ env: { MANDATE_KEY_ROTATION_SECONDS: '-1' } }), [
      { setting: 'MANDATE_KEY_ROTATION_SECONDS', message: 'must be a whole number (got -1)' },
    ])
    assert.deepEqual(problemsOf({ env: { MANDATE_JWKS_ALLOW_LOOPBACK: 'maybe' } }), [
      { setting: 'MANDATE_JWKS_ALLOW_LOOPBACK', message: 'must be true or false (got "maybe")' },
    ])
  })

  it('issue 8: MANDATE_TRUST_PROXY takes IP addresses and CIDR ranges, and names what it does not take', () => {
    assert.equal(
      loadConfig({ env: { MANDATE_TRUST_PROXY: '10.0.0.1, 10.1.0.0/16,::1,fd00::/8' } }).trustProxy,
      '10.0.0.1, 10.1.0.0/16,::1,fd00::/8',
    )
    assert.deepEqual(problemsOf({ env: { MANDATE_TRUST_PROXY: '10.0.0.1,10.0.0.0/33,1.2.3' } }), [
      {
        setting: 'MANDATE_TRUST_PROXY',
        message: 'must list IP addresses or CIDR ranges, comma-separated (not "10.0.0.0/33", "1.2.3")',
      },
    ])
  })

  it('lists every problem at once, each named as the user wrote it', () => {
    const file = configFile('problems.yaml', 'port: 80.5\nlogLevel: loud\nmasterKeyFiel: /etc/master.key\n')
    const problems = problemsOf({
      file,
      env: {
        MANDATE_SIGNING_ALG: 'HS256',
        MANDATE_DEMO_DATA: 'sometimes',
        MANDATE_JWKS_ALLOW_LOOPBACK: 'maybe',
        MANDATE_MAX_AGENT_DEPTH: '0',
      },
    })
    assert.deepEqual(
      problems.map((p) => p.setting).sort(),
      [
        `${file}:masterKeyFiel`,
        `${file}:port`,
        `${file}:logLevel`,
        'MANDATE_SIGNING_ALG',
        'MANDATE_DEMO_DATA',
        'MANDATE_JWKS_ALLOW_LOOPBACK',
        'MANDATE_MAX_AGENT_DEPTH',
      ].sort(),
    )
    assert.deepEqual(
      problems.find((p) => p.setting === 'MANDATE_SIGNING_ALG'),
      { setting: 'MANDATE_SIGNING_ALG', message: 'must be one of ES256, EdDSA, RS256 (got "HS256")' },
    )
    assert.deepEqual(
      problems.find((p) => p.setting === `${file}:masterKeyFiel`),
      { setting: `${file}:masterKeyFiel`, message: 'unknown setting' },
    )
  })

  it('calls inherited object member names in a config file unknown settings', () => {
    const file = configFile('proto.yaml', 'toString: 1\nconstructor: 2\n')
    assert.deepEqual(
      problemsOf({ env: {}, file })
        .map((p) => p.setting)
        .sort(),
      [`${file}:constructor`, `${file}:toString`],
    )
  })

  it('lists an issuer problem together with the other problems', () => {
    const problems = problemsOf({
      env: { MANDATE_PORT: 'abc', MANDATE_ISSUER: 'https://id.example.com/?tenant=1' },
    })
    assert.deepEqual(
      problems.map((p) => p.setting),
      ['MANDATE_PORT', 'MANDATE_ISSUER'],
    )
  })

  it('says why a config file cannot be used', () => {
    assert.deepEqual(problemsOf({ env: {}, file: join(dir.path, 'missing.yaml') }), [
      { setting: 'MANDATE_CONFIG', message: `cannot read ${join(dir.path, 'missing.yaml')}: no such file` },
    ])
    const list = configFile('list.yaml', '- port\n- 80\n')
    assert.deepEqual(problemsOf({ env: {}, file: list }), [
      { setting: list, message: 'must be a mapping of setting names to values' },
    ])
    const broken = configFile('broken.yaml', 'port: [80\n')
    const [problem] = problemsOf({ env: {}, file: broken })
    assert.equal(problem?.setting, broken)
    // The parser's whole message (issue 8): where, and the line it points at.
    assert.match(problem?.message ?? '', /^not valid YAML or JSON: .+ at line 2, column 1:\n\nport: \[80\n/)
  })

  describe('secrets', () => {
    const secret = 'hunter2-Secr3t'

    it('never echoes an invalid DATABASE_URL', () => {
      const problems = problemsOf({ env: { DATABASE_URL: `mysql://admin:${secret}@db.example.com/mandate` } })
      assert.deepEqual(problems, [{ setting: 'DATABASE_URL', message: 'must be a postgres:// URL' }])
      try {
        loadConfig({ env: { DATABASE_URL: `mysql://admin:${secret}@db.example.com/mandate` } })
      } catch (error) {
        assert.ok(!(error as Error).message.includes(secret), (error as Error).message)
      }
    })

    it('never echoes a secret given in a config file with the wrong type', () => {
      const file = configFile(
        'secret.yaml',
        'masterKey: 123456789012345\nbootstrapToken: [tokenpartone, tokenparttwo]\n',
      )
      const problems = problemsOf({ env: {}, file })
      assert.deepEqual(problems.map((p) => p.setting).sort(), [`${file}:bootstrapToken`, `${file}:masterKey`])
      assert.ok(!JSON.stringify(problems).includes('123456789012345'), JSON.stringify(problems))
      assert.ok(!JSON.stringify(problems).includes('tokenpart'), JSON.stringify(problems))
    })

    it('never echoes a too short MANDATE_BOOTSTRAP_TOKEN', () => {
      const problems = problemsOf({ env: { MANDATE_BOOTSTRAP_TOKEN: secret } })
      assert.equal(problems.length, 1)
      assert.equal(problems[0]?.setting, 'MANDATE_BOOTSTRAP_TOKEN')
      assert.ok(!JSON.stringify(problems).includes(secret))
    })

    it('refuses both a master key and a master key file without echoing the key', () => {
      const key = Buffer.alloc(32, 7).toString('base64')
      const problems = problemsOf({
        env: { MANDATE_MASTER_KEY: key, MANDATE_MASTER_KEY_FILE: '/etc/mandate/master.key' },
      })
      assert.deepEqual(problems, [
        {
          setting: 'MANDATE_MASTER_KEY_FILE',
          message: 'set either a master key or a master key file, not both',
        },
      ])
      assert.ok(!JSON.stringify(problems).includes(key))
    })

    it('reports a malformed MANDATE_MASTER_KEY by name, never by value', () => {
      // The loader checks the format (so `mandate config check` catches it); the store checks the key itself.
      const problems = problemsOf({ env: { MANDATE_MASTER_KEY: secret } })
      assert.deepEqual(
        problems.map((p) => p.setting),
        ['MANDATE_MASTER_KEY'],
      )
      assert.ok(
        problems.every((p) => p.message.startsWith('must be 32 random bytes') && !p.message.includes(secret)),
      )
      assert.throws(
        () => MasterKey.fromText(secret, 'MANDATE_MASTER_KEY'),
        (error: unknown) =>
          error instanceof MasterKeyError &&
          error.message.startsWith('MANDATE_MASTER_KEY must be 32 random bytes') &&
          !error.message.includes(secret),
      )
      const hex = 'ab'.repeat(31)
      assert.throws(
        () => MasterKey.fromText(hex, 'MANDATE_MASTER_KEY'),
        (error: unknown) => error instanceof MasterKeyError && !error.message.includes(hex),
      )
      assert.ok(MasterKey.fromText('cd'.repeat(32), 'MANDATE_MASTER_KEY'))
    })
  })

  describe('issuer', () => {
    it('refuses an issuer with a query or a fragment', () => {
      for (const issuer of [
        'https://id.example.com/?tenant=1',
        'https://id.example.com/#top',
        'https://id.example.com/?',
        'https://id.example.com/#',
      ]) {
        assert.deepEqual(
          problemsOf({ env: { MANDATE_ISSUER: issuer } }),
          [{ setting: 'MANDATE_ISSUER', message: 'must not have a query or fragment' }],
          issuer,
        )
      }
    })

    it('names the file key when the issuer comes from a file', () => {
      const file = configFile('issuer.yaml', 'issuer: https://id.example.com/?tenant=1\n')
      assert.deepEqual(problemsOf({ env: {}, file }), [
        { setting: `${file}:issuer`, message: 'must not have a query or fragment' },
      ])
    })

    it('refuses an issuer that is not an http(s) URL', () => {
      assert.deepEqual(problemsOf({ env: { MANDATE_ISSUER: 'id.example.com' } }), [
        { setting: 'MANDATE_ISSUER', message: 'must be an absolute URL' },
      ])
      assert.deepEqual(problemsOf({ env: { MANDATE_ISSUER: 'ftp://id.example.com' } }), [
        { setting: 'MANDATE_ISSUER', message: 'must use https (http only on loopback)' },
      ])
    })

    it('RFC 8414 §2: refuses plain http except on loopback', () => {
      assert.deepEqual(problemsOf({ env: { MANDATE_ISSUER: 'http://id.example.com' } }), [
        { setting: 'MANDATE_ISSUER', message: 'must use https (http only on loopback)' },
      ])
      for (const issuer of ['http://127.0.0.1:7400', 'http://localhost:7400', 'http://[::1]:7400']) {
        assert.equal(loadConfig({ env: { MANDATE_ISSUER: issuer } }).issuer, issuer)
      }
    })

    it('accepts an https issuer with a path', () => {
      assert.equal(
        loadConfig({ env: { MANDATE_ISSUER: 'https://id.example.com/tenants/acme' } }).issuer,
        'https://id.example.com/tenants/acme',
      )
    })
  })
})

describe('configuration schema and generated reference', () => {
  it('docs/configuration.md is generated from the schema', () => {
    const actual = readFileSync(join(repoRoot, 'docs/configuration.md'), 'utf8')
    assert.ok(
      actual === renderConfigReference(),
      'docs/configuration.md is out of date with packages/server/src/config/schema.ts: run `npm run docs:config`',
    )
  })

  it('examples/mandate.yaml is generated from the schema', () => {
    const actual = readFileSync(join(repoRoot, 'examples/mandate.yaml'), 'utf8')
    assert.ok(
      actual === renderExampleConfig(),
      'examples/mandate.yaml is out of date with packages/server/src/config/schema.ts: run `npm run docs:config`',
    )
  })

  it('gives every option a description and an environment variable starting with MANDATE_ (or DATABASE_URL)', () => {
    assert.ok(options.length > 0)
    for (const [key, schema] of options) {
      assert.ok(
        typeof schema.description === 'string' && schema.description.trim().length > 10,
        `${key} has no description`,
      )
      const { env } = optionMeta(schema)
      assert.ok(env === 'DATABASE_URL' || /^MANDATE_[A-Z0-9_]+$/.test(env), `${key}: ${env}`)
    }
  })

  it('uses each environment variable for one option only', () => {
    const names = options.map(([, schema]) => optionMeta(schema).env)
    assert.deepEqual(
      names.filter((name, i) => names.indexOf(name) !== i),
      [],
    )
  })

  it('documents every option, with secrets marked, in the reference and the example file', () => {
    const reference = renderConfigReference()
    const example = renderExampleConfig()
    for (const [key, schema] of options) {
      const meta = optionMeta(schema)
      const row = reference.split('\n').find((line) => line.startsWith(`| \`${meta.env}\` | \`${key}\` |`))
      assert.ok(row, `${meta.env} is not in the reference`)
      assert.equal(row.includes('**Secret.**'), meta.secret === true, `${meta.env} secret marking`)
      assert.ok(
        example.includes(`# env: ${meta.env}${meta.secret ? ' (secret)' : ''}\n# ${key}:`),
        `${key} is not in the example file`,
      )
    }
  })
})
