// The `mandate` command: `serve` and `migrate` open the store; everything else talks to a node's admin API.
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AdminClient, type KindPath, type RegistryObject } from '@mandate/sdk'
import { Command, CommanderError, Option } from 'commander'
import { renderConfigReference, renderExampleConfig } from '../config/docs.ts'
import { loadConfig } from '../config/load.ts'
import type { Config } from '../config/schema.ts'
import { JWKS_MAX_AGE_SECONDS } from '../http/well-known.ts'
import { openCore, startNode, VERSION } from '../main.ts'
import { listFilters } from '../registry/stores.ts'
import { openDatabase, storeLocation } from '../store/database.ts'
import { documentKinds, orderDocuments, parseDocuments, resolveKind } from './documents.ts'
import { readText } from './files.ts'
import { CliFailure, ExitCode, print, report } from './output.ts'
import { registerPolicyCommands } from './policy-commands.ts'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../../../..')

/** Where admin commands look for a node unless MANDATE_URL or --url says otherwise. */
const DEFAULT_URL = 'http://127.0.0.1:7400'

interface GlobalOptions {
  json?: boolean
  config?: string
  url?: string
  token?: string
}

// exitOverride must precede the subcommands: commander copies it into each one when it is created.
const program = new Command('mandate')
  .exitOverride()
  .description('Mandate: identity and access for AI agents.')
  .version(VERSION)
  .option('--json', 'print machine-readable JSON')
  .addOption(new Option('--config <file>', 'YAML or JSON configuration file').env('MANDATE_CONFIG'))
  .addOption(
    new Option('--url <url>', 'node to talk to (admin commands)').env('MANDATE_URL').default(DEFAULT_URL),
  )
  .addOption(new Option('--token <token>', 'admin bearer token (admin commands)').env('MANDATE_TOKEN'))
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Exit codes: 0 ok, 1 refused or failed, 2 usage error, 3 node unreachable, 4 audit chain broken, 78 invalid configuration.
Admin commands read MANDATE_URL and MANDATE_TOKEN. Configuration settings: docs/configuration.md.`,
  )

function globals(): GlobalOptions {
  return program.opts<GlobalOptions>()
}

function config(overrides: Partial<Record<keyof Config, unknown>> = {}): Config {
  const file = globals().config
  return loadConfig({ env: process.env, ...(file ? { file } : {}), overrides })
}

function admin(): AdminClient {
  const { url, token } = globals()
  if (!token)
    throw new CliFailure(
      'an admin token is needed: set MANDATE_TOKEN or pass --token (create one with `mandate admin token`)',
      ExitCode.usage,
    )
  return new AdminClient({ baseUrl: url ?? DEFAULT_URL, token })
}

function kindPath(name: string): KindPath {
  return documentKinds[resolveKind(name)].path
}

program
  .command('serve')
  .description('run a node (HTTP server) on the configured store')
  .option('--port <port>', 'override MANDATE_PORT')
  .option('--host <host>', 'override MANDATE_HOST')
  .action(async (options: { port?: string; host?: string }) => {
    const cfg = config({
      port: options.port === undefined ? undefined : Number(options.port),
      host: options.host,
    })
    const node = await startNode(cfg)
    // Handlers first: a supervisor may signal as soon as the banner appears.
    const stop = async (signal: string) => {
      node.app.log.info({ signal }, 'shutting down')
      await node.close()
      process.exit(0)
    }
    process.once('SIGINT', () => void stop('SIGINT'))
    process.once('SIGTERM', () => void stop('SIGTERM'))
    printBanner(node.url, cfg, node)
    // The banner is for people. When stdout goes to a collector rather than a terminal, the log also says it, after
    // the banner, as a log line like any other.
    if (!process.stdout.isTTY)
      node.app.log.info(
        { url: node.url, issuer: cfg.issuer, version: VERSION, store: node.database.dialect },
        'node started',
      )
  })

// The store as the banner names it; a PostgreSQL URL is shown without its credentials or parameters.
function describeStore(cfg: Config, dialect: 'sqlite' | 'postgres'): string {
  if (dialect === 'sqlite') return `embedded SQLite in ${cfg.dataDir}`
  let where = ''
  try {
    const url = new URL(cfg.databaseUrl ?? '')
    where = ` at ${url.host}${url.pathname === '/' ? '' : url.pathname}`
  } catch {
    // the configuration check accepted it; show no part of a URL that does not parse
  }
  return `PostgreSQL${where}${cfg.databaseSchema ? `, schema ${cfg.databaseSchema}` : ''}`
}

function printBanner(url: string, cfg: Config, node: Awaited<ReturnType<typeof startNode>>): void {
  const lines = [
    '',
    `  Mandate ${VERSION} is running at ${url}`,
    `  store:  ${describeStore(cfg, node.database.dialect)}`,
    `  issuer: ${cfg.issuer}`,
  ]
  if (node.masterKeySource.source === 'generated')
    lines.push(
      `  WARNING: generated a master key in ${node.masterKeySource.file} (mode 0600). Back it up, or set MANDATE_MASTER_KEY.`,
    )
  else if (node.masterKeySource.source === 'file' && node.database.dialect === 'sqlite' && !cfg.masterKeyFile)
    lines.push(`  master key: ${node.masterKeySource.file} (set MANDATE_MASTER_KEY in production)`)
  if (cfg.keyPropagationSeconds < JWKS_MAX_AGE_SECONDS + 30) {
    lines.push(
      `  WARNING: MANDATE_KEY_PROPAGATION_SECONDS (${cfg.keyPropagationSeconds}) is below the JWKS cache lifetime plus reload (${JWKS_MAX_AGE_SECONDS + 30} s): relying parties may see tokens signed by a key they do not know yet.`,
    )
  }
  if (node.seeded > 0)
    lines.push(
      `  seeded ${node.seeded} demo documents (resource servers, humans, a workload, agents of each classification, starter policies)`,
    )
  if (node.bootstrapToken) {
    lines.push(
      '',
      '  Admin token (shown once; only its hash is stored):',
      `    export MANDATE_TOKEN=${node.bootstrapToken}`,
    )
  } else if (!cfg.bootstrapToken) {
    lines.push(
      '',
      node.database.dialect === 'sqlite' && cfg.dataDir === './data' && !globals().config
        ? '  Need an admin token? Run: npx mandate admin token'
        : "  Need an admin token? Run, with this node's configuration: npx mandate admin token",
    )
  }
  // Admin commands find the node at DEFAULT_URL unless told otherwise.
  lines.push(
    '',
    '  Next:',
    ...(url === DEFAULT_URL ? [] : [`    export MANDATE_URL=${url}`]),
    '    npx mandate list agents',
    ...(node.directory.client('support-bot')?.kind === 'agent'
      ? ['    npx mandate get agent support-bot']
      : []),
    `    curl ${url}/.well-known/jwks.json`,
    `    open ${url}/api/docs for the admin API`,
    '',
  )
  process.stdout.write(`${lines.join('\n')}\n`)
}

program
  .command('migrate')
  .description('apply pending database migrations and exit')
  .action(async () => {
    const database = await openDatabase(storeLocation(config()))
    try {
      const applied = await database.migrate()
      print(globals().json ?? false, { applied }, () =>
        applied.length ? `applied ${applied.join(', ')}` : 'the database is up to date',
      )
    } finally {
      await database.close()
    }
  })

const configCommand = program.command('config').description('inspect configuration')
configCommand
  .command('check')
  .description('validate the configuration and print it (secrets hidden)')
  .action(() => {
    const cfg = config()
    const shown = {
      ...cfg,
      ...(cfg.masterKey ? { masterKey: '[set]' } : {}),
      ...(cfg.databaseUrl ? { databaseUrl: '[set]' } : {}),
      ...(cfg.bootstrapToken ? { bootstrapToken: '[set]' } : {}),
    }
    print(globals().json ?? false, shown, () =>
      Object.entries(shown)
        .map(([k, v]) => `${k}: ${String(v)}`)
        .join('\n'),
    )
  })
configCommand
  .command('docs')
  .description('print the configuration reference generated from the schema')
  .option('--write', 'write docs/configuration.md and examples/mandate.yaml')
  .action((options: { write?: boolean }) => {
    if (!options.write) return void process.stdout.write(renderConfigReference())
    writeFileSync(join(repoRoot, 'docs/configuration.md'), renderConfigReference())
    writeFileSync(join(repoRoot, 'examples/mandate.yaml'), renderExampleConfig())
    process.stdout.write('wrote docs/configuration.md and examples/mandate.yaml\n')
  })

program
  .command('admin')
  .description('admin credentials')
  .command('token')
  .description('create an admin bearer token (talks to the store directly, like serve); prints it once')
  .option('--name <name>', 'a name for the token', 'cli')
  .option('--read-only', 'the token may only read')
  .option('--pep', 'an API key for a policy enforcement point: it may only call the AuthZEN API')
  .action(async (options: { name: string; readOnly?: boolean; pep?: boolean }) => {
    if (options.readOnly && options.pep)
      throw new CliFailure('--read-only and --pep exclude each other', ExitCode.usage)
    const role = options.pep ? 'pep' : options.readOnly ? 'reader' : 'admin'
    const core = await openCore(config())
    try {
      const issued = await core.adminTokens.issue({
        name: options.name,
        role,
        actor: { kind: 'system', id: 'cli' },
      })
      if (!issued) throw new CliFailure('no token issued', ExitCode.failed)
      print(globals().json ?? false, { id: issued.id, token: issued.token, role }, () =>
        role === 'pep' ? `export MANDATE_PEP_KEY=${issued.token}` : `export MANDATE_TOKEN=${issued.token}`,
      )
    } finally {
      await core.close()
    }
  })

registerPolicyCommands(program, { json: () => globals().json ?? false, admin })

program
  .command('apply')
  .description('create or update objects from YAML/JSON documents (idempotent)')
  .requiredOption('-f, --file <file>', 'document file, or - for standard input')
  .action(async (options: { file: string }) => {
    const text = readText(options.file)
    const documents = orderDocuments(parseDocuments(text, options.file === '-' ? 'stdin' : options.file))
    const client = admin()
    const results = []
    for (const doc of documents) {
      const { path } = documentKinds[doc.kind]
      try {
        const result = await client.put(path, doc.id, doc.body)
        results.push({
          kind: doc.kind,
          id: doc.id,
          change: result.change,
          ...(result.issued_secrets ? { issued_secrets: result.issued_secrets } : {}),
        })
        if (!globals().json) {
          process.stdout.write(`${doc.kind.toLowerCase()}/${doc.id} ${result.change}\n`)
          for (const secret of result.issued_secrets ?? [])
            process.stdout.write(
              `  client_secret ${secret.credential} (shown once): ${secret.client_secret}\n`,
            )
        }
      } catch (error) {
        if (error instanceof Error) error.message = `${doc.source}: ${doc.kind} ${doc.id}: ${error.message}`
        // What was applied before the failure stays applied; with --json, say so, secrets shown once included.
        if (globals().json && results.length > 0) print(true, { results, complete: false }, () => '')
        throw error
      }
    }
    const counts = { created: 0, updated: 0, unchanged: 0 }
    for (const r of results) counts[r.change]++
    print(
      globals().json ?? false,
      { results, ...counts },
      () =>
        `${counts.created} created, ${counts.updated} updated, ${counts.unchanged} unchanged${counts.created + counts.updated === 0 ? ' (nothing to change)' : ''}`,
    )
  })

program
  .command('get')
  .description('show one object')
  .argument('<kind>', 'agent, human, workload, group or trusted-issuer')
  .argument('<id>')
  .action(async (kind: string, id: string) => {
    const object = await admin().get(kindPath(kind), id)
    print(globals().json ?? false, object, () => JSON.stringify(object, null, 2))
  })

const filterHelp = Object.entries(documentKinds)
  .filter(([kind]) => listFilters[kind as keyof typeof documentKinds].length > 0)
  .map(([kind, { path }]) => `  ${path}: ${listFilters[kind as keyof typeof documentKinds].join(', ')}`)
  .join('\n')

// `--filter key=value ...` as the list route's query, refusing what it would refuse: a key the kind has no filter for.
function parseFilters(kind: keyof typeof documentKinds, given: readonly string[]): Record<string, string> {
  const { path } = documentKinds[kind]
  const known = listFilters[kind]
  const filters: Record<string, string> = {}
  for (const f of given) {
    const at = f.indexOf('=')
    if (at < 1) throw new CliFailure(`filter ${JSON.stringify(f)} is not key=value`, ExitCode.usage)
    const key = f.slice(0, at)
    if (!known.includes(key))
      throw new CliFailure(
        known.length === 0
          ? `${path} cannot be filtered (got --filter ${key}=...)`
          : `unknown filter ${JSON.stringify(key)} for ${path}; one of ${known.join(', ')}`,
        ExitCode.usage,
      )
    if (key in filters) throw new CliFailure(`filter ${key} is given twice`, ExitCode.usage)
    if (at === f.length - 1) throw new CliFailure(`filter ${key} has no value`, ExitCode.usage)
    filters[key] = f.slice(at + 1)
  }
  return filters
}

program
  .command('list')
  .description('list objects of a kind')
  .argument('<kind>', 'agents, humans, workloads, groups, trusted-issuers, resource-servers, policies, ...')
  .option('--filter <key=value...>', 'filter, e.g. --filter sponsor=alice@example.com status=active')
  .addHelpText('after', `\nFilters (exact match, combined):\n${filterHelp}`)
  .action(async (kind: string, options: { filter?: string[] }) => {
    const resolved = resolveKind(kind)
    const filters = parseFilters(resolved, options.filter ?? [])
    const items: RegistryObject[] = []
    for await (const item of admin().listAll(documentKinds[resolved].path, filters)) items.push(item)
    print(globals().json ?? false, items, () =>
      items.length === 0
        ? 'no objects'
        : items
            .map((o) =>
              [o.id, o.classification, o.status, o.sponsor ? `sponsor=${o.sponsor}` : undefined]
                .filter(Boolean)
                .join('\t'),
            )
            .join('\n'),
    )
  })

program
  .command('delete')
  .description('retire an agent or workload, deactivate a human, delete a group or trusted issuer')
  .argument('<kind>')
  .argument('<id>')
  .action(async (kind: string, id: string) => {
    const result = await admin().delete(kindPath(kind), id)
    print(globals().json ?? false, result, () =>
      'deleted' in result ? `${kind} ${id} deleted` : `${kind} ${id} ${result.object.status}`,
    )
  })

program
  .command('revoke')
  .description(
    'revoke tokens on every node at once: every token of an agent or workload, or every delegation of a human',
  )
  .argument('<what>', 'agent, workload or delegations')
  .argument('<id>', 'the agent, workload or human id')
  .option('--reason <text>', 'why, for the audit log')
  .action(async (what: string, id: string, options: { reason?: string }) => {
    const targets = { agent: 'agent', workload: 'workload', delegations: 'human_delegations' } as const
    const target = targets[what as keyof typeof targets]
    if (!target)
      throw new CliFailure(
        `cannot revoke ${JSON.stringify(what)}; one of agent, workload, delegations`,
        ExitCode.usage,
      )
    const result = await admin().revoke({ target, id, ...(options.reason ? { reason: options.reason } : {}) })
    print(
      globals().json ?? false,
      result,
      () => `revoked every ${what === 'delegations' ? 'delegation of' : 'token of'} ${id}`,
    )
  })

const keys = program.command('keys').description('signing keys')
keys
  .command('list')
  .description('list signing keys with their state')
  .action(async () => {
    const { items } = await admin().listKeys()
    print(globals().json ?? false, items, () =>
      items
        .map(
          (k) =>
            `${k.kid}\t${k.alg}\t${k.state}\tactivates ${k.activates_at}${k.publish_until ? `\tpublished until ${k.publish_until}` : ''}`,
        )
        .join('\n'),
    )
  })
keys
  .command('rotate')
  .description('publish a new signing key now; it signs after the propagation delay')
  .option('--reason <text>', 'why, for the audit log')
  .action(async (options: { reason?: string }) => {
    const rotated = await admin().rotateKeys(options.reason)
    print(
      globals().json ?? false,
      rotated,
      () => `new key ${rotated.kid} published; it signs from ${rotated.activates_at}`,
    )
  })

const audit = program.command('audit').description('the audit log')
audit
  .command('verify')
  .description('verify the hash chain; exit code 4 names the first broken record')
  .action(async () => {
    const result = await admin().verifyAudit()
    print(globals().json ?? false, result, () =>
      result.ok
        ? `audit log intact: ${result.records} records`
        : `audit log BROKEN at record ${result.firstBreak?.seq}: ${result.firstBreak?.message}`,
    )
    if (!result.ok) process.exitCode = ExitCode.auditBroken
  })
audit
  .command('export')
  .description('write audit events, one JSON object per line')
  .addOption(new Option('--format <format>', 'output format').choices(['jsonl']).default('jsonl'))
  .option('--since <time>', 'from this RFC 3339 time (inclusive)')
  .option('--until <time>', 'to this RFC 3339 time (exclusive)')
  .option('--principal <kind:id>', 'only events by or about this principal, e.g. agent:support-bot')
  .option('--type <type>', 'only this event type, or a prefix ending in "."')
  .action(async (options: { since?: string; until?: string; principal?: string; type?: string }) => {
    const filters = Object.fromEntries(
      Object.entries({
        since: options.since,
        until: options.until,
        principal: options.principal,
        type: options.type,
      }).filter(([, v]) => v !== undefined),
    )
    for await (const event of admin().auditEvents(filters)) process.stdout.write(`${JSON.stringify(event)}\n`)
  })

try {
  await program.parseAsync(process.argv)
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.usage
  } else {
    process.exitCode = report(error, globals().json ?? false)
  }
}
