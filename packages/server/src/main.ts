// Wiring only: configuration -> store -> keys -> registry -> HTTP. Every dependency is passed explicitly.

import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import pino, { type Logger } from 'pino'
import { ApprovalStore } from './approvals/approval-store.ts'
import { Approvals } from './approvals/approvals.ts'
import { ApprovalWebhook } from './approvals/webhook.ts'
import { AuditLog, type AuditLogStatus } from './audit/audit-log.ts'
import { AuditWriter } from './audit/audit-writer.ts'
import { CheckpointSigner, type CheckpointSink, FileCheckpointSink } from './audit/checkpoint.ts'
import { CheckpointPublisher } from './audit/checkpoint-publisher.ts'
import { RefusalAggregator } from './audit/refusal-aggregator.ts'
import { AccessTokenAuthenticator } from './authn/access-token.ts'
import { AdminTokens } from './authn/admin-token.ts'
import { FailureLimiter } from './authn/failure-limiter.ts'
import { TrustedTokenVerifier } from './authn/trusted-token.ts'
import { ConfigError, defaultIssuer } from './config/load.ts'
import type { Config } from './config/schema.ts'
import { buildApp } from './http/app.ts'
import type { DevIdp } from './login/dev-idp.ts'
import { RelyingParty } from './login/relying-party.ts'
import { Sessions } from './login/sessions.ts'
import { MandateStore } from './mandates/mandate-store.ts'
import { Mandates } from './mandates/mandates.ts'
import { AuthorizationEndpoint } from './oauth/authorization-endpoint.ts'
import { BackchannelEndpoint } from './oauth/backchannel-endpoint.ts'
import { IntrospectionEndpoint, RevocationEndpoint } from './oauth/introspection-endpoint.ts'
import { assertionAudiences, endpointUrls } from './oauth/metadata.ts'
import { TokenEndpoint } from './oauth/token-endpoint.ts'
import { CEDAR_EXTENSIONS, CompiledEvaluator } from './policy/compiled/evaluator.ts'
import { CedarWasmEvaluator } from './policy/evaluator.ts'
import { extensionFactory, PolicyDecisionPoint } from './policy/pdp.ts'
import { PolicyCheck, type PolicyRelevantChange } from './policy/policy-check.ts'
import { TokenPolicy } from './policy/token-policy.ts'
import { DEMO_AGENT, demoAgentKey, seedDemoData } from './registry/demo.ts'
import { Directory } from './registry/directory.ts'
import { HumanIdentities } from './registry/human-identities.ts'
import { JwksFetcher } from './registry/jwks-fetcher.ts'
import { KeySets } from './registry/key-sets.ts'
import { Registry } from './registry/registry.ts'
import { createRegistryStores } from './registry/stores.ts'
import { AdminTokenStore } from './store/admin-token-store.ts'
import { AuthorizationStore } from './store/authorization-store.ts'
import { type Database, openDatabase, storeLocation } from './store/database.ts'
import { SessionStore } from './store/session-store.ts'
import { SigningKeyStore } from './store/signing-key-store.ts'
import { AccessTokenMinter } from './tokens/access-token.ts'
import { DpopNonces } from './tokens/dpop.ts'
import { KeyRing } from './tokens/key-ring.ts'
import { MasterKey, type MasterKeySource } from './tokens/master-key.ts'
import { ReplayCache } from './tokens/replay-cache.ts'
import { Revocations } from './tokens/revocations.ts'
import { TokenVerifier } from './tokens/token-verifier.ts'
import { mintTransactionToken } from './tokens/txn-token.ts'

/** Mandate's version, reported in the OpenAPI document. */
export const VERSION = '0.1.0'

