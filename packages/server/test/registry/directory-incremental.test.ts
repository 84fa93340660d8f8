// The in-memory registry follows the change feed: two nodes share one store, one writes through the admin API, and the
// other's Directory, after polling, must equal a Directory freshly loaded from the store, index by index, after every
// kind is created, changed (renamed keys included) and deleted, and after cascades. Subscribers hear each object's
// state before and after; a feed pruned past a node's position makes it reload; decisions follow the changes.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { Directory, type DirectoryChange } from '../../src/registry/directory.ts'
import { createRegistryStores } from '../../src/registry/stores.ts'
import { pepKey, post } from '../policy/authzen-fixture.ts'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'

const IDP = 'https://idp.example.com'
const CI = 'https://ci.example.com'
const SPARE = 'https://spare.example.com'

const jwks = () => ({
  keys: [
    {
      ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }),
      kid: 'k1',
      alg: 'ES256',
    },
  ],
})

/** Every key the test ever used, so that both views are asked about the same things, present or gone. */
interface Universe {
  humans: Set<string>
  emails: Set<string>
  identities: Set<string>
  clients: Set<string>
  federated: Set<string>
  issuers: Set<string>
  audiences: Set<string>
  servers: Set<string>
  groups: Set<string>
  members: Set<string>
  entities: Set<string>
  types: Set<string>
}

const sorted = (values: Iterable<string>) => [...values].sort()
const split = (key: string) => key.split('\u0000') as [string, string]

// Everything the Directory answers about the universe, as plain data.
function viewOf(d: Directory, u: Universe) {
  return {
    humans: sorted([...d.humans()].map((h) => h.id)),
    human: sorted(u.humans).map((id) => d.human(id) ?? null),
    byEmail: sorted(u.emails).map((e) => [e, d.humanByEmail(e)?.id ?? null]),
    byIdentity: sorted(u.identities).map((k) => [k, d.humanByIdentity(...split(k))?.id ?? null]),
    clients: sorted([...d.clients()].map((c) => `${c.kind}:${c.principal.id}`)),
    client: sorted(u.clients).map((id) => d.client(id) ?? null),
    federated: sorted(u.federated).map((k) => [
      k,
      d.federatedClients(...split(k)).map((c) => `${c.kind}:${c.principal.id}`),
    ]),
    issuers: sorted(u.issuers).map((iss) => d.trustedIssuer(iss) ?? null),
    servers: [...d.resourceServers()],
    byAudience: sorted(u.audiences).map((a) => [a, d.resourceServer(a)?.id ?? null]),
    serverById: sorted(u.servers).map((id) => d.resourceServerById(id) ?? null),
    groups: sorted(u.groups).map((id) => d.group(id) ?? null),
    groupsOf: sorted(u.members).map((m) => {
      const [kind, id] = m.split(':') as ['human' | 'agent' | 'workload', string]
      return [m, d.groupsOf(kind, id)]
    }),
    policies: d.policies(),
    entityTypes: [...d.entityTypes()],
    entities: sorted(u.entities).map((id) => d.entity(id) ?? null),
    byType: sorted(u.types).map((t) => [t, d.entityIdsOfType(t)]),
  }
}

