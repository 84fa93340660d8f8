// `mandate apply`: creates and updates registry objects from YAML and JSON documents, idempotently, on both stores.
import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  sqliteStore,
  startTestNode,
  storeKinds,
  type TestNode,
  type TestStore,
  tempDir,
} from '../support/harness.ts'
import { adminEnv, type CliResult, hasStackTrace, runCli } from './run-cli.ts'

const ISSUER_URL = 'https://k8s.example.com'

function publicJwk(): Record<string, unknown> {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as Record<
    string,
    unknown
  >
}

// The sub-agent comes before its parent, and the group before the members it names: apply orders them.
function mainDocuments(bobName: string): string {
  return `# registry for the apply tests
kind: Agent
id: triage-sub
name: Triage sub-agent
sponsor: alice
classification: autonomous
parent: triage
ceiling: [tickets:read]
---
kind: Group
id: support
members:
  - {kind: human, id: alice}
  - {kind: agent, id: triage}
  - {kind: agent, id: triage-sub}
---
kind: Human
id: alice
email: alice@example.com
name: Alice
---
kind: Human
id: bob
email: bob@example.com
name: ${bobName}
---
kind: Workload
id: deployer
name: Deployer
credentials:
  - type: federated
    issuer: ${ISSUER_URL}
    subject: system:serviceaccount:ci:deployer
---
kind: Agent
id: triage
name: Triage
sponsor: alice
classification: delegated
ceiling: [tickets:read, tickets:write]
credentials:
  - type: client_secret
`
}

const MAIN_IDS = [
  'human/alice',
  'human/bob',
  'workload/deployer',
  'agent/triage',
  'agent/triage-sub',
  'group/support',
]

function changeLines(stdout: string): string[] {
  return stdout.split('\n').filter((line) => /^[a-z]+\/\S+ (created|updated|unchanged)$/.test(line))
}

