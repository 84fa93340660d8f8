#!/usr/bin/env node
// AuthZEN search at scale, in-process: one page of a resource search and of a subject search over a registry of
// 100,000 entities (1,000 humans in 20 groups, 2,000 folders in a tree, 97,000 documents in one or two folders each),
// with 50 policies: folder permits per group, single-document grants and a forbid on a folder. The search asks only
// what the permits' scopes reach; the reference asks every entity of the type (what search did before), on the same
// decision point and the same pages. Decision cache off; each figure is the median of --runs, the summary record of
// each search written durably as in service. Answers are compared: any difference fails the run.
//
// Usage: npm run bench:search -- [--runs 9] [--docs 97000] [--json]
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { nextToken, pageOf } from '../packages/server/src/authzen/paging.ts'
import { search } from '../packages/server/src/authzen/search.ts'
import { loadConfig } from '../packages/server/src/config/load.ts'
import { openCore } from '../packages/server/src/main.ts'
import { createRegistryStores } from '../packages/server/src/registry/stores.ts'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '9' },
    docs: { type: 'string', default: '97000' },
    json: { type: 'boolean', default: false },
  },
  strict: true,
})
const RUNS = Number(values.runs)
const DOCS = Number(values.docs)
const HUMANS = 1000
const GROUPS = 20
const FOLDERS = 2000
const log = (line) => process.stderr.write(`${line}\n`)

// Seeded, so that every run builds the same registry.
let seed = 42
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const n = (count) => Math.floor(rand() * count)
const pad = (i, width) => String(i).padStart(width, '0')
const human = (i) => `h${pad(i, 4)}`
const folder = (i) => `f${pad(i, 4)}`
const doc = (i) => `d${pad(i, 6)}`

