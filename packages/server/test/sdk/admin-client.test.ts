// @mandate/sdk's admin client against a real node: typed errors with stable codes, pagination, conditional writes.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AdminClient, MandateApiError } from '@mandate/sdk'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'

describe('@mandate/sdk AdminClient', () => {
  let store: TestStore
  let node: TestNode
  let admin: AdminClient

  before(async () => {
    store = sqliteStore()
    node = await startTestNode(store)
    admin = new AdminClient({ baseUrl: `${node.node.url}/`, token: node.token })
    await admin.put('humans', 'alice@example.com', { status: 'active' })
  })
  after(async () => {
    await node.close()
    await store.drop()
  })

  it('reports created, then unchanged, for the same document', async () => {
    const doc = { sponsor: 'alice@example.com', classification: 'delegated', ceiling: ['crm:read'] }
    assert.equal((await admin.put('agents', 'bot-1', doc)).change, 'created')
    assert.equal((await admin.put('agents', 'bot-1', doc)).change, 'unchanged')
  })

  it('iterates over every page of a list exactly once', async () => {
    for (const i of [2, 3, 4, 5])
      await admin.put('agents', `bot-${i}`, {
        sponsor: 'alice@example.com',
        classification: 'autonomous',
        ceiling: [],
      })
    const first = await admin.list('agents', { limit: 2 })
    assert.equal(first.items.length, 2)
    assert.ok(first.next_cursor)
    const ids: string[] = []
    for await (const agent of admin.listAll('agents')) ids.push(agent.id)
    assert.deepEqual(ids, ['bot-1', 'bot-2', 'bot-3', 'bot-4', 'bot-5'])
  })

  it('throws MandateApiError with stable codes and field errors', async () => {
    await assert.rejects(
      admin.get('agents', 'missing'),
      (e: unknown) => e instanceof MandateApiError && e.code === 'not_found' && e.status === 404,
    )
    await assert.rejects(
      admin.create('agents', {
        id: 'bad',
        sponsor: 'alice@example.com',
        classification: 'sometimes',
        ceiling: [],
      }),
      (e: unknown) =>
        e instanceof MandateApiError &&
        e.code === 'validation_failed' &&
        e.fields.some((f) => f.path === '/classification'),
    )
    await assert.rejects(
      admin.create('agents', {
        id: 'bot-1',
        sponsor: 'alice@example.com',
        classification: 'delegated',
        ceiling: [],
      }),
      (e: unknown) => e instanceof MandateApiError && e.code === 'conflict',
    )
    await assert.rejects(
      admin.put(
        'agents',
        'bot-1',
        { sponsor: 'alice@example.com', classification: 'delegated', ceiling: [] },
        99,
      ),
      (e: unknown) => e instanceof MandateApiError && e.code === 'conflict',
    )
    const stranger = new AdminClient({
      baseUrl: node.node.url,
      token: 'mnd_adm_not-a-real-token-but-long-enough-to-try',
    })
    await assert.rejects(
      stranger.listKeys(),
      (e: unknown) => e instanceof MandateApiError && e.code === 'unauthorized',
    )
  })

  it('says network_error when the node cannot be reached', async () => {
    const offline = new AdminClient({ baseUrl: 'http://127.0.0.1:9', token: node.token })
    await assert.rejects(
      offline.listKeys(),
      (e: unknown) => e instanceof MandateApiError && e.code === 'network_error' && e.status === 0,
    )
  })

  it('merge-patches an object and streams audit events in order', async () => {
    const patched = await admin.patch('agents', 'bot-1', {
      status: 'suspended',
      suspended_reason: 'investigation',
    })
    assert.equal(patched.object.status, 'suspended')
    const seqs: number[] = []
    for await (const event of admin.auditEvents({ principal: 'agent:bot-1' })) seqs.push(event.seq)
    assert.equal(seqs.length, 2, 'created and suspended: the unchanged put wrote nothing')
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      seqs,
    )
    assert.equal((await admin.verifyAudit()).ok, true)
  })
})
