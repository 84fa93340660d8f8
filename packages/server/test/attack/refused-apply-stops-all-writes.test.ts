// Attack finding: a refused `POST /api/v1/apply` (all or nothing) leaves the node refusing every later write. The
// apply transaction appends a record per document; the log raises its in-memory high-water mark to the head it read
// inside that transaction, and when the transaction rolls back the head is "behind" what the node has seen, so the
// node takes its own rollback for a deleted tail and answers 503 audit_unavailable to every admin write, token and
// decision until restart or `mandate audit recover --force` (docs/security.md: "A log that cannot be trusted is not
// extended"; a refused apply is not an untrusted log).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { pepKey, post } from '../policy/authzen-fixture.ts'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'

for (const kind of storeKinds) {
  describe(`a refused apply leaves the node writable (${kind.name})`, () => {
    let store: TestStore
    let test: TestNode
    let pep: string

    before(async () => {
      store = kind.create()
      test = await startTestNode(store)
      pep = await pepKey(test)
      for (const [path, body] of [
        ['/api/v1/humans/alice', {}],
        ['/api/v1/resource-servers/crm', { audience: 'https://crm.example.com/', scopes: ['crm:read'] }],
        ['/api/v1/agents/parent', { sponsor: 'alice', classification: 'autonomous', ceiling: ['crm:read'] }],
        [
          '/api/v1/agents/child',
          { sponsor: 'alice', classification: 'autonomous', parent: 'parent', ceiling: ['crm:read'] },
        ],
      ] as const) {
        const created = await test.call('PUT', path, { body })
        assert.equal(created.status, 201, created.text)
      }
    })
    after(async () => {
      await test?.close()
      await store?.drop()
    })

    it('an apply refused at its third document (a sub-agent made active under a parent the file suspends) is a 400, and the next admin write and AuthZEN decision still succeed', async () => {
      const refused = await test.call('POST', '/api/v1/apply', {
        body: {
          documents: [
            { kind: 'Human', id: 'bob' },
            {
              kind: 'Agent',
              id: 'parent',
              sponsor: 'alice',
              classification: 'autonomous',
              ceiling: ['crm:read'],
              status: 'suspended',
            },
            {
              kind: 'Agent',
              id: 'child',
              sponsor: 'alice',
              classification: 'autonomous',
              parent: 'parent',
              ceiling: ['crm:read'],
              status: 'active',
            },
          ],
        },
      })
      assert.equal(refused.status, 400, refused.text)
      assert.equal((await test.call('GET', '/api/v1/humans/bob')).status, 404, 'nothing applied')

      const write = await test.call('PUT', '/api/v1/humans/carol', { body: {} })
      assert.equal(write.status, 201, `a later admin write: ${write.text}`)
      const decision = await post(
        test,
        '/access/v1/evaluation',
        {
          subject: { type: 'agent', id: 'parent' },
          action: { name: 'crm:read' },
          resource: { type: 'resource_server', id: 'crm' },
        },
        pep,
      )
      assert.equal(decision.status, 200, `a later decision: ${JSON.stringify(decision.json)}`)
      const metrics = await fetch(`${test.node.url}/metrics`).then((r) => r.text())
      assert.match(metrics, /^mandate_audit_refusing_writes 0$/m)
    })
  })
}
