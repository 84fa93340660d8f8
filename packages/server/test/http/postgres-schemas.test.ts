// Two deployments (or two test runs) sharing one PostgreSQL database, each in its own schema (MANDATE_DATABASE_SCHEMA),
// must not see each other: a node starts and serves on its schema whatever the other schemas hold.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { postgresStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'

describe('PostgreSQL schemas of one database are independent', () => {
  const stores: TestStore[] = []
  const nodes: TestNode[] = []

  after(async () => {
    for (const node of nodes) await node.close().catch(() => {})
    for (const store of stores) await store.drop()
  })

  it('a node starts on a fresh schema while another schema of the same database is migrated', async () => {
    const first = postgresStore()
    stores.push(first)
    nodes.push(await startTestNode(first))

    const second = postgresStore()
    stores.push(second)
    const node = await startTestNode(second)
    nodes.push(node)
    const res = await node.call('PUT', '/api/v1/humans/second-schema', { body: {} })
    assert.equal(res.status, 201, res.text)
    const firstNode = nodes[0]
    assert.ok(firstNode)
    const elsewhere = await firstNode.call('GET', '/api/v1/humans/second-schema')
    assert.equal(elsewhere.status, 404)
  })
})
