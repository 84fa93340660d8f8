// Registry rules through the admin API, on both stores: cascades, references, secrets and canonical times.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'

const publicJwk = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })

for (const kind of storeKinds) {
  describe(`registry rules (${kind.name})`, () => {
    let store: TestStore
    let node: TestNode
    before(async () => {
      store = kind.create()
      node = await startTestNode(store)
      assert.equal((await node.call('PUT', '/api/v1/humans/alice', { body: {} })).status, 201)
    })
    after(async () => {
      await node.close()
      await store.drop()
    })

    const agent = (id: string, extra: Record<string, unknown> = {}) =>
      node.call('PUT', `/api/v1/agents/${id}`, {
        body: { sponsor: 'alice', classification: 'autonomous', ceiling: ['a:read'], ...extra },
      })

    it('suspends the active sub-agents, all the way down, when a parent agent is retired', async () => {
      await agent('root')
      await agent('mid', { parent: 'root' })
      await agent('leaf', { parent: 'mid' })
      assert.equal((await node.call('DELETE', '/api/v1/agents/root')).json.object.status, 'retired')
      for (const id of ['mid', 'leaf']) {
        const child = (await node.call('GET', `/api/v1/agents/${id}`)).json
        assert.equal(child.status, 'suspended', id)
        assert.equal(child.suspended_reason, 'parent_inactive', id)
      }
      const events = (await node.call('GET', '/api/v1/audit/events?type=admin.agent.suspend')).json.items
      assert.deepEqual(events.map((e: { resource: string }) => e.resource).sort(), [
        'agent:leaf',
        'agent:mid',
      ])
      assert.equal(
        (await node.call('DELETE', '/api/v1/agents/leaf')).status,
        200,
        'a sub-agent of a retired parent can still be retired',
      )
    })

    const patch = (id: string, body: Record<string, unknown>) =>
      node.call('PATCH', `/api/v1/agents/${id}`, {
        body,
        headers: { 'content-type': 'application/merge-patch+json' },
      })
    const statusOf = async (id: string) => (await node.call('GET', `/api/v1/agents/${id}`)).json.status
    const refusedAtStatus = (
      res: { status: number; json: { fields?: Array<{ path: string; message: string }> } },
      why: RegExp,
    ) => {
      assert.equal(res.status, 400, JSON.stringify(res.json))
      assert.equal(res.json.fields?.[0]?.path, '/status')
      assert.match(res.json.fields?.[0]?.message ?? '', why)
    }

    it('issue 8: a sub-agent cannot be reactivated while its parent is suspended, by PATCH, PUT or apply (400 naming /status)', async () => {
      await agent('boss')
      await agent('worker', { parent: 'boss' })
      assert.equal((await patch('boss', { status: 'suspended' })).status, 200)
      assert.equal(await statusOf('worker'), 'suspended')
      refusedAtStatus(await patch('worker', { status: 'active' }), /its parent agent boss is suspended/)
      refusedAtStatus(await agent('worker', { parent: 'boss', status: 'active' }), /boss is suspended/)
      const applied = await node.call('POST', '/api/v1/apply', {
        body: {
          documents: [
            {
              kind: 'Agent',
              id: 'worker',
              sponsor: 'alice',
              classification: 'autonomous',
              ceiling: ['a:read'],
              parent: 'boss',
            },
          ],
        },
      })
      assert.equal(applied.status, 400, applied.text)
      assert.equal(applied.json.fields[0].path, '/documents/0/status')
      assert.equal(await statusOf('worker'), 'suspended')
      // A new sub-agent cannot start active under it either; suspended it can.
      refusedAtStatus(await agent('newcomer', { parent: 'boss' }), /boss is suspended/)
      assert.equal((await agent('newcomer', { parent: 'boss', status: 'suspended' })).status, 201)
      // Top down: once the parent is active again, so may the sub-agent be.
      assert.equal((await patch('boss', { status: 'active' })).status, 200)
      assert.equal((await patch('worker', { status: 'active' })).status, 200)
      assert.equal(await statusOf('worker'), 'active')
    })

    it('issue 8: lifecycle runs up the whole tree: any inactive ancestor, an expired parent, or a move under an inactive parent is refused', async () => {
      await agent('top')
      await agent('middle', { parent: 'top' })
      await agent('bottom', { parent: 'middle' })
      assert.equal((await patch('top', { status: 'suspended' })).status, 200)
      refusedAtStatus(await patch('bottom', { status: 'active' }), /its parent agent middle is suspended/)
      // middle may not come back before top, so neither may bottom.
      refusedAtStatus(await patch('middle', { status: 'active' }), /its parent agent top is suspended/)
      // Moving an active agent under an inactive parent is a reactivation too.
      await agent('drifter')
      refusedAtStatus(await patch('drifter', { parent: 'middle' }), /middle is suspended/)
      assert.equal((await node.call('GET', '/api/v1/agents/drifter')).json.parent, undefined)

      await agent('lapsed', { expires_at: '2020-01-01T00:00:00Z' })
      refusedAtStatus(await agent('under-lapsed', { parent: 'lapsed' }), /its parent agent lapsed is expired/)
      // A sub-agent two levels down names the ancestor that stops it.
      await agent('mid-lapsed', { parent: 'lapsed', status: 'suspended' })
      refusedAtStatus(
        await agent('deep-lapsed', { parent: 'mid-lapsed' }),
        /its parent agent mid-lapsed is suspended/,
      )
      assert.equal((await patch('top', { status: 'active' })).status, 200)
      assert.equal((await patch('middle', { status: 'active' })).status, 200)
      assert.equal((await patch('bottom', { status: 'active' })).status, 200)
    })

    it('issue 8: an ancestor whose sponsor is inactive stops reactivation below it, and a new sponsor lifts a suspension only under active ancestors', async () => {
      assert.equal((await node.call('PUT', '/api/v1/humans/bea', { body: {} })).status, 201)
      assert.equal((await node.call('PUT', '/api/v1/humans/cas', { body: {} })).status, 201)
      await agent('lead', { sponsor: 'bea' })
      await agent('aide', { parent: 'lead', sponsor: 'cas' })
      assert.equal((await node.call('DELETE', '/api/v1/humans/bea')).status, 200)
      assert.equal(await statusOf('lead'), 'suspended')
      assert.equal(await statusOf('aide'), 'suspended')
      refusedAtStatus(await patch('aide', { status: 'active' }), /its parent agent lead is suspended/)
      // Deactivating aide's own sponsor and assigning a new one would lift a sponsor_inactive suspension, but its
      // parent is still suspended: it stays suspended, now for that reason.
      assert.equal((await node.call('DELETE', '/api/v1/humans/cas')).status, 200)
      assert.equal((await patch('aide', { suspended_reason: 'sponsor_inactive' })).status, 200)
      const moved = await patch('aide', { sponsor: 'alice' })
      assert.equal(moved.status, 200, moved.text)
      assert.equal(moved.json.object.status, 'suspended')
      assert.equal(moved.json.object.suspended_reason, 'parent_inactive')
    })

    it('refuses a sub-agent ceiling wider than its parent once resource patterns are counted', async () => {
      await agent('scoped', {
        ceiling: [{ action: 'crm:read', resources: ['https://crm.example.com/eu/*'] }],
      })
      const wide = await agent('scoped-child', {
        parent: 'scoped',
        ceiling: [{ action: 'crm:read', resources: ['*'] }],
      })
      assert.equal(wide.status, 400)
      assert.equal(wide.json.fields[0].path, '/ceiling/0')
      assert.equal(
        (
          await agent('scoped-child', {
            parent: 'scoped',
            ceiling: [{ action: 'crm:read', resources: ['https://crm.example.com/eu/contacts'] }],
          })
        ).status,
        201,
      )
    })

    it('stores expiry times in canonical UTC, reading a leap second as the next instant', async () => {
      const res = await agent('leap', { expires_at: '2030-06-30T23:59:60Z' })
      assert.equal(res.status, 201, res.text)
      assert.equal(res.json.object.expires_at, '2030-07-01T00:00:00.000Z')
      const offset = await agent('offset', { expires_at: '2030-01-01T02:00:00+02:00' })
      assert.equal(offset.json.object.expires_at, '2030-01-01T00:00:00.000Z')
    })

    it('keeps agent and workload ids apart: they share the client_id namespace', async () => {
      await agent('shared-id')
      const clash = await node.call('PUT', '/api/v1/workloads/shared-id', { body: {} })
      assert.equal(clash.status, 409)
      assert.equal((await node.call('PUT', '/api/v1/workloads/only-workload', { body: {} })).status, 201)
      assert.equal((await agent('only-workload')).status, 409)
    })

    it('never shows a client secret hash, and refuses one supplied by the caller', async () => {
      const created = await agent('secretive', { credentials: [{ type: 'client_secret', id: 'primary' }] })
      assert.equal(created.status, 201)
      assert.deepEqual(created.json.object.credentials, [{ type: 'client_secret', id: 'primary' }])
      const read = await node.call('GET', '/api/v1/agents/secretive')
      assert.ok(!read.text.includes('sha256:'))
      const forged = await agent('secretive', {
        credentials: [{ type: 'client_secret', id: 'primary', secret_hash: `sha256:${'0'.repeat(64)}` }],
      })
      assert.equal(forged.status, 400)
      assert.equal(forged.json.fields[0].path, '/credentials/0/secret_hash')
      // Writing back what a read returned keeps the secret.
      const roundTrip = await node.call('PUT', '/api/v1/agents/secretive', {
        body: { ...read.json, version: undefined, created_at: undefined, updated_at: undefined },
      })
      assert.equal(roundTrip.json.change, 'unchanged')
    })

    it('checks trusted issuer key sets like client key sets: public keys only, at least 2048-bit RSA', async () => {
      const leaked = await node.call('PUT', '/api/v1/trusted-issuers/leaky', {
        body: {
          issuer: 'https://leaky.example.com',
          type: 'workload',
          jwks: { keys: [{ ...publicJwk(), d: 'c2VjcmV0' }] },
        },
      })
      assert.equal(leaked.status, 400)
      assert.equal(leaked.json.fields[0].path, '/jwks/keys/0')
      const events = await node.call('GET', '/api/v1/audit/events?limit=1000')
      assert.ok(!events.text.includes('c2VjcmV0'), 'the refused private key is not recorded')
      const badAlg = await node.call('PUT', '/api/v1/trusted-issuers/hmac', {
        body: {
          issuer: 'https://hmac.example.com',
          type: 'workload',
          jwks: { keys: [{ ...publicJwk(), alg: 'HS256' }] },
        },
      })
      assert.equal(badAlg.status, 400)
    })

    it('refuses to change an issuer that credentials still trust, as it refuses to delete it', async () => {
      const issuer = 'https://ci.example.com'
      assert.equal(
        (
          await node.call('PUT', '/api/v1/trusted-issuers/ci', {
            body: { issuer, type: 'workload', jwks: { keys: [publicJwk()] } },
          })
        ).status,
        201,
      )
      assert.equal(
        (
          await node.call('PUT', '/api/v1/workloads/deployer', {
            body: { credentials: [{ type: 'federated', issuer, subject: 'repo:x' }] },
          })
        ).status,
        201,
      )
      assert.equal(
        (
          await node.call('PATCH', '/api/v1/trusted-issuers/ci', {
            body: { issuer: 'https://other.example.com' },
          })
        ).status,
        409,
      )
      assert.equal(
        (await node.call('PATCH', '/api/v1/trusted-issuers/ci', { body: { type: 'human_idp' } })).status,
        409,
      )
      assert.equal((await node.call('DELETE', '/api/v1/trusted-issuers/ci')).status, 409)
      assert.equal((await node.call('DELETE', '/api/v1/workloads/deployer')).status, 200)
      assert.equal(
        (await node.call('DELETE', '/api/v1/trusted-issuers/ci')).status,
        200,
        'a retired workload no longer holds the issuer',
      )
    })

    it('registers resource servers with unique audiences', async () => {
      const body = { audience: 'https://api.example.com/', scopes: ['a:read', 'a:read', 'a:write'] }
      const created = await node.call('PUT', '/api/v1/resource-servers/api', { body })
      assert.equal(created.status, 201, created.text)
      assert.deepEqual(created.json.object.scopes, ['a:read', 'a:write'])
      assert.equal(created.json.object.token_lifetime_seconds, 300)
      assert.equal((await node.call('PUT', '/api/v1/resource-servers/api-2', { body })).status, 409)
      assert.equal(
        (await node.call('PUT', '/api/v1/resource-servers/bad', { body: { audience: 'not a uri' } })).status,
        400,
      )
    })
  })
}
