// Wiring only: configuration -> store -> keys -> registry -> HTTP. Every dependency is passed explicitly.

import { readFileSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import pino, { type Logger } from 'pino'
import { AuditBatcher } from './audit/audit-batcher.ts'
import { AuditLog } from './audit/audit-log.ts'
import { AccessTokenAuthenticator } from './authn/access-token.ts'
import { AdminTokens } from './authn/admin-token.ts'
import { ConfigError, defaultIssuer } from './config/load.ts'
import type { Config } from './config/schema.ts'
import { buildApp } from './http/app.ts'
import { IntrospectionEndpoint, RevocationEndpoint } from './oauth/introspection-endpoint.ts'
import { assertionAudiences, endpointUrls } from './oauth/metadata.ts'
import { TokenEndpoint } from './oauth/token-endpoint.ts'
import { CedarWasmEvaluator } from './policy/evaluator.ts'
import { PolicyDecisionPoint } from './policy/pdp.ts'
import { PolicyCheck, type PolicyRelevantChange } from './policy/policy-check.ts'
import { TokenPolicy } from './policy/token-policy.ts'
import { seedDemoData } from './registry/demo.ts'
import { Directory } from './registry/directory.ts'
import { JwksFetcher } from './registry/jwks-fetcher.ts'
import { Registry } from './registry/registry.ts'
import { createRegistryStores } from './registry/stores.ts'
import { AdminTokenStore } from './store/admin-token-store.ts'
import { type Database, openDatabase, storeLocation } from './store/database.ts'
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
  registry: Registry
  keyRing: KeyRing
  adminTokens: AdminTokens
  /** The in-memory registry the token endpoint reads. */
  directory: Directory
  replay: ReplayCache
  revocations: Revocations
  tokenEndpoint: TokenEndpoint
  introspectionEndpoint: IntrospectionEndpoint
  revocationEndpoint: RevocationEndpoint
  /** The policy decision point (Cedar). */
  pdp: PolicyDecisionPoint
  /** Checks the access tokens callers present to Mandate's own resource endpoints. */
  accessTokens: AccessTokenAuthenticator
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
}