for (const kind of storeKinds) {
  describe(`incremental directory (${kind.name})`, () => {
    let store: TestStore
    let a: TestNode
    let b: TestNode
    const u: Universe = {
      humans: new Set(),
      emails: new Set(),
      identities: new Set(),
      clients: new Set(),
      federated: new Set(),
      issuers: new Set([IDP, CI, SPARE, 'https://renamed.example.com']),
      audiences: new Set(),
      servers: new Set(),
      groups: new Set(),
      members: new Set(),
      entities: new Set(),
      types: new Set(['doc', 'folder', 'none']),
    }

    before(async () => {
      store = kind.create()
      a = await startTestNode(store)
      b = await startTestNode(store, {
        masterKey: a.config.masterKey,
        bootstrapToken: a.config.bootstrapToken,
      })
      // The second node is moved forward by hand, so that what it has seen is known at every step.
      b.node.directory.stop()
    })
    after(async () => {
      await b?.close()
      await a?.close()
      await store?.drop()
    })

    const write = async (method: string, path: string, body?: unknown, status = [200, 201]) => {
      const res = await a.call(method, path, {
        ...(body === undefined ? {} : { body }),
        ...(method === 'PATCH' ? { headers: { 'content-type': 'application/merge-patch+json' } } : {}),
      })
      assert.ok(status.includes(res.status), `${method} ${path}: ${res.status} ${res.text}`)
      return res.json
    }
    const human = (id: string, body: Record<string, unknown> = {}) => {
      u.humans.add(id)
      if (typeof body.email === 'string') u.emails.add(body.email)
      for (const i of (body.identities as Array<{ issuer: string; subject: string }>) ?? [])
        u.identities.add(`${i.issuer}\u0000${i.subject}`)
      return write('PUT', `/api/v1/humans/${id}`, body)
    }
    const principal = (plural: 'agents' | 'workloads', id: string, body: Record<string, unknown>) => {
      u.clients.add(id)
      for (const c of (body.credentials as Array<{ issuer?: string; subject?: string }>) ?? [])
        if (c.issuer && c.subject) u.federated.add(`${c.issuer}\u0000${c.subject}`)
      return write('PUT', `/api/v1/${plural}/${id}`, body)
    }
    const agent = (id: string, extra: Record<string, unknown> = {}) => {
      u.members.add(`agent:${id}`)
      return principal('agents', id, {
        sponsor: 'alice',
        classification: 'autonomous',
        ceiling: ['doc:read', 'read'],
        ...extra,
      })
    }
    const group = (id: string, members: Array<{ kind: string; id: string }>) => {
      u.groups.add(id)
      for (const m of members) u.members.add(`${m.kind}:${m.id}`)
      return write('PUT', `/api/v1/groups/${id}`, { members })
    }
    const server = (id: string, audience: string) => {
      u.servers.add(id)
      u.audiences.add(audience)
      return write('PUT', `/api/v1/resource-servers/${id}`, { audience, scopes: ['doc:read'] })
    }
    const entity = (id: string, body: Record<string, unknown>) => {
      u.entities.add(id)
      return write('PUT', `/api/v1/entities/${encodeURIComponent(id)}`, body)
    }

    // The second node catches up by polling; then both nodes' views must equal a fresh full load of the store.
    const converged = async (step: string) => {
      await b.node.directory.refresh()
      const fresh = new Directory(a.node.database, createRegistryStores())
      await fresh.refresh()
      const expected = viewOf(fresh, u)
      assert.deepEqual(viewOf(b.node.directory, u), expected, `the polling node after: ${step}`)
      assert.deepEqual(viewOf(a.node.directory, u), expected, `the writing node after: ${step}`)
      return expected
    }

    it('every kind created, changed and deleted on one node is seen exactly by the other', async () => {
      await write('PUT', '/api/v1/trusted-issuers/idp', { issuer: IDP, type: 'human_idp', jwks: jwks() })
      await write('PUT', '/api/v1/trusted-issuers/ci', { issuer: CI, type: 'workload', jwks: jwks() })
      await write('PUT', '/api/v1/trusted-issuers/spare', { issuer: SPARE, type: 'workload', jwks: jwks() })
      await human('alice', { email: 'Alice@Example.com' })
      await human('bob', { email: 'bob@example.com', identities: [{ issuer: IDP, subject: 'corp-bob' }] })
      await human('carol')
      await server('api', 'https://api.example.com/')
      await principal('workloads', 'zz-deployer', {
        credentials: [{ type: 'federated', issuer: CI, subject: 'repo:x' }],
        ceiling: ['doc:read'],
      })
      await agent('root', { credentials: [{ type: 'federated', issuer: CI, subject: 'repo:x' }] })
      await agent('mid', { parent: 'root' })
      await agent('leaf', { parent: 'mid' })
      await agent('bobs', { sponsor: 'bob' })
      await group('team', [
        { kind: 'human', id: 'alice' },
        { kind: 'agent', id: 'root' },
      ])
      await group('all', [{ kind: 'human', id: 'alice' }])
      await write('PUT', '/api/v1/entity-types/folder', { attributes: {}, actions: [] })
      await write('PUT', '/api/v1/entity-types/doc', {
        attributes: { owner: { type: 'String' } },
        member_of: ['folder'],
        actions: ['read'],
      })
      await entity('folder:f1', { attributes: {} })
      await entity('doc:2', { attributes: { owner: 'alice' }, parents: ['folder:f1'] })
      await entity('doc:1', { attributes: { owner: 'bob' } })
      await write('PUT', '/api/v1/policies/docs', {
        policies: '@id("read") permit (principal, action == Action::"read", resource is doc);',
      })
      const created = await converged('creating every kind')
      assert.deepEqual(
        created.federated,
        [[`${CI}\u0000repo:x`, ['workload:zz-deployer', 'agent:root']]],
        'workloads before agents',
      )
      assert.deepEqual(
        created.byType.find(([t]) => t === 'doc'),
        ['doc', ['doc:1', 'doc:2']],
        'entities in id order',
      )

      // Keys that move: an email, an IdP binding, an audience, an issuer URL, group membership, entity parents.
      await human('alice', { email: 'alice@corp.example.com' })
      await human('bob', { email: 'bob@example.com', identities: [{ issuer: IDP, subject: 'bob-2' }] })
      await server('api', 'https://api2.example.com/')
      await write('PATCH', '/api/v1/trusted-issuers/spare', { issuer: 'https://renamed.example.com' })
      await group('team', [{ kind: 'agent', id: 'mid' }])
      await entity('doc:2', { attributes: { owner: 'carol' }, parents: [] })
      await agent('root', { credentials: [] })
      await write('PUT', '/api/v1/policies/docs', {
        policies: '@id("read") forbid (principal, action == Action::"read", resource is doc);',
      })
      await converged('changing keys')

      // The email alice gave up, taken by another human in another case.
      await human('carol', { email: 'ALICE@example.COM' })
      const moved = await converged('an email changing hands')
      assert.deepEqual(
        moved.byEmail.find(([e]) => e === 'Alice@Example.com'),
        ['Alice@Example.com', 'carol'],
      )

      // Cascades: a suspended parent suspends its sub-agents; a deactivated sponsor suspends their agents.
      await write('PATCH', '/api/v1/agents/root', { status: 'suspended' })
      await write('DELETE', '/api/v1/humans/bob')
      const cascaded = await converged('cascades')
      const statusOf = (id: string) =>
        (cascaded.client.find((c) => c?.principal.id === id)?.principal as { status?: string } | undefined)
          ?.status
      assert.deepEqual(['root', 'mid', 'leaf', 'bobs'].map(statusOf), [
        'suspended',
        'suspended',
        'suspended',
        'suspended',
      ])

      // Deletions.
      await write('DELETE', '/api/v1/groups/team')
      await write('DELETE', '/api/v1/entities/doc%3A1')
      await write('DELETE', '/api/v1/policies/docs')
      await write('DELETE', '/api/v1/resource-servers/api')
      await write('DELETE', '/api/v1/trusted-issuers/spare')
      await write('DELETE', '/api/v1/agents/leaf')
      const deleted = await converged('deleting')
      assert.equal(
        deleted.groups.find((g) => g?.id === 'team'),
        undefined,
      )
      assert.deepEqual(
        deleted.byType.find(([t]) => t === 'doc'),
        ['doc', ['doc:2']],
      )
    })

    it('apply of many documents in one transaction reaches the other node in one batch', async () => {
      const documents = Array.from({ length: 300 }, (_, i) => ({
        kind: 'Entity',
        id: `doc:bulk-${String(299 - i).padStart(3, '0')}`,
        attributes: { owner: 'alice' },
      }))
      for (const d of documents) u.entities.add(d.id)
      const batches: number[] = []
      const unsubscribe = b.node.directory.subscribe((changes) => batches.push(changes.length))
      try {
        await write('POST', '/api/v1/apply', { documents })
        const view = await converged('apply')
        assert.deepEqual(batches, [300])
        const ids = view.byType.find(([t]) => t === 'doc')?.[1] as string[]
        assert.deepEqual(
          ids,
          [...ids].sort(),
          'entities of a type stay in id order whatever order they came in',
        )
      } finally {
        unsubscribe()
      }
    })

    it('concurrent writes committed together: a refused one changes nothing, the others all land', async () => {
      const ids = Array.from({ length: 12 }, (_, i) => `together-${i}`)
      const answers = await Promise.all([
        ...ids.map((id) =>
          a.call('POST', '/api/v1/agents', {
            body: { id, sponsor: 'alice', classification: 'autonomous', ceiling: ['read'] },
          }),
        ),
        ...Array.from({ length: 4 }, () =>
          a.call('POST', '/api/v1/agents', {
            body: { id: 'together-dup', sponsor: 'alice', classification: 'autonomous', ceiling: ['read'] },
          }),
        ),
        a.call('POST', '/api/v1/agents', {
          body: { id: 'together-orphan', sponsor: 'nobody', classification: 'autonomous', ceiling: ['read'] },
        }),
      ])
      assert.deepEqual(
        answers.slice(0, ids.length).map((r) => r.status),
        ids.map(() => 201),
      )
      assert.deepEqual(
        answers
          .slice(ids.length, ids.length + 4)
          .map((r) => r.status)
          .sort(),
        [201, 409, 409, 409],
      )
      assert.equal(answers.at(-1)?.status, 400)
      for (const id of [...ids, 'together-dup', 'together-orphan']) u.clients.add(id)
      const view = await converged('concurrent writes')
      assert.equal(
        view.client.find((c) => c?.principal.id === 'together-orphan'),
        undefined,
      )
      const created = (await a.call('GET', '/api/v1/audit/events?type=admin.agent.create&limit=1000')).json
        .items
      assert.equal(
        created.filter((e: { resource: string }) => e.resource === 'agent:together-dup').length,
        1,
        'one audit record for the one create that landed',
      )
      assert.equal((await a.call('POST', '/api/v1/audit/verify', { body: {} })).json.ok, true)
    })

    it('subscribers hear each object before and after, cascades included', async () => {
      await agent('boss')
      await agent('worker', { parent: 'boss' })
      await b.node.directory.refresh()
      const heard: DirectoryChange[] = []
      const unsubscribe = b.node.directory.subscribe((changes) => heard.push(...changes))
      try {
        await agent('newbie')
        await write('PATCH', '/api/v1/agents/boss', { status: 'suspended' })
        await write('PUT', '/api/v1/entities/doc%3Abulk-000', { attributes: { owner: 'carol' } })
        await write('DELETE', '/api/v1/entities/doc%3Abulk-001')
        await b.node.directory.refresh()
      } finally {
        unsubscribe()
      }
      const of = (kind: string, id: string) =>
        heard.find(
          (c): c is Extract<DirectoryChange, { kind: string }> => !c.reset && c.kind === kind && c.id === id,
        )
      const status = (doc: unknown) => (doc as { status?: string } | undefined)?.status
      assert.equal(
        heard.some((c) => c.reset),
        false,
      )
      const newbie = of('Agent', 'newbie')
      assert.equal(newbie?.before, undefined)
      assert.equal(status(newbie?.after), 'active')
      const boss = of('Agent', 'boss')
      assert.deepEqual([status(boss?.before), status(boss?.after)], ['active', 'suspended'])
      const worker = of('Agent', 'worker')
      assert.deepEqual(
        [status(worker?.before), status(worker?.after)],
        ['active', 'suspended'],
        'the cascade',
      )
      const owner = (doc: unknown) => (doc as { attributes: { owner: string } } | undefined)?.attributes.owner
      const changed = of('Entity', 'doc:bulk-000')
      assert.deepEqual([owner(changed?.before), owner(changed?.after)], ['alice', 'carol'])
      const gone = of('Entity', 'doc:bulk-001')
      assert.equal(owner(gone?.before), 'alice')
      assert.equal(gone?.after, undefined)
      u.clients.add('boss').add('worker').add('newbie')
      await converged('subscribed changes')
    })

    it('a node whose position the feed was pruned past reloads everything, and follows the feed again after', async () => {
      await agent('before-prune')
      const heard: DirectoryChange[][] = []
      const unsubscribe = b.node.directory.subscribe((changes) => heard.push([...changes]))
      try {
        assert.ok((await a.node.directory.prune(0)) > 0, 'rows were pruned')
        await agent('after-prune')
        await b.node.directory.refresh()
        assert.deepEqual(heard, [[{ reset: true }]], 'one reset, no partial deltas')
        assert.equal(b.node.directory.client('before-prune')?.principal.id, 'before-prune')
        assert.equal(b.node.directory.client('after-prune')?.principal.id, 'after-prune')
        await agent('later')
        await b.node.directory.refresh()
        assert.equal(heard.length, 2)
        assert.deepEqual(
          heard[1]?.map((c) => (c.reset ? 'reset' : `${c.kind}:${c.id}`)),
          ['Agent:later'],
          'deltas again once caught up',
        )
      } finally {
        unsubscribe()
      }
      u.clients.add('before-prune').add('after-prune').add('later')
      await converged('pruning')
    })

    it('a decision on the other node, right after its poll, sees the change: agents, entities and policies', async () => {
      const pep = await pepKey(b)
      await write('PUT', '/api/v1/policies/docs', {
        policies:
          '@id("owner") permit (principal is agent, action == Action::"read", resource is doc) when { principal.status == "active" && resource has owner && resource.owner == "alice" };',
      })
      await agent('reader')
      await entity('doc:plan', { attributes: { owner: 'alice' } })
      const decide = async () => {
        await b.node.directory.refresh()
        const res = await post(
          b,
          '/access/v1/evaluation',
          {
            subject: { type: 'agent', id: 'reader' },
            action: { name: 'read' },
            resource: { type: 'doc', id: 'plan' },
          },
          pep,
        )
        assert.equal(res.status, 200, JSON.stringify(res.json))
        return res.json.decision as boolean
      }
      assert.equal(await decide(), true, 'allowed once the agent, the entity and the policy are seen')
      await entity('doc:plan', { attributes: { owner: 'bob' } })
      assert.equal(await decide(), false, 'the entity changed')
      await entity('doc:plan', { attributes: { owner: 'alice' } })
      assert.equal(await decide(), true)
      await write('PATCH', '/api/v1/agents/reader', { status: 'suspended' })
      assert.equal(await decide(), false, 'the agent was suspended')
      await write('PATCH', '/api/v1/agents/reader', { status: 'active' })
      assert.equal(await decide(), true)
      await write('PATCH', '/api/v1/policies/docs', { enabled: false })
      assert.equal(await decide(), false, 'the policy set was disabled')
    })
  })
}
