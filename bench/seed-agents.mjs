#!/usr/bin/env node
// Seeds a Mandate data directory with many agents for bench/token.mjs, through the registry in-process (the same code
// path as `mandate apply -f`: every document validated and written with its audit record, in transactions of
// --chunk documents). Also writes what the token benchmark needs: its sponsor, resource server, policies and the
// agent `bench-bot` with a client secret, which it prints.
//
// Run with tsx: node --import tsx bench/seed-agents.mjs --data-dir DIR --agents N [--chunk 10000]
// (MANDATE_MASTER_KEY or the data directory's key decides the master key, as for `mandate serve`).
// Prints one JSON line: { "client_secret": ..., "agents": N, "seconds": ... }.
import { parseArgs } from 'node:util'
import { loadConfig } from '../packages/server/src/config/load.ts'
import { openCore } from '../packages/server/src/main.ts'

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    agents: { type: 'string' },
    chunk: { type: 'string', default: '10000' },
    'client-id': { type: 'string', default: 'bench-bot' },
    sponsor: { type: 'string', default: 'bench@example.com' },
    resource: { type: 'string', default: 'https://api.bench.example/' },
    scope: { type: 'string', default: 'bench:read' },
    policies: { type: 'string' },
  },
  strict: true,
})
const agents = Number(values.agents)
const chunk = Number(values.chunk)
if (!values['data-dir'] || !Number.isInteger(agents) || agents < 0 || !Number.isInteger(chunk) || chunk < 1) {
  process.stderr.write(
    'usage: node --import tsx bench/seed-agents.mjs --data-dir DIR --agents N [--chunk N]\n',
  )
  process.exit(2)
}

const SPONSORS = 1000
const CLASSIFICATIONS = ['autonomous', 'delegated', 'blended']
const actor = { actor: { kind: 'system', id: 'bench-seed' } }
const started = process.hrtime.bigint()
const core = await openCore(
  loadConfig({
    env: process.env,
    overrides: { dataDir: values['data-dir'], demoData: 'off', logLevel: 'silent', keyRotationSeconds: 0 },
  }),
)
let secret
try {
  const first = await core.registry.apply(
    [
      { kind: 'Human', id: values.sponsor },
      ...Array.from({ length: SPONSORS }, (_, i) => ({ kind: 'Human', id: `sponsor-${i}@example.com` })),
      { kind: 'ResourceServer', id: 'bench', audience: values.resource, scopes: [values.scope] },
      ...(values.policies ? [{ kind: 'Policy', id: 'bench', policies: values.policies }] : []),
      {
        kind: 'Agent',
        id: values['client-id'],
        sponsor: values.sponsor,
        classification: 'autonomous',
        ceiling: [values.scope],
        credentials: [{ type: 'client_secret' }],
      },
    ],
    actor,
  )
  secret = first.results.find((r) => r.id === values['client-id'])?.issued_secrets?.[0]?.client_secret
  if (!secret) throw new Error('the benchmark agent was created without an issued client secret')
  // Every agent as an operator would register it: a sponsor, a classification, a ceiling and a client secret.
  for (let from = 0; from < agents; from += chunk) {
    const docs = []
    for (let i = from; i < Math.min(agents, from + chunk); i++)
      docs.push({
        kind: 'Agent',
        id: `agent-${i}`,
        sponsor: `sponsor-${i % SPONSORS}@example.com`,
        classification: CLASSIFICATIONS[i % CLASSIFICATIONS.length],
        ceiling: [values.scope],
        credentials: [{ type: 'client_secret' }],
      })
    const t0 = process.hrtime.bigint()
    await core.registry.apply(docs, actor)
    process.stderr.write(
      `[seed] agents ${from + docs.length}/${agents}: ${docs.length} in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s\n`,
    )
  }
} finally {
  await core.close()
}
process.stdout.write(
  `${JSON.stringify({ client_secret: secret, agents, seconds: Number(process.hrtime.bigint() - started) / 1e9 })}\n`,
)
