// One list of registry kinds (REGISTRY_KINDS in @mandate/sdk): the schemas, the rules table, the CLI, the admin API
// with its OpenAPI document, and the README all follow it.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { REGISTRY_KINDS } from '@mandate/sdk'
import { documentKinds, resolveKind } from '../../src/cli/documents.ts'
import { kindRules } from '../../src/registry/kinds.ts'
import { registryKinds } from '../../src/registry/model.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'

const README = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8')
const kinds = Object.keys(REGISTRY_KINDS) as Array<keyof typeof REGISTRY_KINDS>

describe('the registry kinds, one list', () => {
  let store: TestStore
  let node: TestNode
  before(async () => {
    store = sqliteStore()
    node = await startTestNode(store)
  })
  after(async () => {
    await node.close()
    await store.drop()
  })

  it('the schemas, the rules table and the CLI cover exactly the kinds of REGISTRY_KINDS, with its paths', () => {
    assert.deepEqual(Object.keys(registryKinds), kinds)
    assert.deepEqual(Object.keys(kindRules).sort(), [...kinds].sort())
    for (const kind of kinds) {
      assert.equal(registryKinds[kind].plural, REGISTRY_KINDS[kind])
      assert.equal(documentKinds[kind].path, REGISTRY_KINDS[kind])
      // As users type them: the document name, the URL path, and the singular.
      for (const name of [kind, REGISTRY_KINDS[kind], REGISTRY_KINDS[kind].replace(/s$/, '')])
        assert.equal(resolveKind(name), kind, name)
    }
  })

  it('the admin API and its OpenAPI document serve every kind', async () => {
    const docs = (await node.call('GET', '/api/docs/openapi.json', { token: null })).json
    for (const path of Object.values(REGISTRY_KINDS)) {
      assert.deepEqual(Object.keys(docs.paths[`/api/v1/${path}`]).sort(), ['get', 'post'], path)
      assert.deepEqual(Object.keys(docs.paths[`/api/v1/${path}/{id}`]).sort(), [
        'delete',
        'get',
        'patch',
        'put',
      ])
    }
    assert.deepEqual(
      docs.paths['/api/v1/apply'].post.requestBody.content['application/json'].schema.properties.documents
        .items.properties.kind.enum,
      kinds,
    )
  })

  it('the README describes every kind in the registry table and lists every path of the admin API', () => {
    for (const kind of kinds) assert.match(README, new RegExp(`^\\| \`${kind}\` \\|`, 'm'), kind)
    const listed = /`\/api\/v1\/\{([a-z,-]+)\}`/.exec(README)?.[1]?.split(',')
    assert.deepEqual(listed?.sort(), Object.values(REGISTRY_KINDS).sort())
  })
})