/** Opens the store, migrates it, checks the master key and loads the key ring: everything but HTTP. */
export async function openCore(config: Config, options: { now?: () => number } = {}): Promise<Core> {
  const location = storeLocation(config)
  // The key first: a start that cannot have one must not leave a new store behind.
  const resolved = MasterKey.resolve({
    masterKey: config.masterKey,
    masterKeyFile: config.masterKeyFile,
    dataDir: config.dataDir,
    embedded: location.dialect === 'sqlite',
  })
  const database = await openDatabase(location)
  try {
    await database.migrate()
    await resolved.key.checkAgainst(database.db)
    const now = options.now ?? Date.now
    const clock = () => new Date(now())
    const audit = new AuditLog(resolved.key.derive('audit-chain'))
    await audit.initialize(database.db)
    const stores = createRegistryStores()
    const jwks = new JwksFetcher({
      timeoutMs: config.jwksFetchTimeoutMs,
      maxBytes: config.jwksFetchMaxBytes,
      cacheTtlSeconds: config.jwksCacheSeconds,
      allowLoopback: config.jwksAllowLoopback,
    })
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
    const clientAuth = {
      directory,
      replay,
      jwks,
      audiences: () => assertionAudiences(config.issuer),
      clockSkewSeconds: config.clockSkewSeconds,
      now,
    }
    const recorder = new AuditBatcher(database, audit, now)
    const pdp = new PolicyDecisionPoint({
      directory,
      recorder,
      evaluator: new CedarWasmEvaluator(),
      cacheSize: config.decisionCacheSize,
      now,
    })
    const tokenPolicy = new TokenPolicy(pdp, recorder)
    const dpop = {
      replay,
      now,
      iatWindowSeconds: 60 + config.clockSkewSeconds,
      nonces: config.dpopRequireNonce ? new DpopNonces(resolved.key.derive('dpop-nonce')) : undefined,
    }
    const tokenEndpoint = new TokenEndpoint({
      dpop: { ...dpop, url: () => endpointUrls(config.issuer).token },
      recorder,
      now,
      grant: {
        directory,
        minter: new AccessTokenMinter(keyRing, () => config.issuer, now),
        issuer: () => config.issuer,
        verifier,
        revocations,
        jwks,
        audiences: () => assertionAudiences(config.issuer),
        maxTokenLifetimeSeconds: config.maxTokenLifetimeSeconds,
        maxDelegationDepth: config.maxDelegationDepth,
        clockSkewSeconds: config.clockSkewSeconds,
        now,
        clientAuth,
        policy: tokenPolicy,
        txn: {
          trustDomain: () => config.trustDomain ?? config.issuer,
          lifetimeSeconds: config.txnTokenLifetimeSeconds,
          mint: (grant) => mintTransactionToken(keyRing, config.issuer, now(), grant),
        },
      },
      clientAuth,
    })
    const policyCheck = new PolicyCheck(stores)
    return {
      config,
      database,
      pdp,
      masterKey: resolved.key,
      masterKeySource: { source: resolved.source, file: resolved.file },
      audit,
      registry: new Registry({
        database,
        stores,
        audit,
        jwks,
        maxAgentDepth: config.maxAgentDepth,
        now: clock,
        checkPolicies: (tx, change) => policyCheck.check(tx, change as PolicyRelevantChange),
        onChange: () => directory.refresh(),
      }),
      keyRing,
      adminTokens: new AdminTokens(database, new AdminTokenStore(), audit, clock),
      directory,
      replay,
      revocations,
      tokenEndpoint,
      introspectionEndpoint: new IntrospectionEndpoint({ clientAuth, verifier, revocations }),
      revocationEndpoint: new RevocationEndpoint({ clientAuth, verifier, revocations }),
      accessTokens: new AccessTokenAuthenticator({ verifier, revocations, dpop }),
      close: () => database.close(),
    }
  } catch (error) {
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
  const core = await openCore(config, options)
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
    const seeded = bootstrap && seedWanted && empty ? await seedDemoData(core.registry) : 0
    const tls = readTls(config)
    const app = await buildApp({
      tls,
      issuer: () => config.issuer,
      bodyLimitBytes: config.bodyLimitBytes,
      database: core.database,
      registry: core.registry,
      keyRing: core.keyRing,
      audit: core.audit,
      adminTokens: core.adminTokens,
      tokenEndpoint: core.tokenEndpoint,
      introspectionEndpoint: core.introspectionEndpoint,
      revocationEndpoint: core.revocationEndpoint,
      revocations: core.revocations,
      pdp: core.pdp,
      accessTokens: core.accessTokens,
      directory: core.directory,
      logger,
      version: VERSION,
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
    // Other nodes may rotate: reload the ring well within the propagation delay, and rotate on schedule.
    const reload = setInterval(() => {
      core.keyRing
        .rotateIfDue(config.keyRotationSeconds)
        .catch((err) => logger.error({ err }, 'key ring refresh failed'))
    }, 30_000)
    reload.unref()
    // Registry changes made by other nodes reach this one within half a second; expired one-time values are purged.
    core.directory.start(500, (err) => logger.error({ err }, 'registry refresh failed'))
    const purge = setInterval(() => {
      core.replay.purge().catch((err) => logger.error({ err }, 'replay cache purge failed'))
      core.revocations.purge().catch((err) => logger.error({ err }, 'revocation purge failed'))
    }, 60_000)
    purge.unref()
    return {
      ...core,
      app,
      url,
      ...(bootstrap && !config.bootstrapToken ? { bootstrapToken: bootstrap.token } : {}),
      seeded,
      close: async () => {
        clearInterval(reload)
        clearInterval(purge)
        core.directory.stop()
        await app.close()
        await core.close()
      },
    }
  } catch (error) {
    await core.close()
    throw error
  }
}
