// Dependency rules for packages/server/src, built from the layer table in docs/architecture.md (the table is the
// rule: change it there). Run with `npm run check:deps`.
const { readFileSync, readdirSync } = require('node:fs')
const { join } = require('node:path')

const SRC = 'packages/server/src'
const doc = readFileSync(join(__dirname, 'docs/architecture.md'), 'utf8')
const section = doc.split('## Dependency direction')[1]?.split('\n## ')[0] ?? ''
const rows = section
  .split('\n')
  .filter((line) => /^\|\s*\d+\s*\|/.test(line))
  .map((line) =>
    line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim()),
  )
if (rows.length === 0) throw new Error('docs/architecture.md: no layer table under "## Dependency direction"')

const names = (cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1])
const rankOf = new Map()
const sameRank = new Map()
for (const [rank, , modules, allowed = ''] of rows) {
  for (const name of names(modules)) rankOf.set(name, Number(rank))
  for (const pair of allowed.split(',')) {
    const [from, to] = names(pair)
    if (from && to) sameRank.set(from, [...(sameRank.get(from) ?? []), to])
  }
}

const entries = readdirSync(join(__dirname, SRC))
const missing = entries.filter((entry) => !rankOf.has(entry))
if (missing.length > 0)
  throw new Error(
    `docs/architecture.md: the layer table does not place ${missing.join(', ')} (packages/server/src)`,
  )

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const pathOf = (name) => `^${escapeRegExp(`${SRC}/${name}`)}${name.endsWith('.ts') ? '$' : '/'}`

const forbidden = [
  {
    name: 'no-cycle',
    comment: 'An import cycle makes modules impossible to read, test or load alone.',
    severity: 'error',
    from: { path: `^${SRC}/` },
    to: { circular: true },
  },
  {
    name: 'resolvable',
    comment: 'Every import resolves.',
    severity: 'error',
    from: { path: `^${SRC}/` },
    to: { couldNotResolve: true },
  },
]
for (const [name, rank] of rankOf) {
  const upward = [...rankOf]
    .filter(
      ([other, r]) =>
        other !== name && (r > rank || (r === rank && !(sameRank.get(name) ?? []).includes(other))),
    )
    .map(([other]) => pathOf(other))
  if (upward.length === 0) continue
  forbidden.push({
    name: `layers: ${name}`,
    comment: `${name} (rank ${rank}) imports only lower ranks (docs/architecture.md).`,
    severity: 'error',
    from: { path: pathOf(name) },
    to: { path: upward },
  })
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type cycle is still a cycle, and an upward type import is still upward.
    tsPreCompilationDeps: true,
    includeOnly: `^${SRC}/`,
  },
}
