// AuthZEN subject and resource search at scale (AuthZEN 1.0 §8): only the entities some permit's scope can reach are
// asked, and the pages are exactly those asking every entity of the type gives (same results, same order, same
// next_token), on random registries and random policy sets, page by page.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { nextToken, pageOf } from '../../src/authzen/paging.ts'
import { type AuthzenSearch, search } from '../../src/authzen/search.ts'
import { openCore } from '../../src/main.ts'
import { entityUid } from '../../src/policy/compiled/values.ts'
import { EntityStore } from '../../src/policy/entity-store.ts'
import { permitScopes, reachable } from '../../src/policy/search-scopes.ts'
import { storeKinds, type TestStore, testConfig } from '../support/harness.ts'

type Core = Awaited<ReturnType<typeof openCore>>
const ctx = { actor: { kind: 'system' as const, id: 'search-test' } }
const audit = { actors: [{ kind: 'system' as const, id: 'search-test' }], source: 'authzen' }

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

const HUMANS = 24
const GROUPS = 4
const FOLDERS = 16
const DOCS = 150

for (const kind of storeKinds) {
  describe(`search over the policies' scopes (${kind.name})`, () => {
    let store: TestStore
    let core: Core
    const rand = random(kind.name === 'sqlite' ? 7 : 11)
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T
    const n = (count: number) => Math.floor(rand() * count)

    before(async () => {
      store = kind.create()
      core = await openCore(testConfig(store))
      const humans = Array.from({ length: HUMANS }, (_, i) => `h${String(i).padStart(2, '0')}`)
      const docs: Record<string, unknown>[] = [
        { kind: 'EntityType', id: 'folder', member_of: ['folder'], actions: [] },
        {
          kind: 'EntityType',
          id: 'doc',
          attributes: { owner: { type: 'Entity', entity_type: 'human' }, level: { type: 'Long' } },
          member_of: ['folder'],
          actions: ['view', 'edit', 'share'],
        },
        ...humans.map((id) => ({ kind: 'Human', id, email: `${id}@example.com` })),
        ...Array.from({ length: GROUPS }, (_, g) => ({
          kind: 'Group',
          id: `g${g}`,
          members: humans.filter(() => rand() < 0.3).map((id) => ({ kind: 'human', id })),
        })),
        // Folders form a forest: each one's parent comes before it.
        ...Array.from({ length: FOLDERS }, (_, f) => ({
          kind: 'Entity',
          id: `folder:f${f}`,
          parents: f > 0 && rand() < 0.7 ? [`folder:f${n(f)}`] : [],
        })),
        ...Array.from({ length: DOCS }, (_, d) => ({
          kind: 'Entity',
          id: `doc:d${String(d).padStart(3, '0')}`,
          attributes: { owner: `human:${pick(humans)}`, level: n(5) },
          parents: Array.from({ length: n(3) }, () => `folder:f${n(FOLDERS)}`).filter(
            (p, i, all) => all.indexOf(p) === i,
          ),
        })),
      ]
      await core.registry.apply(docs, ctx)
    })
    after(async () => {
      await core?.close()
      store?.drop()
    })

    // A random policy set mixing scopes that narrow (==, in, is ... in) with some that do not (is, none).
    const policySet = (): string => {
      const actions = ['view', 'edit', 'share']
      const action = () => (rand() < 0.3 ? 'action' : `action == Action::"${pick(actions)}"`)
      const lines: string[] = []
      for (let i = 0; i < 6; i++) {
        const kind = n(6)
        if (kind === 0)
          lines.push(
            `permit (principal in group::"g${n(GROUPS)}", ${action()}, resource in folder::"f${n(FOLDERS)}");`,
          )
        if (kind === 1)
          lines.push(
            `permit (principal == human::"h${String(n(HUMANS)).padStart(2, '0')}", action in [Action::"view", Action::"edit"], resource == doc::"d${String(n(DOCS)).padStart(3, '0')}");`,
          )
        if (kind === 2)
          lines.push(
            `permit (principal is human, ${action()}, resource is doc in folder::"f${n(FOLDERS)}") when { resource has level && resource.level < ${n(5)} };`,
          )
        if (kind === 3 && rand() < 0.4)
          lines.push(
            `permit (principal, ${action()}, resource is doc) when { resource has owner && resource.owner == principal };`,
          )
        if (kind === 4) lines.push(`forbid (principal, ${action()}, resource in folder::"f${n(FOLDERS)}");`)
        if (kind === 5)
          lines.push(
            `permit (principal in group::"g${n(GROUPS)}", ${action()}, resource == doc::"d${String(n(DOCS)).padStart(3, '0')}");`,
          )
      }
      return lines.length > 0 ? lines.join('\n') : 'forbid (principal, action, resource);'
    }

    // Every page both ways: the search over the scopes, and asking every entity of the type in id order.
    const comparePages = async (query: AuthzenSearch, all: readonly string[]) => {
      let token: string | undefined
      let found = 0
      for (let page = 0; page < 200; page++) {
        const limit = 1 + n(6)
        const paged = { ...query, page: { limit, ...(token ? { token } : {}) } } as AuthzenSearch
        const fast = await search(core.pdp, paged, audit)
        const { candidates } = pageOf(all, paged.page)
        const vary = query.kind === 'subject' ? 'subject' : 'resource'
        const exhaustive = await core.pdp.search(
          candidates,
          (id) => ({
            principal:
              vary === 'subject'
                ? { type: 'human', id }
                : { type: 'human', id: (query.subject as { id: string }).id },
            action: (query as { action: { name: string } }).action.name,
            resource:
              vary === 'resource'
                ? { type: 'doc', id }
                : { type: 'doc', id: (query.resource as { id: string }).id },
          }),
          { ...audit, what: 'exhaustive' },
          limit,
        )
        assert.deepEqual(
          fast,
          {
            results: exhaustive.results.map((id) => ({ type: vary === 'subject' ? 'human' : 'doc', id })),
            page: { next_token: nextToken(exhaustive) },
          },
          `page ${page} of ${JSON.stringify(query)}`,
        )
        found += fast.results.length
        token = fast.page.next_token
        if (!token) return found
      }
      assert.fail('the pages never ended')
    }

    it('finds page by page what asking every entity finds, on random policy sets', async () => {
      const docs = core.directory
        .entityIdsOfType('doc')
        .map((uid) => uid.slice(4))
        .sort()
      const humans = [...core.directory.humans()].map((h) => h.id).sort()
      let found = 0
      for (let round = 0; round < 8; round++) {
        await core.registry.put('Policy', 'docs', { policies: policySet() }, ctx)
        for (let q = 0; q < 4; q++) {
          const action = { name: pick(['view', 'edit', 'share']) }
          found += await comparePages(
            {
              kind: 'resource',
              subject: { type: 'human', id: pick(humans) },
              action,
              resource: { type: 'doc' },
            },
            docs,
          )
          found += await comparePages(
            {
              kind: 'subject',
              subject: { type: 'human' },
              action,
              resource: { type: 'doc', id: pick(docs) },
            },
            humans,
          )
        }
      }
      assert.ok(found > 20, `${found} results found in all`)
    })

    it('a page that ends on the last entity of the type says there is no next page, as asking every one does', async () => {
      const last = core.directory
        .entityIdsOfType('doc')
        .map((uid) => uid.slice(4))
        .sort()
        .at(-1)
      const first = core.directory
        .entityIdsOfType('doc')
        .map((uid) => uid.slice(4))
        .sort()[0]
      await core.registry.put(
        'Policy',
        'docs',
        {
          policies: `permit (principal, action == Action::"view", resource == doc::"${last}");\npermit (principal, action == Action::"view", resource == doc::"${first}");`,
        },
        ctx,
      )
      const query = (limit: number, token?: string): AuthzenSearch => ({
        kind: 'resource',
        subject: { type: 'human', id: 'h00' },
        action: { name: 'view' },
        resource: { type: 'doc' },
        page: { limit, ...(token ? { token } : {}) },
      })
      const page1 = await search(core.pdp, query(1), audit)
      assert.deepEqual(page1.results, [{ type: 'doc', id: first }])
      assert.notEqual(page1.page.next_token, '')
      const page2 = await search(core.pdp, query(1, page1.page.next_token), audit)
      assert.deepEqual(page2, { results: [{ type: 'doc', id: last }], page: { next_token: '' } })
      const whole = await search(core.pdp, query(2), audit)
      assert.deepEqual(whole.page.next_token, '')
    })

    it('asks only what a scope reaches: one entity, what is in an entity, or everything of the type', () => {
      const entities = EntityStore.build(core.directory)
      const scopes = permitScopes(
        new Map([
          ['a', 'permit (principal, action == Action::"view", resource in folder::"f0");'],
          ['b', 'permit (principal, action == Action::"view", resource == doc::"d001");'],
          ['c', 'permit (principal, action == Action::"edit", resource is doc);'],
          ['d', 'forbid (principal, action, resource);'],
        ]),
      )
      const shape = (action: string) => ({
        vary: 'resource' as const,
        type: 'doc',
        action: entityUid('Action', action),
        fixed: entityUid('human', 'h00'),
      })
      const inF0 = [...entities.descendantsOf(entityUid('folder', 'f0'))]
        .filter((e) => e.type === 'doc')
        .map((e) => e.id)
      assert.deepEqual(reachable(scopes, shape('view'), entities), new Set([...inF0, 'd001']))
      assert.equal(reachable(scopes, shape('edit'), entities), 'all')
      assert.deepEqual(reachable(scopes, shape('share'), entities), new Set())
    })
  })
}
