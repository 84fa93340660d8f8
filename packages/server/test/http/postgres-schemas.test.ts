// Two deployments (or two test runs) sharing one PostgreSQL database, each in its own schema (MANDATE_DATABASE_SCHEMA),
// must not see each other: a node starts and serves on its schema whatever the other schemas hold.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import pg from 'pg'
import {
  postgresStore,
  postgresUrl,
  startTestNode,
  type TestNode,
  type TestStore,
} from '../support/harness.ts'

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
  it('a node migrates its schema while other schemas of the database are created and dropped all the while', async () => {
    // Other deployments (or test runs) come and go: a catalog read that walks their tables while they are dropped
    // must not fail this node's start.
    const churn = new pg.Client({ connectionString: postgresUrl() })
    await churn.connect()
    let stop = false
    const churning = (async () => {
      while (!stop) {
        const schema = `mandate_churn_${randomBytes(6).toString('hex')}`
        await churn.query(`create schema ${schema}`)
        await churn.query(`create table ${schema}.t (id bigserial primary key, name text)`)
        await churn.query(`drop schema ${schema} cascade`)
      }
    })()
    try {
      for (let i = 0; i < 4; i++) {
        const store = postgresStore()
        stores.push(store)
        const node = await startTestNode(store)
        nodes.push(node)
        assert.equal((await node.call('GET', '/readyz', { token: null })).status, 200)
      }
    } finally {
      stop = true
      await churning
      await churn.end()
    }
  })
})
