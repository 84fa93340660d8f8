// The in-memory entity store follows the registry change by change: after any sequence of writes (principals,
// groups, declared types and entities, sub-agents, deletions, cascades), the store updated incrementally holds exactly
// what a fresh build from the registry holds: the same entities, attributes and ancestor sets.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { openCore } from '../../src/main.ts'
import { entityUid, valueKey } from '../../src/policy/compiled/values.ts'
import { EntityStore } from '../../src/policy/entity-store.ts'
import type { DirectoryChange } from '../../src/registry/directory.ts'
import { storeKinds, type TestStore, testConfig } from '../support/harness.ts'

type Core = Awaited<ReturnType<typeof openCore>>
const ctx = { actor: { kind: 'system' as const, id: 'entity-store-test' } }

// A seeded generator, so that a failing sequence can be replayed from its seed.
function random(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// Everything the store holds, comparable: uid, attributes (Cedar's equality key) and sorted ancestors.
function contents(store: EntityStore): Map<string, string> {
  const out = new Map<string, string>()
  for (const e of store.all())
    out.set(
      e.uid.key,
      `${valueKey(e.attrs)} in [${[...e.ancestors]
        .map((a) => a.key)
        .sort()
        .join(',')}]`,
    )
  return out
}

for (const kind of storeKinds) {
  describe(`the entity store follows registry changes (${kind.name})`, () => {
    let store: TestStore
    let core: Core

    before(async () => {
      store = kind.create()
      core = await openCore(testConfig(store))
    })
    after(async () => {
      await core?.close()
      store?.drop()
    })

    it('equals a fresh build after every change of a random sequence of registry writes', async () => {
      const rand = random(20261130)
      const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T
      const registry = core.registry
      const directory = core.directory
      const humans = ['alice', 'bob', 'carol']
      const agents = ['a1', 'a2', 'a3', 'a4', 'a5']
      const groups = ['g1', 'g2', 'g3']
      const folders = ['f1', 'f2', 'f3', 'f4']
      for (const h of humans) await registry.put('Human', h, { email: `${h}@example.com`, name: h }, ctx)
      await registry.put(
        'EntityType',
        'folder',
        { attributes: { label: { type: 'String' } }, member_of: ['folder'] },
        ctx,
      )
      await registry.put(
        'EntityType',
        'doc',
        {
          attributes: { owner: { type: 'Entity', entity_type: 'folder' }, level: { type: 'Long' } },
          member_of: ['folder'],
        },
        ctx,
      )
      const incremental = EntityStore.build(directory)
      // The directory's own change feed, as the decision point follows it.
      let applied = 0
      const stop = directory.subscribe((changes) => {
        applied += changes.filter((c) => !c.reset).length
        incremental.apply(changes)
      })

      const writes: Array<() => Promise<unknown>> = [
        () =>
          registry.put(
            'Human',
            pick(humans),
            {
              email: `${pick(humans)}-${Math.floor(rand() * 3)}@example.com`,
              status: rand() < 0.2 ? 'inactive' : 'active',
            },
            ctx,
          ),
        async () => {
          const id = pick(agents)
          // A parent earlier in the list only, so that the tree never closes a cycle (the registry refuses those).
          const earlier = agents.slice(0, agents.indexOf(id))
          const parent = earlier.length > 0 && rand() < 0.6 ? pick(earlier) : undefined
          const sponsor = pick(humans)
          if (directory.human(sponsor)?.status === 'inactive') return
          if (parent && directory.client(parent)?.kind !== 'agent') return
          return registry.put(
            'Agent',
            id,
            {
              sponsor,
              classification: pick(['autonomous', 'delegated', 'blended']),
              ceiling: [],
              ...(parent ? { parent } : {}),
              ...(rand() < 0.5 ? { model: { provider: 'acme', name: `m${Math.floor(rand() * 3)}` } } : {}),
              attributes: { team: pick(['red', 'blue']) },
            },
            ctx,
          )
        },
        () => {
          const members = [
            ...humans.map((id) => ({ kind: 'human', id })),
            ...agents.map((id) => ({ kind: 'agent', id })),
          ].filter(
            (m) => (m.kind === 'human' ? directory.human(m.id) : directory.client(m.id)) && rand() < 0.4,
          )
          return registry.put('Group', pick(groups), { members }, ctx)
        },
        async () => {
          const id = pick(groups)
          if (directory.group(id)) await registry.remove('Group', id, ctx)
        },
        () => {
          const id = pick(folders)
          const earlier = folders.slice(0, folders.indexOf(id))
          const parents = earlier.filter(() => rand() < 0.5).map((f) => `folder:${f}`)
          return registry.put(
            'Entity',
            `folder:${id}`,
            { attributes: { label: `L${Math.floor(rand() * 9)}` }, parents },
            ctx,
          )
        },
        () => {
          const parents = folders.filter(() => rand() < 0.4).map((f) => `folder:${f}`)
          return registry.put(
            'Entity',
            `doc:d${Math.floor(rand() * 4)}`,
            {
              attributes: { owner: `folder:${pick(folders)}`, level: Math.floor(rand() * 5) },
              parents,
            },
            ctx,
          )
        },
        async () => {
          const uid = `doc:d${Math.floor(rand() * 4)}`
          if (directory.entity(uid)) await registry.remove('Entity', uid, ctx)
        },
        () =>
          registry.put(
            'EntityType',
            'folder',
            {
              attributes: {
                label: { type: 'String' },
                ...(rand() < 0.5 ? { color: { type: 'String' } } : {}),
              },
              member_of: ['folder'],
            },
            ctx,
          ),
        () =>
          registry.put(
            'ResourceServer',
            'tickets',
            {
              audience: 'https://tickets.example.com/',
              scopes: rand() < 0.5 ? ['tickets:read'] : ['tickets:read', 'tickets:write'],
            },
            ctx,
          ),
      ]

      for (let step = 0; step < 60; step++) {
        const write = pick(writes)
        await write().catch((error: unknown) => {
          // The registry may refuse a random write (a rule of its kind); a refused write changes nothing.
          if (
            !(error instanceof Error) ||
            !/Conflict|Validation|refused|names no/i.test(
              `${error.name} ${error.message} ${error.constructor.name}`,
            )
          )
            throw error
        })
        assert.deepEqual(contents(incremental), contents(EntityStore.build(directory)), `after step ${step}`)
      }
      stop()
      assert.ok(applied >= 40, `${applied} changes applied`)
      // The sequence must have exercised ancestry through sub-agents, groups and nested entities.
      const withAncestors = [...incremental.all()].filter((e) => e.ancestors.size > 1)
      assert.ok(withAncestors.length > 0, 'some entity has more than one ancestor')
    })

    it('a reset rebuilds everything, and descendants follow their ancestors', async () => {
      const registry = core.registry
      await registry.put('Entity', 'folder:root', { attributes: {}, parents: [] }, ctx)
      await registry.put('Entity', 'folder:mid', { attributes: {}, parents: ['folder:root'] }, ctx)
      await registry.put('Entity', 'doc:leaf', { attributes: { level: 1 }, parents: ['folder:mid'] }, ctx)
      const store = EntityStore.build(core.directory)
      const mid = core.directory.entity('folder:mid')
      await registry.put('Entity', 'folder:mid', { attributes: {}, parents: [] }, ctx)
      // Only the parent's change is told: its descendant follows.
      const changes: DirectoryChange[] = [
        { kind: 'Entity', id: 'folder:mid', before: mid, after: core.directory.entity('folder:mid') },
      ]
      store.apply(changes)
      const leaf = store.get(entityUid('doc', 'leaf'))
      assert.deepEqual(
        [...(leaf?.ancestors ?? [])].map((a) => a.key),
        ['folder::"mid"'],
      )
      assert.ok(store.descendantsOf(entityUid('folder', 'mid')).has(entityUid('doc', 'leaf')))
      assert.ok(!store.descendantsOf(entityUid('folder', 'root')).has(entityUid('doc', 'leaf')))
      await registry.put('Entity', 'folder:mid', { attributes: {}, parents: ['folder:root'] }, ctx)
      store.apply([{ reset: true }])
      assert.deepEqual(contents(store), contents(EntityStore.build(core.directory)))
      assert.ok(store.get(entityUid('doc', 'leaf'))?.ancestors.has(entityUid('folder', 'root')))
    })
  })
}