function expectOk(result: CliResult): void {
  assert.equal(
    result.code,
    0,
    `exit code ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
  )
}

for (const kind of storeKinds) {
  describe(`mandate apply (${kind.name})`, () => {
    let store: TestStore
    let test: TestNode
    let dir: ReturnType<typeof tempDir>
    let mainFile: string
    let issuedSecret: string | undefined

    const apply = (args: string[], input?: string) =>
      runCli(['apply', ...args], { env: adminEnv(test), ...(input === undefined ? {} : { input }) })
    const auditRecords = async (): Promise<number> => {
      const verified = await test.call('POST', '/api/v1/audit/verify', { body: {} })
      assert.equal(verified.status, 200)
      assert.equal(verified.json.ok, true)
      return verified.json.records
    }
    // The API never shows the hash, so read it where it is stored.
    const secretHash = async (): Promise<string> => {
      const row = await test.node.database.db
        .selectFrom('agents')
        .select('doc')
        .where('id', '=', 'triage')
        .executeTakeFirstOrThrow()
      return JSON.parse(row.doc).credentials.find((c: { type: string }) => c.type === 'client_secret')
        .secret_hash
    }

    before(async () => {
      store = kind.create()
      test = await startTestNode(store)
      dir = tempDir()
      mainFile = join(dir.path, 'registry.yaml')
      writeFileSync(mainFile, mainDocuments('Bob'))
      // The issuer the workload names is created through the API; a later test applies one from a document.
      const issuer = await test.call('PUT', '/api/v1/trusted-issuers/k8s', {
        body: { issuer: ISSUER_URL, type: 'workload', jwks: { keys: [publicJwk()] } },
      })
      assert.equal(issuer.status, 201, issuer.text)
    })

    after(async () => {
      await test?.close()
      await store?.drop()
      dir?.drop()
    })

    it('creates every document in dependency order (parent agent before its sub-agent) and prints a client secret once', async () => {
      const result = await apply(['-f', mainFile])
      expectOk(result)
      assert.deepEqual(
        changeLines(result.stdout),
        MAIN_IDS.map((id) => `${id} created`),
      )
      assert.match(result.stdout, /^6 created, 0 updated, 0 unchanged$/m)
      issuedSecret = /^ {2}client_secret secret \(shown once\): (mnd_cs_\S+)$/m.exec(result.stdout)?.[1]
      assert.ok(issuedSecret, `no client secret printed:\n${result.stdout}`)

      const sub = await test.call('GET', '/api/v1/agents/triage-sub')
      assert.equal(sub.status, 200)
      assert.equal(sub.json.parent, 'triage')
      const workload = await test.call('GET', '/api/v1/workloads/deployer')
      assert.equal(workload.json.credentials[0].issuer, ISSUER_URL)
      const group = await test.call('GET', '/api/v1/groups/support')
      assert.deepEqual(
        group.json.members.map((m: { kind: string; id: string }) => `${m.kind}:${m.id}`),
        ['agent:triage', 'agent:triage-sub', 'human:alice'],
      )
      // Only the hash is kept, and it is the hash of the secret that was printed.
      assert.equal(await secretHash(), `sha256:${createHash('sha256').update(issuedSecret).digest('hex')}`)
    })

    it('reports everything unchanged on a second identical apply, writes no audit event and keeps the secret hash', async () => {
      const recordsBefore = await auditRecords()
      const hashBefore = await secretHash()
      const result = await apply(['-f', mainFile])
      expectOk(result)
      assert.deepEqual(
        changeLines(result.stdout),
        MAIN_IDS.map((id) => `${id} unchanged`),
      )
      assert.match(result.stdout, /0 created, 0 updated, 6 unchanged/)
      assert.doesNotMatch(result.stdout, /client_secret|mnd_cs_/)
      assert.equal(await auditRecords(), recordsBefore)
      assert.equal(await secretHash(), hashBefore)
    })

    it('updates exactly the object whose field changed, with one audit event', async () => {
      const headBefore = (await test.call('POST', '/api/v1/audit/verify', { body: {} })).json.headSeq
      writeFileSync(mainFile, mainDocuments('Robert'))
      const result = await apply(['-f', mainFile])
      expectOk(result)
      assert.deepEqual(
        changeLines(result.stdout),
        MAIN_IDS.map((id) => `${id} ${id === 'human/bob' ? 'updated' : 'unchanged'}`),
      )
      assert.match(result.stdout, /^0 created, 1 updated, 5 unchanged$/m)
      assert.equal((await test.call('GET', '/api/v1/humans/bob')).json.name, 'Robert')
      const events = await test.call('GET', `/api/v1/audit/events?after=${headBefore}`)
      assert.deepEqual(
        events.json.items.map((e: { type: string; resource: string }) => `${e.type} ${e.resource}`),
        ['admin.human.update human:bob'],
      )
    })

    it('applies a JSON file holding an array of documents and prints counts with --json', async () => {
      const file = join(dir.path, 'more.json')
      writeFileSync(
        file,
        JSON.stringify([
          { kind: 'Group', id: 'reviewers', members: [{ kind: 'human', id: 'carol' }] },
          { kind: 'Human', id: 'carol', email: 'carol@example.com' },
          { kind: 'Human', id: 'alice', email: 'alice@example.com', name: 'Alice' },
        ]),
      )
      const result = await runCli(['--json', 'apply', '-f', file], { env: adminEnv(test) })
      expectOk(result)
      const output = JSON.parse(result.stdout)
      assert.deepEqual(
        { created: output.created, updated: output.updated, unchanged: output.unchanged },
        { created: 2, updated: 0, unchanged: 1 },
      )
      assert.deepEqual(
        output.results.map(
          (r: { kind: string; id: string; change: string }) => `${r.kind}/${r.id} ${r.change}`,
        ),
        ['Human/carol created', 'Human/alice unchanged', 'Group/reviewers created'],
      )
      assert.equal((await test.call('GET', '/api/v1/groups/reviewers')).status, 200)
    })

    it('reads documents from standard input with -f -', async () => {
      const result = await apply(
        ['-f', '-'],
        'kind: Human\nid: dave\nname: Dave\n---\nkind: Human\nid: carol\nemail: carol@example.com\n',
      )
      expectOk(result)
      assert.deepEqual(changeLines(result.stdout), ['human/dave created', 'human/carol unchanged'])
      assert.equal((await test.call('GET', '/api/v1/humans/dave')).json.name, 'Dave')
    })

    it('issue 8: refuses the whole file when one document is invalid: nothing is written, the error names file, document, kind, id and field, and the summary says nothing was applied', async () => {
      const recordsBefore = await auditRecords()
      const file = join(dir.path, 'invalid.json')
      writeFileSync(
        file,
        JSON.stringify([
          { kind: 'Human', id: 'grace' },
          { kind: 'Agent', id: 'bad-agent', sponsor: 'grace', classification: 'sentient', ceiling: [] },
          { kind: 'Agent', id: 'later-agent', sponsor: 'grace', classification: 'autonomous', ceiling: [] },
          { kind: 'Group', id: 'later-group', members: [] },
        ]),
      )
      const result = await apply(['-f', file])
      assert.equal(result.code, 1)
      assert.match(
        result.stderr,
        /invalid\.json: document 1\[1\]: Agent bad-agent is invalid; none was applied/,
      )
      assert.match(
        result.stderr,
        /^ {2}\/classification: must be one of "autonomous", "delegated", "blended"$/m,
      )
      assert.ok(!hasStackTrace(result.stderr), result.stderr)
      assert.deepEqual(changeLines(result.stdout), [])
      assert.equal(
        result.stdout.trimEnd().split('\n').at(-1),
        `nothing applied: ${file}: document 1[1]: Agent bad-agent was refused (validation_failed)`,
      )
      // One transaction: the human written before the refused agent is gone with it.
      for (const path of ['humans/grace', 'agents/bad-agent', 'agents/later-agent', 'groups/later-group'])
        assert.equal((await test.call('GET', `/api/v1/${path}`)).status, 404, path)
      assert.equal(await auditRecords(), recordsBefore)
    })

    it('issue 8: a conflict in any document refuses them all; with --json the refusal and zero counts are printed', async () => {
      const file = join(dir.path, 'conflict.yaml')
      // The second human's email is alice's in another case: emails are unique, ignoring case.
      writeFileSync(
        file,
        'kind: Human\nid: heidi\nemail: heidi@example.com\n---\nkind: Human\nid: alice-again\nemail: ALICE@example.com\n',
      )
      const result = await runCli(['--json', 'apply', '-f', file], { env: adminEnv(test) })
      assert.equal(result.code, 1)
      const output = JSON.parse(result.stdout)
      assert.deepEqual(output, {
        applied: false,
        results: [],
        created: 0,
        updated: 0,
        unchanged: 0,
        refused: { source: `${file}: document 2`, kind: 'Human', id: 'alice-again' },
      })
      const error = JSON.parse(result.stderr)
      assert.equal(error.error, 'conflict')
      assert.match(
        error.error_description,
        /document 2: Human alice-again: email ALICE@example\.com is already the email of human alice/,
      )
      assert.equal((await test.call('GET', '/api/v1/humans/heidi')).status, 404)
    })

    it('issue 8: the apply endpoint orders documents by dependency, answers every result, and names a refused document by index (OpenAPI-documented)', async () => {
      const applied = await test.call('POST', '/api/v1/apply', {
        body: {
          documents: [
            { kind: 'Agent', id: 'ivy-bot', sponsor: 'ivy', classification: 'autonomous', ceiling: [] },
            { kind: 'Human', id: 'ivy' },
          ],
        },
      })
      assert.equal(applied.status, 200, applied.text)
      assert.deepEqual(
        applied.json.results.map(
          (r: { kind: string; id: string; change: string }) => `${r.kind}/${r.id} ${r.change}`,
        ),
        ['Human/ivy created', 'Agent/ivy-bot created'],
      )
      assert.deepEqual([applied.json.created, applied.json.updated, applied.json.unchanged], [2, 0, 0])
      const twice = await test.call('POST', '/api/v1/apply', {
        body: {
          documents: [
            { kind: 'Human', id: 'jo' },
            { kind: 'Human', id: 'jo', name: 'Jo' },
          ],
        },
      })
      assert.equal(twice.status, 400, twice.text)
      assert.equal(twice.json.fields[0].path, '/documents/1/id')
      const docs = (await test.call('GET', '/api/docs/openapi.json', { token: null })).json
      const operation = docs.paths['/api/v1/apply'].post
      assert.ok(operation.responses['200'].content['application/json'].schema.properties.results)
    })
  })
}

// Documents that cannot be parsed are refused before the node is called, whatever the store: tested on SQLite only.
describe('mandate apply: malformed documents', () => {
  let store: TestStore
  let test: TestNode
  let dir: ReturnType<typeof tempDir>

  const apply = (args: string[]) => runCli(['apply', ...args], { env: adminEnv(test) })

  before(async () => {
    store = sqliteStore()
    test = await startTestNode(store)
    dir = tempDir()
  })

  after(async () => {
    await test?.close()
    await store?.drop()
    dir?.drop()
  })

  it('refuses a document of an unknown kind, naming the file and document, before applying anything', async () => {
    const file = join(dir.path, 'unknown-kind.yaml')
    writeFileSync(file, 'kind: Human\nid: erin\n---\nkind: Robot\nid: r2\n')
    const result = await apply(['-f', file])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /unknown-kind\.yaml: document 2: unknown kind "Robot"/)
    assert.ok(!hasStackTrace(result.stderr), result.stderr)
    assert.equal(result.stdout, '')
    assert.equal((await test.call('GET', '/api/v1/humans/erin')).status, 404)
  })

  it('refuses a document without an id, naming the file and document, before applying anything', async () => {
    const file = join(dir.path, 'no-id.yaml')
    writeFileSync(file, 'kind: Human\nid: frank\n---\nkind: Human\nname: Nobody\n')
    const result = await apply(['-f', file])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /no-id\.yaml: document 2: Human has no id/)
    assert.equal((await test.call('GET', '/api/v1/humans/frank')).status, 404)
  })

  it('creates a TrustedIssuer from a document', async () => {
    const file = join(dir.path, 'issuer.yaml')
    writeFileSync(
      file,
      `kind: TrustedIssuer\nid: gha\ntype: workload\nissuer: https://token.actions.example.com\njwks:\n  keys:\n    - ${JSON.stringify(publicJwk())}\n`,
    )
    const result = await apply(['-f', file])
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(changeLines(result.stdout), ['trustedissuer/gha created'])
    assert.equal((await test.call('GET', '/api/v1/trusted-issuers/gha')).status, 200)
  })
})