/** The parts of a running node that commands and tests use. */
export interface Core {
  config: Config
  database: Database
  masterKey: MasterKey
  masterKeySource: { source: MasterKeySource; file?: string | undefined }
  audit: AuditLog
  /** The audit writer thread: group-commits standalone records (issuances, refusals, decisions) off the event loop. */
  recorder: AuditWriter
  registry: Registry
  keyRing: KeyRing
  adminTokens: AdminTokens
  /** The in-memory registry the token endpoint reads. */
  directory: Directory
  replay: ReplayCache
  revocations: Revocations
  tokenEndpoint: TokenEndpoint
  /** The authorization endpoint, PAR and the consent decision. */
  authorizationEndpoint: AuthorizationEndpoint
  introspectionEndpoint: IntrospectionEndpoint
  revocationEndpoint: RevocationEndpoint
  /** CIBA backchannel authentication (poll mode). */
  backchannelEndpoint: BackchannelEndpoint
  /** Approval requests of risky actions. */
  approvals: Approvals
  /** Humans' grants to agents: granting, revoking, coverage and budgets. */
  mandates: Mandates
  /** The policy decision point (Cedar). */
  pdp: PolicyDecisionPoint
  /** Checks the access tokens callers present to Mandate's own resource endpoints. */
  accessTokens: AccessTokenAuthenticator
  /** Signs audit checkpoints and holds the published ones. */
  checkpoints: { signer: CheckpointSigner; sink: CheckpointSink }
  /** Failed authentications per source address, for 429 answers. */
  failures: FailureLimiter
  /** Browser sessions of logged-in humans. */
  sessions: Sessions
  /** Human login at the IdPs (OpenID Connect relying party). */
  relyingParty: RelyingParty
  close(): Promise<void>
}

/** A node serving HTTP. */
export interface MandateNode extends Core {
  app: FastifyInstance
  url: string
  /** Set on the first start only: the admin token created then, shown once. */
  bootstrapToken?: string
  /** Number of demo documents seeded on this start (0 when none). */
  seeded: number
  /** The development IdP, when it runs on this node (MANDATE_DEV_IDP). */
  devIdp(): DevIdp | undefined
  /** Set when demo data was seeded: the file holding the demo agent's private key (mode 0600). */
  demoAgentKeyFile?: string
}

