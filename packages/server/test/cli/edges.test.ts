// The edges a new user meets on the command line (issue 8): list filters that do not exist, files that cannot be read
// or parsed, and PEP keys.
import assert from 'node:assert/strict'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { sqliteStore, startTestNode, type TestNode, type TestStore, tempDir } from '../support/harness.ts'
import { adminEnv, cliEnv, hasStackTrace, runCli } from './run-cli.ts'

// A YAML file whose second line is indented under a plain value: the parser reports it at line 2, column 5.
const MALFORMED = 'kind: Human\nid: x\n    name: Broken\n'

describe('mandate on the edges (issue 8)', () => {
  let store: TestStore
  let test: TestNode
  let dir: ReturnType<typeof tempDir>
  const mandate = (...args: string[]) => runCli(args, { env: adminEnv(test), cwd: dir.path })

  before(async () => {
    store = sqliteStore()
    test = await startTestNode(store)
    dir = tempDir()
    for (const id of ['alice', 'bob']) {
      const res = await test.call('PUT', `/api/v1/humans/${id}`, { body: {} })
      assert.equal(res.status, 201, res.text)
    }
    const agent = await test.call('PUT', '/api/v1/agents/helper', {
      body: { sponsor: 'alice', classification: 'delegated', ceiling: [] },
    })
    assert.equal(agent.status, 201, agent.text)
  })

  after(async () => {
    await test?.close()
    await store?.drop()
    dir?.drop()
  })

  describe('list --filter', () => {
    it('an unknown key is a usage error (exit 2) naming it and the filters the kind has; nothing is listed', async () => {
      const result = await mandate('list', 'agents', '--filter', 'spnsor=alice')
      assert.equal(result.code, 2)
      assert.equal(
        result.stderr,
        'mandate: unknown filter "spnsor" for agents; one of status, classification, sponsor, parent\n',
      )
      assert.equal(result.stdout, '')
    })

    it('a kind without filters says so', async () => {
      const result = await mandate('list', 'groups', '--filter', 'status=active')
      assert.equal(result.code, 2)
      assert.equal(result.stderr, 'mandate: groups cannot be filtered (got --filter status=...)\n')
    })

    it('a key given twice, or without a value, is a usage error', async () => {
      const twice = await mandate('list', 'agents', '--filter', 'sponsor=alice', 'sponsor=bob')
      assert.equal(twice.code, 2)
      assert.match(twice.stderr, /filter sponsor is given twice/)
      const empty = await mandate('list', 'agents', '--filter', 'sponsor=')
      assert.equal(empty.code, 2)
      assert.match(empty.stderr, /filter sponsor has no value/)
    })

    it('the filters of every kind are listed in list --help', async () => {
      const result = await runCli(['list', '--help'], { env: cliEnv() })
      assert.equal(result.code, 0)
      assert.match(result.stdout, /^ {2}agents: status, classification, sponsor, parent$/m)
      assert.match(result.stdout, /^ {2}trusted-issuers: type, issuer$/m)
    })

    it('a known filter still filters', async () => {
      const result = await mandate('--json', 'list', 'agents', '--filter', 'sponsor=alice')
      assert.equal(result.code, 0, result.stderr)
      assert.deepEqual(
        JSON.parse(result.stdout).map((o: { id: string }) => o.id),
        ['helper'],
      )
    })
  })

  describe('files that cannot be read', () => {
    for (const [missing, args] of [
      ['missing.cedar', ['policy', 'validate', 'missing.cedar']],
      ['missing.yaml', ['policy', 'validate', 'agents.cedar', '-d', 'missing.yaml']],
      ['missing.yaml', ['policy', 'test', 'missing.yaml']],
      ['missing.yaml', ['apply', '-f', 'missing.yaml']],
    ] as const) {
      it(`mandate ${args.join(' ')}: one plain line naming the file, exit 2, no stack trace`, async () => {
        writeFileSync(join(dir.path, 'agents.cedar'), 'permit(principal, action, resource);\n')
        const result = await mandate(...args)
        assert.equal(result.code, 2)
        assert.equal(result.stderr, `mandate: cannot read ${missing}: no such file\n`)
        assert.equal(result.stdout, '')
      })
    }

    it('with --json, the same as a JSON error', async () => {
      const result = await mandate('--json', 'policy', 'validate', 'missing.cedar')
      assert.equal(result.code, 2)
      assert.deepEqual(JSON.parse(result.stderr), {
        error: 'failed',
        error_description: 'cannot read missing.cedar: no such file',
      })
    })

    it('a directory is named as such', async () => {
      const result = await mandate('apply', '-f', dir.path)
      assert.equal(result.code, 2)
      assert.equal(result.stderr, `mandate: cannot read ${dir.path}: it is a directory\n`)
    })
  })

  describe('YAML that does not parse', () => {
    const expectWholeMessage = (stderr: string, file: string) => {
      // The parser's whole message: what is wrong, where (line and column), and the line with a caret under the spot.
      assert.match(
        stderr,
        new RegExp(
          `${file.replaceAll('.', '\\.')}: Nested mappings are not allowed in compact mappings at line 2, column 5:`,
        ),
      )
      assert.match(stderr, /^ {2}id: x$/m)
      assert.match(stderr, /^ {6}\^$/m)
      assert.ok(!hasStackTrace(stderr), stderr)
    }

    it('apply -f shows the whole parser message with line, column and the line itself, and applies nothing', async () => {
      writeFileSync(join(dir.path, 'broken.yaml'), MALFORMED)
      const result = await mandate('apply', '-f', 'broken.yaml')
      assert.equal(result.code, 1)
      expectWholeMessage(result.stderr, 'broken.yaml')
      assert.equal(result.stdout, '')
      assert.equal((await test.call('GET', '/api/v1/humans/x')).status, 404)
    })

    it('policy test shows the whole parser message for a cases file', async () => {
      writeFileSync(join(dir.path, 'broken-cases.yaml'), MALFORMED)
      const result = await mandate('policy', 'test', 'broken-cases.yaml')
      assert.equal(result.code, 1)
      expectWholeMessage(result.stderr, 'broken-cases.yaml')
    })

    it('policy validate shows the whole parser message for a documents file', async () => {
      writeFileSync(join(dir.path, 'broken-policies.yaml'), MALFORMED)
      const result = await mandate('policy', 'validate', 'broken-policies.yaml')
      assert.equal(result.code, 1)
      expectWholeMessage(result.stderr, 'broken-policies.yaml')
    })

    it('a configuration file shows the whole parser message under its name, exit 78', async () => {
      writeFileSync(join(dir.path, 'broken-config.yaml'), 'port: 7400\nlogLevel: info\n  dataDir: ./x\n')
      const result = await runCli(['--config', 'broken-config.yaml', 'config', 'check'], {
        env: cliEnv(),
        cwd: dir.path,
      })
      assert.equal(result.code, 78)
      assert.match(
        result.stderr,
        /^ {2}broken-config\.yaml: not valid YAML or JSON: .+ at line \d+, column \d+:$/m,
      )
      assert.match(result.stderr, /^ {4}\s*\^$/m)
      assert.ok(!hasStackTrace(result.stderr), result.stderr)
    })

    it('a configuration file that does not exist is named plainly, exit 78', async () => {
      const result = await runCli(['--config', 'nowhere.yaml', 'config', 'check'], {
        env: cliEnv(),
        cwd: dir.path,
      })
      assert.equal(result.code, 78)
      assert.equal(
        result.stderr,
        'mandate: invalid configuration\n  MANDATE_CONFIG: cannot read nowhere.yaml: no such file\n',
      )
    })
  })

  describe('admin token --pep', () => {
    it('prints a PEP key (mnd_pep_) that the AuthZEN API accepts and the admin API refuses', async () => {
      const result = await runCli(['admin', 'token', '--pep'], {
        env: cliEnv({ MANDATE_DATA_DIR: test.config.dataDir, MANDATE_MASTER_KEY: test.config.masterKey }),
      })
      assert.equal(result.code, 0, result.stderr)
      const key = /^export MANDATE_PEP_KEY=(mnd_pep_[A-Za-z0-9_-]{43})\n$/.exec(result.stdout)?.[1]
      assert.ok(key, result.stdout)
      const decided = await test.call('POST', '/access/v1/evaluation', {
        token: key,
        body: {
          subject: { type: 'agent', id: 'helper' },
          action: { name: 'crm:read' },
          resource: { type: 'resource_server', id: 'crm' },
        },
      })
      assert.equal(decided.status, 200, decided.text)
      assert.equal((await test.call('GET', '/api/v1/agents', { token: key })).status, 403)
    })
  })

  describe('commands on the store itself', () => {
    it('admin token, audit recover and demo idp-token refuse a data directory with no store, and create nothing', async () => {
      const dir = tempDir()
      try {
        const missing = join(dir.path, 'nowhere')
        for (const args of [
          ['admin', 'token'],
          ['audit', 'recover', '--reason', 'x'],
          ['demo', 'idp-token', 'alice@example.com'],
        ]) {
          const result = await runCli(args, {
            env: cliEnv({ MANDATE_DATA_DIR: missing, MANDATE_MASTER_KEY: test.config.masterKey }),
          })
          assert.equal(result.code, 1, `${args.join(' ')}: ${result.stdout}${result.stderr}`)
          assert.match(result.stderr, /there is no Mandate store at .*nowhere.*mandate\.db/)
          assert.equal(result.stdout, '')
          assert.equal(hasStackTrace(result.stderr), false)
          assert.equal(existsSync(missing), false, 'nothing was created')
        }
      } finally {
        dir.drop()
      }
    })
  })
})
