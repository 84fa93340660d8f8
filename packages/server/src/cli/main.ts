// The `mandate` command: `serve` and `migrate` open the store; everything else talks to a node's admin API.
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  AdminClient,
  type ApplyResult,
  type AuditCheckpoint,
  type AuditVerification,
  type KindPath,
  MandateApiError,
  type RegistryObject,
} from '@mandate/sdk'
import { Command, CommanderError, Option } from 'commander'
import { readCheckpointLines } from '../audit/checkpoint.ts'
import { renderConfigReference, renderExampleConfig } from '../config/docs.ts'
import { loadConfig } from '../config/load.ts'
import type { Config } from '../config/schema.ts'
import { JWKS_MAX_AGE_SECONDS } from '../http/well-known.ts'
import { startNode, VERSION } from '../main.ts'
import { createRegistryStores, listFilters } from '../registry/stores.ts'
import { openDatabase, storeLocation } from '../store/database.ts'
import { registerApprovalCommands } from './approval-commands.ts'
import { registerDemoCommands } from './demo-commands.ts'
import { type Document, documentKinds, orderDocuments, parseDocuments, resolveKind } from './documents.ts'
import { readText } from './files.ts'
import { registerIdpCommands } from './idp-commands.ts'
import { registerMandateCommands } from './mandate-commands.ts'
import { CliFailure, ExitCode, print, report } from './output.ts'
import { registerPolicyCommands } from './policy-commands.ts'
import { openExistingStore } from './store-access.ts'

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
Exit codes: 0 ok, 1 refused or failed, 2 usage error, 3 node unreachable, 4 audit chain broken, 5 outcome unknown (apply's answer lost), 78 invalid configuration.
Admin commands read MANDATE_URL and MANDATE_TOKEN. Configuration settings: docs/configuration.md.`,
  )

function globals(): GlobalOptions {
  return program.opts<GlobalOptions>()
}

function config(overrides: Partial<Record<keyof Config, unknown>> = {}): Config {
  const file = globals().config
  return loadConfig({ env: process.env, ...(file ? { file } : {}), overrides })
}

function admin(send?: typeof fetch): AdminClient {
  const { url, token } = globals()
  if (!token)
    throw new CliFailure(
      'an admin token is needed: set MANDATE_TOKEN or pass --token (create one with `mandate admin token`)',
      ExitCode.usage,
    )
  return new AdminClient({ baseUrl: url ?? DEFAULT_URL, token, ...(send ? { fetch: send } : {}) })
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
      `  seeded ${node.seeded} demo documents (resource servers, humans, a demo IdP, a workload, agents of each classification, starter policies)`,
    )
  if (node.demoAgentKeyFile)
    lines.push(`  demo agent support-bot: its private key is in ${node.demoAgentKeyFile} (mode 0600)`)
  if (node.devIdp())
    lines.push(`  development IdP (not for production): log in as a demo human at ${url}/login`)
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
      // Emails are unique (ignoring case) from 0005-human-identities on; data from before may hold duplicates.
      const shared = await createRegistryStores().humans.sharedEmails(database.db)
      print(globals().json ?? false, { applied, shared_emails: shared }, () =>
        [
          applied.length ? `applied ${applied.join(', ')}` : 'the database is up to date',
          ...shared.map(
            (s) =>
              `warning: humans ${s.humans.join(', ')} share the email ${s.email}: none of them is matched by email at login; change it on all but one`,
          ),
        ].join('\n'),
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

const adminCommand = program.command('admin').description('admin credentials')
adminCommand
  .command('token')
  .description('create an admin bearer token (talks to the store directly, like serve); prints it once')
  .option('--name <name>', 'a name for the token', 'cli')
  .option('--read-only', 'the token may only read')
  .option('--pep', 'an API key for a policy enforcement point: it may only call the AuthZEN API')
  .action(async (options: { name: string; readOnly?: boolean; pep?: boolean }) => {
    if (options.readOnly && options.pep)
      throw new CliFailure('--read-only and --pep exclude each other', ExitCode.usage)
    const role = options.pep ? 'pep' : options.readOnly ? 'reader' : 'admin'
    const core = await openExistingStore(config())
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

adminCommand
  .command('revoke-token <id>')
  .description(
    'revoke an admin token or PEP key by id (talks to the store directly, like serve); running nodes refuse it within half a second',
  )
  .action(async (id: string) => {
    const core = await openExistingStore(config())
    try {
      const revoked = await core.adminTokens.revoke(id, { kind: 'system', id: 'cli' })
      if (!revoked) throw new CliFailure(`no live admin token has the id ${id}`, ExitCode.failed)
      print(globals().json ?? false, { id, revoked }, () => `admin token ${id} revoked`)
    } finally {
      await core.close()
    }
  })

registerPolicyCommands(program, { json: () => globals().json ?? false, admin })
registerApprovalCommands(program, { json: () => globals().json ?? false, admin })
registerMandateCommands(program, { json: () => globals().json ?? false, admin })
registerDemoCommands(program, {
  json: () => globals().json ?? false,
  config: () => config(),
  url: () => globals().url ?? DEFAULT_URL,
})
registerIdpCommands(program, { json: () => globals().json ?? false, config: () => config() })

program
  .command('apply')
  .description('create or update objects from YAML/JSON documents, all or none (idempotent)')
  .requiredOption('-f, --file <file>', 'document file, or - for standard input')
  .action(async (options: { file: string }) => {
    const json = globals().json ?? false
    const text = readText(options.file)
    // Ordered here too (the node orders them the same way), so that a kind and id given twice is named by its source.
    const documents = orderDocuments(parseDocuments(text, options.file === '-' ? 'stdin' : options.file))
    let applied: ApplyResult
    // What fetch threw, if it threw: whether the request may have reached the node.
    let lost: unknown
    const send: typeof fetch = (input, init) =>
      globalThis.fetch(input, init).catch((error: unknown) => {
        lost = error
        throw error
      })
    try {
      // The node writes them in one transaction, in dependency order: all of them, or none.
      applied = await admin(send).apply(documents.map((doc) => ({ ...doc.body, kind: doc.kind, id: doc.id })))
    } catch (error) {
      if (outcomeUnknown(error, lost)) {
        // The documents may have been written: saying "nothing applied" could make an operator rewrite a file the
        // registry already holds. apply is idempotent, so running it again settles it.
        process.exitCode = ExitCode.outcomeUnknown
        const why =
          lost === undefined
            ? (error as Error).message
            : `no answer from ${globals().url ?? DEFAULT_URL}: ${causeCodes(lost).join(', ') || (lost as Error).message}`
        process.stderr.write(
          json
            ? `${JSON.stringify({ error: 'outcome_unknown', error_description: why })}\n`
            : `mandate: ${why}\n`,
        )
        print(
          json,
          { applied: null, outcome: 'unknown', results: [] },
          () =>
            'outcome unknown: the documents were sent but no answer came back, so they may have been applied; apply is idempotent: run it again to apply them or see them unchanged',
        )
        return
      }
      const refusal = inDocumentTerms(error, documents)
      process.exitCode = report(refusal.error, json)
      print(
        json,
        {
          applied: false,
          results: [],
          created: 0,
          updated: 0,
          unchanged: 0,
          refused: refusal.document ?? null,
        },
        () => `nothing applied: ${refusal.summary}`,
      )
      return
    }
    if (!json)
      for (const result of applied.results) {
        process.stdout.write(`${result.kind.toLowerCase()}/${result.id} ${result.change}\n`)
        for (const secret of result.issued_secrets ?? [])
          process.stdout.write(`  client_secret ${secret.credential} (shown once): ${secret.client_secret}\n`)
      }
    const { created, updated, unchanged } = applied
    print(
      json,
      { applied: true, ...applied },
      () =>
        `${created} created, ${updated} updated, ${unchanged} unchanged${created + updated === 0 ? ' (nothing to change)' : ''}`,
    )
  })

// Connection failures that prove the request never left: no connection was made (refused, no such host, no route, TLS
// refused before any byte of the request was sent). Anything else (reset, closed, timed out after connecting) may
// have come after the node read the request.
const NEVER_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_INVALID_URL',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
])

// Whether a failed apply may nonetheless have been applied: the node (or a proxy) answered nothing we can read as a
// refusal, and the request may have left. A refusal in the API's shape, a 4xx answer of any shape (a proxy's 413),
// or a connection never made means nothing was applied.
function outcomeUnknown(error: unknown, lost: unknown): boolean {
  if (!(error instanceof MandateApiError)) return false
  if (error.code === 'invalid_response') return error.status < 400 || error.status >= 500
  if (error.code !== 'network_error') return false
  if (lost === undefined) return true
  const codes = causeCodes(lost)
  return codes.length === 0 || !codes.every((code) => NEVER_SENT.has(code))
}

// fetch throws "fetch failed" with the reason on its cause, or on each of several attempts (IPv4 and IPv6).
function causeCodes(error: unknown): string[] {
  const cause = (error as { cause?: { code?: string; errors?: Array<{ code?: string }> } }).cause
  return [cause?.code, ...(cause?.errors ?? []).map((e) => e.code)].filter((c) => c !== undefined)
}

// The node names a refused document by its index in the request (`document 3 (Agent x)`, `/documents/3/...`):
// name it by file and position instead, as the user wrote it.
function inDocumentTerms(
  error: unknown,
  documents: readonly Document[],
): { error: unknown; summary: string; document?: { source: string; kind: string; id: string } } {
  if (!(error instanceof MandateApiError))
    return { error, summary: (error as Error)?.message ?? String(error) }
  const index = /^document (\d+) /.exec(error.message)?.[1]
  const refused = index === undefined ? undefined : documents[Number(index)]
  const prefix = refused && `document ${index} (${refused.kind} ${refused.id})`
  const fields = error.fields.map((field) => {
    const at = /^\/documents\/(\d+)(\/.*)?$/.exec(field.path)
    const doc = at ? documents[Number(at[1])] : undefined
    if (!at || !doc) return field
    const path = at[2] ?? '/'
    return { ...field, path: doc === refused ? path : `${doc.source}: ${doc.kind} ${doc.id} ${path}` }
  })
  if (!refused || !prefix || !error.message.startsWith(prefix))
    return {
      error: new MandateApiError(error.code, error.message, error.status, fields),
      summary: `${error.message} (${error.code})`,
    }
  const where = `${refused.source}: ${refused.kind} ${refused.id}`
  return {
    error: new MandateApiError(
      error.code,
      `${where}${error.message.slice(prefix.length)}`,
      error.status,
      fields,
    ),
    summary: `${where} was refused (${error.code})`,
    document: { source: refused.source, kind: refused.kind, id: refused.id },
  }
}

const KIND_NAMES = Object.keys(documentKinds)
  .map((kind) => kind.replace(/(?<=[a-z])(?=[A-Z])/g, '-').toLowerCase())
  .join(', ')

program
  .command('get')
  .description('show one object')
  .argument('<kind>', `one of ${KIND_NAMES}`)
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
  .argument('<kind>', `one of ${KIND_NAMES} (singular or plural)`)
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
  .description('retire an agent or workload, deactivate a human, delete an object of any other kind')
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
  .description('verify the hash chain; exit code 4 lists every break found')
  .option(
    '--checkpoints <file>',
    "the node's checkpoint file (MANDATE_AUDIT_CHECKPOINT_FILE): also prove nothing before its newest checkpoint was removed",
  )
  .action(async (options: { checkpoints?: string }) => {
    const checkpoints = options.checkpoints ? await checkpointsToVerify(options.checkpoints) : undefined
    const result = await admin().verifyAudit(checkpoints)
    print(globals().json ?? false, result, () => describeVerification(result))
    if (!result.ok) process.exitCode = ExitCode.auditBroken
  })
audit
  .command('recover')
  .description(
    'after investigating a break the node refuses writes for: record the incident in the chain and resume it from the last record present (talks to the store directly, like serve)',
  )
  .requiredOption('--reason <text>', 'what happened and who investigated, for the incident record')
  .option(
    '--force',
    'record an incident even when this command finds nothing wrong (e.g. a node saw its head move back)',
  )
  .action(async (options: { reason: string; force?: boolean }) => {
    const core = await openExistingStore(config())
    try {
      const latest = await core.checkpoints.sink.latest()
      const checkpoint = latest ? await core.checkpoints.signer.verify(latest) : undefined
      const problems = await core.audit.diagnose(core.database.db, checkpoint)
      if (problems.length === 0 && !options.force) {
        print(globals().json ?? false, { recovered: false, problems }, () =>
          [
            'the audit chain head is sound here; nothing recorded.',
            'If a node still refuses writes (it saw the head move back), run again with --force.',
          ].join('\n'),
        )
        return
      }
      const recovery = await core.database.transact((tx) =>
        core.audit.recover(tx, {
          reason: options.reason,
          problems,
          actor: { kind: 'system', id: 'audit-recover' },
          now: new Date(),
          ...(checkpoint ? { checkpoint } : {}),
        }),
      )
      print(globals().json ?? false, { recovered: true, problems, ...recovery }, () =>
        [
          ...problems.map((p) => `found: ${p}`),
          `recorded incident ${recovery.incident.seq}: the chain resumes after record ${recovery.resumedAfter.seq} (the head said ${recovery.headWas.seq}); nodes accept writes again`,
        ].join('\n'),
      )
    } finally {
      await core.close()
    }
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

// Every checkpoint of the file (the newest 10,000): a newest one that matches proves nothing before it was removed from
// the chain as it is now, and the older ones prove the chain was not cut and written again past them.
async function checkpointsToVerify(file: string): Promise<AuditCheckpoint[]> {
  let lines: AuditCheckpoint[]
  try {
    lines = await readCheckpointLines(file)
  } catch (error) {
    throw new CliFailure(
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      ExitCode.usage,
    )
  }
  if (lines.length === 0) throw new CliFailure(`${file} holds no audit checkpoints`, ExitCode.usage)
  return lines.slice(-10_000)
}

function describeVerification(result: AuditVerification): string {
  const checked = result.checkpoints
    ? `; checkpoints: ${result.checkpoints.matched} matched${result.checkpoints.acknowledged ? `, ${result.checkpoints.acknowledged} lost in a recorded recovery` : ''}`
    : ''
  const incidents = result.incidents > 0 ? `; ${result.incidents} recorded recoveries` : ''
  if (result.ok) return `audit log intact: ${result.records} records${checked}${incidents}`
  const shown = result.breaks.map((b) => `  record ${b.seq}: ${b.problem}: ${b.message}`)
  const more =
    result.breakCount > result.breaks.length
      ? [`  ... and ${result.breakCount - result.breaks.length} more`]
      : []
  return [
    `audit log BROKEN: ${result.breakCount} ${result.breakCount === 1 ? 'break' : 'breaks'} in ${result.records} records${checked}${incidents}`,
    ...shown,
    ...more,
  ].join('\n')
}

try {
  await program.parseAsync(process.argv)
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.usage
  } else {
    process.exitCode = report(error, globals().json ?? false)
  }
}