// The demo agent's private key, next to the data so that the tour can use it; never printed.
function writeDemoAgentKey(config: Config, masterKey: MasterKey): string {
  const dir = resolve(config.dataDir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = join(dir, DEMO_AGENT.file)
  writeFileSync(file, `${JSON.stringify(demoAgentKey(masterKey).privateJwk)}\n`, { mode: 0o600 })
  chmodSync(file, 0o600)
  return file
}

/** Opens the store, migrates it, checks the master key and loads the key ring: everything but HTTP. */
export async function openCore(
  config: Config,
  options: {
    now?: () => number
    onError?: (message: string, error?: unknown) => void
    /** Something an operator should know that is no failure (a policy set evaluated by cedar-wasm, and why). */
    onWarning?: (message: string, fields: Record<string, unknown>) => void
    /** Start the audit writer thread at once (a serving node), rather than on the first record. */
    startAuditWriter?: boolean
  } = {},
): Promise<Core> {
  const location = storeLocation(config)
  // The key first: a start that cannot have one must not leave a new store behind.
  const resolved = MasterKey.resolve({
    masterKey: config.masterKey,
    masterKeyFile: config.masterKeyFile,
    dataDir: config.dataDir,
    embedded: location.dialect === 'sqlite',
  })
  const database = await openDatabase(location)
  // Stopped with the store if the start fails after the writer thread was started.
  let writer: AuditWriter | undefined
  try {
    await database.migrate()
    await resolved.key.checkAgainst(database.db)
    const now = options.now ?? Date.now
    const clock = () => new Date(now())
    const onError = options.onError ?? (() => {})
    const chainKey = resolved.key.derive('audit-chain')
    const audit = new AuditLog(chainKey)
    await audit.initialize(database.db)
    // Before anything writes: the log must still hold what the newest published checkpoint signed.
    const checkpoints = {
      signer: new CheckpointSigner(resolved.key.derive('audit-checkpoint')),
      sink: new FileCheckpointSink(
        config.auditCheckpointFile ?? join(resolve(config.dataDir), 'audit-checkpoints.jsonl'),
      ),
    }
    const latest = await checkpoints.sink.latest()
    const checkpoint = latest ? await checkpoints.signer.verify(latest) : undefined
    if (latest) {
      if (checkpoint) await audit.adoptCheckpoint(database.db, checkpoint)
      else
        onError(
          'the newest audit checkpoint does not verify with this master key; it is ignored (was the checkpoint file edited, or the master key changed?)',
        )
    }
    // The writer thread opens its own connection to the same store and extends the same chain, checked against the
    // same checkpoint. A serving node starts it now, so that it loads while the registry does.
    const recorder = new AuditWriter({
      entry: new URL('./audit-worker.ts', import.meta.url),
      init: { location, chainKey, checkpoint },
      now,
      onError,
    })
    writer = recorder
    if (options.startAuditWriter) recorder.start()
    const stores = createRegistryStores()
    // One set of registered keys for every verifier: client assertions, workload and user tokens, registrations.
    const keySets = new KeySets(
      new JwksFetcher({
        timeoutMs: config.jwksFetchTimeoutMs,
        maxBytes: config.jwksFetchMaxBytes,
        allowLoopback: config.jwksAllowLoopback,
      }),
      {
        maxAgeSeconds: config.jwksCacheSeconds,
        refetchCooldownSeconds: config.jwksRefetchCooldownSeconds,
        failureBackoffMaxSeconds: config.jwksFailureBackoffMaxSeconds,
        now,
      },
    )
    const keyRing = new KeyRing({
      database,
      store: new SigningKeyStore(),
      audit,
      masterKey: resolved.key,
      alg: config.signingAlg,
      propagationSeconds: config.keyPropagationSeconds,
      maxTokenLifetimeSeconds: config.maxTokenLifetimeSeconds,
      clockSkewSeconds: config.clockSkewSeconds,
      now,
    })
    await keyRing.load()
    const directory = new Directory(database, stores)
    await directory.refresh()
    const replay = new ReplayCache(database, now)
    const verifier = new TokenVerifier(keyRing, () => config.issuer, {
      clockSkewSeconds: config.clockSkewSeconds,
      now,
    })
    const revocations = new Revocations(database, audit, {
      maxTokenLifetimeSeconds: config.maxTokenLifetimeSeconds,
      now,
    })
    const trustedTokens = new TrustedTokenVerifier({
      directory,
      keySets,
      defaultAudiences: () => assertionAudiences(config.issuer),
      clockSkewSeconds: config.clockSkewSeconds,
      now,
    })
    const clientAuth = {
      directory,
      replay,
      keySets,
      trustedTokens,
      audiences: () => assertionAudiences(config.issuer),
      clockSkewSeconds: config.clockSkewSeconds,
      now,
    }
    const failures = new FailureLimiter({
      burst: config.authFailureBurst,
      refillPerSecond: config.authFailureRefillPerSecond,
      now,
    })
    const refusals = new RefusalAggregator({
      recorder,
      windowMs: config.refusalWindowSeconds * 1000,
      now,
      onError: (error) => onError('aggregated refusals could not be recorded', error),
    })
    const onWarning = options.onWarning ?? (() => {})
    const pdp = new PolicyDecisionPoint({
      directory,
      recorder,
      evaluator:
        config.policyEngine === 'cedar-wasm'
          ? new CedarWasmEvaluator()
          : new CompiledEvaluator({ extensions: CEDAR_EXTENSIONS }),
      extension: extensionFactory(CEDAR_EXTENSIONS),
      onFallback: (construct) =>
        onWarning(
          'the policy set is evaluated by cedar-wasm: the compiler does not handle a construct it uses',
          {
            construct,
          },
        ),
      cacheSize: config.decisionCacheSize,
      now,
    })
    const tokenPolicy = new TokenPolicy(pdp)
    const webhook =
      config.approvalWebhookUrl && config.approvalWebhookSecret
        ? new ApprovalWebhook({
            url: config.approvalWebhookUrl,
            secret: config.approvalWebhookSecret,
            attempts: config.approvalWebhookAttempts,
            retryBaseMs: config.approvalWebhookRetryMs,
            timeoutMs: 10_000,
            pageUrl: (id) => `${config.issuer.replace(/\/$/, '')}/approvals/${encodeURIComponent(id)}`,
            record: (event) => recorder.record(event),
            onError,
            now,
          })
        : undefined
    const approvals = new Approvals({
      database,
      audit,
      store: new ApprovalStore(),
      directory,
      expirySeconds: config.approvalExpirySeconds,
      intervalSeconds: config.approvalPollIntervalSeconds,
      maxPendingPerClient: config.approvalMaxPendingPerClient,
      notify: webhook ? (approval) => webhook.notify(approval) : undefined,
      now,
    })
    const policyCheck = new PolicyCheck(stores)
    const mandates = new Mandates({
      database,
      store: new MandateStore(),
      audit,
      stores,
      directory,
      revocations,
      maxLifetimeSeconds: config.mandateMaxLifetimeSeconds,
      now,
    })
    const authorizationStore = new AuthorizationStore()
    const registry = new Registry({
      database,
      stores,
      audit,
      jwks: keySets,
      maxAgentDepth: config.maxAgentDepth,
      now: clock,
      checkPolicies: (tx, change) => policyCheck.check(tx, change as PolicyRelevantChange),
      onChange: () => directory.refresh(),
      // Item 6 of the lifecycle: a deactivated human's mandates end with the deactivation, in its transaction.
      onHumanDeactivated: (tx, humanId, ctx) =>
        mandates.revokeGivenByIn(tx, humanId, ctx, `human ${humanId} was deactivated`),
    })
    const dpop = {
      replay,
      now,
      iatWindowSeconds: 60 + config.clockSkewSeconds,
      nonces: config.dpopRequireNonce ? new DpopNonces(resolved.key.derive('dpop-nonce')) : undefined,
    }
    const humans = new HumanIdentities({ directory, registry })
    const sessions = new Sessions({
      database,
      store: new SessionStore(),
      audit,
      csrfKey: resolved.key.derive('session-csrf'),
      idleSeconds: config.sessionIdleSeconds,
      maxSeconds: config.sessionMaxSeconds,
      now,
    })
    const relyingParty = new RelyingParty({
      registry,
      directory,
      humans,
      masterKey: resolved.key,
      redirectUri: () => `${config.issuer.replace(/\/$/, '')}/login/callback`,
      now,
    })
    const tokenEndpoint = new TokenEndpoint({
      dpop: { ...dpop, url: () => endpointUrls(config.issuer).token },
      recorder,
      refusals,
      failures,
      now,
      grant: {
        directory,
        humans,
        minter: new AccessTokenMinter(keyRing, () => config.issuer, now),
        issuer: () => config.issuer,
        verifier,
        revocations,
        trustedTokens,
        maxTokenLifetimeSeconds: config.maxTokenLifetimeSeconds,
        maxDelegationDepth: config.maxDelegationDepth,
        clockSkewSeconds: config.clockSkewSeconds,
        now,
        clientAuth,
        policy: tokenPolicy,
        approvals,
        approvalTokenLifetimeSeconds: config.approvalTokenLifetimeSeconds,
        pollIntervalSeconds: config.approvalPollIntervalSeconds,
        mandates,
        codeFlow: { database, store: authorizationStore },
        txn: {
          trustDomain: () => config.trustDomain ?? config.issuer,
          lifetimeSeconds: config.txnTokenLifetimeSeconds,
          mint: (grant) => mintTransactionToken(keyRing, config.issuer, now(), grant),
        },
      },
      clientAuth,
    })
    const authorizationEndpoint = new AuthorizationEndpoint({
      database,
      store: authorizationStore,
      audit,
      mandates,
      clientAuth,
      directory,
      issuer: () => config.issuer,
      maxDurationSeconds: config.mandateMaxLifetimeSeconds,
      now,
    })
    return {
      config,
      database,
      authorizationEndpoint,
      pdp,
      masterKey: resolved.key,
      masterKeySource: { source: resolved.source, file: resolved.file },
      audit,
      recorder,
      registry,
      keyRing,
      adminTokens: new AdminTokens(database, new AdminTokenStore(), audit, clock),
      directory,
      replay,
      revocations,
      mandates,
      tokenEndpoint,
      backchannelEndpoint: new BackchannelEndpoint({
        directory,
        policy: tokenPolicy,
        approvals,
        pollIntervalSeconds: config.approvalPollIntervalSeconds,
        now,
        clientAuth,
        recorder,
        refusals,
      }),
      approvals,
      introspectionEndpoint: new IntrospectionEndpoint({ clientAuth, directory, verifier, revocations }),
      revocationEndpoint: new RevocationEndpoint({ clientAuth, directory, verifier, revocations }),
      accessTokens: new AccessTokenAuthenticator({ verifier, revocations, dpop, directory }),
      checkpoints,
      failures,
      sessions,
      relyingParty,
      close: async () => {
        await webhook?.close()
        await refusals.flush()
        await recorder.close()
        await database.close()
      },
    }
  } catch (error) {
    await writer?.close()
    await database.close()
    throw error
  }
}

// TLS material is read once at start; a missing or unreadable file stops start-up with the setting named.
function readTls(config: Config): { key: Buffer; cert: Buffer; ca?: Buffer } | undefined {
  if (!config.tlsCertFile || !config.tlsKeyFile) return undefined
  const read = (file: string, setting: string) => {
    try {
      return readFileSync(file)
    } catch (error) {
      throw new ConfigError([
        { setting, message: `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}` },
      ])
    }
  }
  return {
    cert: read(config.tlsCertFile, 'MANDATE_TLS_CERT_FILE'),
    key: read(config.tlsKeyFile, 'MANDATE_TLS_KEY_FILE'),
    ...(config.tlsClientCaFile ? { ca: read(config.tlsClientCaFile, 'MANDATE_TLS_CLIENT_CA_FILE') } : {}),
  }
}

/** Starts a node: core, first-start bootstrap (admin token, demo data), HTTP server and the key-ring timers. */
export async function startNode(
  config: Config,
  options: { logger?: Logger; now?: () => number } = {},
): Promise<MandateNode> {
  const logger =
    options.logger ??
    pino({
      level: config.logLevel,
      redact: { paths: ['req.headers.authorization', '*.client_secret', '*.token'], censor: '[redacted]' },
    })
  const core = await openCore(config, {
    ...options,
    startAuditWriter: true,
    onError: (message, err) => logger.error({ err }, message),
    onWarning: (message, fields) => logger.warn(fields, message),
  })
  const publisher =
    config.auditCheckpointSeconds > 0
      ? new CheckpointPublisher({
          audit: core.audit,
          database: core.database,
          ...core.checkpoints,
          intervalMs: config.auditCheckpointSeconds * 1000,
          now: options.now ?? Date.now,
          onError: (message, err) => logger.error({ err }, message),
        })
      : undefined
  try {
    const bootstrap = await core.adminTokens.issue({
      name: 'bootstrap',
      role: 'admin',
      actor: { kind: 'system', id: 'bootstrap' },
      onlyIfNone: true,
      ...(config.bootstrapToken ? { token: config.bootstrapToken } : {}),
    })
    const seedWanted =
      config.demoData === 'on' || (config.demoData === 'auto' && core.database.dialect === 'sqlite')
    const empty = (await core.registry.list('Human', { limit: 1 })).length === 0
    // Emails are unique (ignoring case) since 0005-human-identities; older data may hold duplicates to resolve.
    for (const shared of await core.registry.sharedEmails())
      logger.warn(
        { email: shared.email, humans: shared.humans },
        'several humans have this email: none of them is matched by email at login, and the email cannot be given to another human; change or remove it on all but one',
      )
    const tls = readTls(config)
    // The development IdP runs by choice, or by default only for an embedded store that is both bound to and named by
    // a loopback address: a node behind a proxy with a public issuer never serves its password-less sign-in.
    const loopback =
      ['127.0.0.1', '::1', 'localhost'].includes(config.host) && loopbackHttpIssuer(config.issuer)
    const devIdpWanted =
      config.devIdp === 'on' || (config.devIdp === 'auto' && core.database.dialect === 'sqlite' && loopback)
    // Loaded only when it runs: oidc-provider is not needed (nor its start-up notices wanted) otherwise.
    const DevIdpClass = devIdpWanted ? (await import('./login/dev-idp.ts')).DevIdp : undefined
    let built: DevIdp | undefined
    const devIdp = DevIdpClass
      ? () => {
          built ??= new DevIdpClass({ nodeIssuer: config.issuer, masterKey: core.masterKey })
          return built
        }
      : undefined
    const app = await buildApp({
      tls,
      trustProxy: config.trustProxy,
      issuer: () => config.issuer,
      bodyLimitBytes: config.bodyLimitBytes,
      database: core.database,
      registry: core.registry,
      keyRing: core.keyRing,
      audit: core.audit,
      auditStatus: () => nodeAuditStatus(core.audit.status(), core.recorder.status()),
      checkpointSigner: core.checkpoints.signer,
      adminTokens: core.adminTokens,
      tokenEndpoint: core.tokenEndpoint,
      introspectionEndpoint: core.introspectionEndpoint,
      revocationEndpoint: core.revocationEndpoint,
      backchannelEndpoint: core.backchannelEndpoint,
      approvals: core.approvals,
      revocations: core.revocations,
      mandates: core.mandates,
      pdp: core.pdp,
      accessTokens: core.accessTokens,
      directory: core.directory,
      authorizationEndpoint: core.authorizationEndpoint,
      failures: core.failures,
      logger,
      version: VERSION,
      sessions: core.sessions,
      relyingParty: core.relyingParty,
      sessionMaxSeconds: config.sessionMaxSeconds,
      devIdp,
    })
    // Fastify logs a raw "Server listening" line on listen; the CLI's banner says it for people and `mandate serve`
    // logs `node started` for collectors, so the line is left out.
    const level = app.log.level
    app.log.level = 'silent'
    let url: string
    try {
      url = await app.listen({ host: config.host, port: config.port })
    } finally {
      app.log.level = level
    }
    // With port 0 and the default issuer, name the port actually bound.
    if (config.port === 0 && config.issuer === defaultIssuer(config.host, 0, tls !== undefined))
      config.issuer = url
    // Seeded once the issuer is known: the demo IdP (the development IdP) lives under it.
    let seeded = 0
    let demoAgentKeyFile: string | undefined
    try {
      if (bootstrap && seedWanted && empty) {
        seeded = await seedDemoData(core.registry, core.masterKey, config.issuer)
        demoAgentKeyFile = writeDemoAgentKey(config, core.masterKey)
      }
    } catch (error) {
      await app.close()
      throw error
    }
    // Other nodes may rotate: reload the ring well within the propagation delay, and rotate on schedule.
    const reload = setInterval(() => {
      core.keyRing
        .rotateIfDue(config.keyRotationSeconds)
        .catch((err) => logger.error({ err }, 'key ring refresh failed'))
    }, 30_000)
    reload.unref()
    publisher?.start()
    // Ready (`/readyz`) once the audit writer thread is: a node that cannot record yet refuses what must be recorded.
    await core.recorder.started()
    // Registry changes made by other nodes reach this one within half a second; expired one-time values are purged.
    core.directory.start(500, (err) => logger.error({ err }, 'registry refresh failed'))
    // Admin tokens and PEP keys revoked on other nodes are forgotten by this one's cache within the same delay.
    core.adminTokens.start(500, (err) => logger.error({ err }, 'admin token refresh failed'))
    // Mandates granted or revoked on other nodes are forgotten by this one's memory within the same delay.
    core.mandates.start(500, (err) => logger.error({ err }, 'mandate refresh failed'))
    const purge = setInterval(() => {
      core.replay.purge().catch((err) => logger.error({ err }, 'replay cache purge failed'))
      core.revocations.purge().catch((err) => logger.error({ err }, 'revocation purge failed'))
      core.authorizationEndpoint
        .purge()
        .catch((err) => logger.error({ err }, 'authorization code purge failed'))
      core.sessions.purge().catch((err) => logger.error({ err }, 'session purge failed'))
      core.directory.prune().catch((err) => logger.error({ err }, 'registry change feed prune failed'))
    }, 60_000)
    purge.unref()
    return {
      ...core,
      app,
      url,
      ...(bootstrap && !config.bootstrapToken ? { bootstrapToken: bootstrap.token } : {}),
      seeded,
      ...(demoAgentKeyFile ? { demoAgentKeyFile } : {}),
      devIdp: () => devIdp?.(),
      close: async () => {
        clearInterval(reload)
        clearInterval(purge)
        core.directory.stop()
        core.adminTokens.stop()
        core.mandates.stop()
        await app.close()
        await publisher?.stop()
        await core.close()
      },
    }
  } catch (error) {
    await core.close()
    throw error
  }
}

// The node's audit health: two writers extend its chain (the main thread's changes and the writer thread's records).
// Whether it refuses now is what the writer that checked the head last found; refusals of both are counted. Whether
// the writer thread is ready is its own (`/readyz`).
function nodeAuditStatus(main: AuditLogStatus, writer: AuditLogStatus): AuditLogStatus {
  const latest = (writer.checkedAt ?? 0) > (main.checkedAt ?? 0) ? writer : main
  return {
    refusedWrites: main.refusedWrites + writer.refusedWrites,
    ...(latest.refusing ? { refusing: latest.refusing } : {}),
    ...(writer.writer ? { writer: writer.writer } : {}),
  }
}

function loopbackHttpIssuer(issuer: string): boolean {
  try {
    const url = new URL(issuer)
    return url.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)
  } catch {
    return false
  }
}