const dir = mkdtempSync(join(tmpdir(), 'mandate-search-bench-'))
const config = loadConfig({
  env: {},
  overrides: {
    dataDir: dir,
    logLevel: 'silent',
    demoData: 'off',
    masterKey: randomBytes(32).toString('base64'),
    decisionCacheSize: 0,
  },
})
let core = await openCore(config)
const ctx = { actor: { kind: 'system', id: 'bench' } }
try {
  const built = performance.now()
  await core.registry.apply(
    [
      { kind: 'EntityType', id: 'folder', member_of: ['folder'], actions: [] },
      {
        kind: 'EntityType',
        id: 'doc',
        attributes: { owner: { type: 'Entity', entity_type: 'human' }, level: { type: 'Long' } },
        member_of: ['folder'],
        actions: ['view', 'edit'],
      },
    ],
    ctx,
  )
  // The bulk of the registry is written straight through the stores, in one transaction: this measures search, not
  // provisioning.
  const stores = createRegistryStores()
  const now = new Date().toISOString()
  await core.database.transact(async (tx) => {
    for (let i = 0; i < HUMANS; i++)
      await stores.humans.insert(
        tx,
        { id: human(i), email: `${human(i)}@example.com`, status: 'active' },
        now,
      )
    for (let g = 0; g < GROUPS; g++)
      await stores.groups.insert(
        tx,
        {
          id: `g${g}`,
          members: Array.from({ length: 100 }, (_, k) => ({ kind: 'human', id: human(g * 50 + k) })).filter(
            (m, k, all) => all.findIndex((o) => o.id === m.id) === k && Number(m.id.slice(1)) < HUMANS,
          ),
        },
        now,
      )
    for (let f = 0; f < FOLDERS; f++)
      await stores.entities.insert(
        tx,
        {
          id: `folder:${folder(f)}`,
          attributes: {},
          parents: f >= 20 ? [`folder:${folder(n(Math.min(f, 200)))}`] : [],
        },
        now,
      )
    for (let d = 0; d < DOCS; d++) {
      const parents = [`folder:${folder(n(FOLDERS))}`]
      if (rand() < 0.3) parents.push(`folder:${folder(n(FOLDERS))}`)
      await stores.entities.insert(
        tx,
        {
          id: `doc:${doc(d)}`,
          attributes: { owner: `human:${human(n(HUMANS))}`, level: n(5) },
          parents: [...new Set(parents)],
        },
        now,
      )
    }
  })
  // A node starting on this store loads it whole (the registry's change feed has not seen the rows written above).
  await core.close()
  core = await openCore(config)
  const policies = [
    ...Array.from(
      { length: 40 },
      (_, i) =>
        `permit (principal in group::"g${i % GROUPS}", action == Action::"view", resource in folder::"${folder(20 + i * 37)}");`,
    ),
    ...Array.from(
      { length: 9 },
      (_, i) =>
        `permit (principal == human::"${human(i * 7)}", action in [Action::"view", Action::"edit"], resource == doc::"${doc(i * 9973)}");`,
    ),
    `forbid (principal, action, resource in folder::"${folder(57)}");`,
  ]
  // The registry's version moves with this write: the directory reloads everything written above.
  await core.registry.put('Policy', 'docs', { policies: policies.join('\n') }, ctx)
  const audit = { actors: [{ kind: 'system', id: 'bench' }], source: 'authzen' }
  // Warm: the first decision loads the policies.
  const warm = performance.now()
  await core.pdp.evaluate({
    principal: { type: 'human', id: human(0) },
    action: 'view',
    resource: { type: 'doc', id: doc(0) },
  })
  log(
    `registry of ${HUMANS + GROUPS + FOLDERS + DOCS} entities ready in ${((warm - built) / 1000).toFixed(1)} s; first decision in ${(performance.now() - warm).toFixed(0)} ms`,
  )

  const docs = core.directory
    .entityIdsOfType('doc')
    .map((uid) => uid.slice(4))
    .sort()
  const humans = [...core.directory.humans()].map((h) => h.id).sort()
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const time = async (work) => {
    const times = []
    let answer
    for (let r = 0; r < RUNS; r++) {
      const start = performance.now()
      answer = await work()
      times.push(performance.now() - start)
    }
    return { ms: median(times), answer }
  }
  // The reference: every entity of the type asked in id order, as search did before.
  const exhaustive = async (query, all) => {
    const { candidates, limit } = pageOf(all, query.page)
    const found = await core.pdp.search(
      candidates,
      (id) => ({
        principal: query.kind === 'subject' ? { type: 'human', id } : { type: 'human', id: query.subject.id },
        action: query.action.name,
        resource: query.kind === 'resource' ? { type: 'doc', id } : { type: 'doc', id: query.resource.id },
      }),
      { ...audit, what: 'reference' },
      limit,
    )
    return {
      results: found.results.map((id) => ({ type: query.kind === 'subject' ? 'human' : 'doc', id })),
      page: { next_token: nextToken(found) },
    }
  }
  // A member of group g0 (so some folder permits apply), a document some group can view, and the page after the first.
  const member = human(0)
  const first = await search(
    core.pdp,
    {
      kind: 'resource',
      subject: { type: 'human', id: member },
      action: { name: 'view' },
      resource: { type: 'doc' },
      page: { limit: 100 },
    },
    audit,
  )
  const viewedDoc = first.results.at(-1)?.id ?? doc(0)
  const cases = [
    [
      'resource search, first page (limit 100)',
      {
        kind: 'resource',
        subject: { type: 'human', id: member },
        action: { name: 'view' },
        resource: { type: 'doc' },
        page: { limit: 100 },
      },
      docs,
    ],
    [
      'resource search, second page',
      {
        kind: 'resource',
        subject: { type: 'human', id: member },
        action: { name: 'view' },
        resource: { type: 'doc' },
        page: { limit: 100, token: first.page.next_token || undefined },
      },
      docs,
    ],
    [
      'resource search, edit (single-document grants)',
      {
        kind: 'resource',
        subject: { type: 'human', id: member },
        action: { name: 'edit' },
        resource: { type: 'doc' },
        page: { limit: 100 },
      },
      docs,
    ],
    [
      'subject search (limit 100)',
      {
        kind: 'subject',
        subject: { type: 'human' },
        action: { name: 'view' },
        resource: { type: 'doc', id: viewedDoc },
        page: { limit: 100 },
      },
      humans,
    ],
  ]
  const rows = []
  for (const [name, query, all] of cases) {
    const fast = await time(() => search(core.pdp, query, audit))
    const reference = await time(() => exhaustive(query, all))
    if (JSON.stringify(fast.answer) !== JSON.stringify(reference.answer)) {
      log(`${name}: the answers differ`)
      process.exitCode = 1
    }
    rows.push({
      name,
      results: fast.answer.results.length,
      ms: Number(fast.ms.toFixed(2)),
      reference_ms: Number(reference.ms.toFixed(1)),
      ratio: Number((reference.ms / fast.ms).toFixed(1)),
    })
  }
  if (values.json)
    process.stdout.write(`${JSON.stringify({ entities: HUMANS + GROUPS + FOLDERS + DOCS, rows }, null, 2)}\n`)
  else {
    process.stdout.write(
      `AuthZEN search over ${HUMANS + GROUPS + FOLDERS + DOCS} entities, ${policies.length} policies (median of ${RUNS}, ms per page)\n`,
    )
    for (const r of rows)
      process.stdout.write(
        `  ${r.name.padEnd(46)} ${String(r.results).padStart(4)} results  ${String(r.ms).padStart(8)} ms   every entity asked: ${String(r.reference_ms).padStart(8)} ms  (${r.ratio}x)\n`,
      )
  }
} finally {
  await core.close()
  rmSync(dir, { recursive: true, force: true })
}
