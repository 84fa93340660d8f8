// The one source of truth for Mandate's configuration: every option, its environment variable, its default and its doc.
import { type Static, type TSchema, Type } from '@sinclair/typebox'

/** Extra metadata every option carries, read by the loader and the docs generator. */
export interface OptionMeta {
  /** Environment variable that sets the option. */
  env: string
  /** Whether the value is a secret: never printed, logged or echoed in errors. */
  secret?: boolean
  /** Human-readable default, where the default is computed rather than fixed. */
  defaultText?: string
}

function option<T extends TSchema>(schema: T, meta: OptionMeta): T {
  return Object.assign(schema, { 'x-mandate': meta })
}

/** The configuration schema. Keys are the names used in a config file; each maps to one environment variable. */
export const ConfigSchema = Type.Object(
  {
    host: option(
      Type.String({
        minLength: 1,
        default: '127.0.0.1',
        description:
          'Address the HTTP server binds to. Loopback by default; set `0.0.0.0` only behind a proxy or with TLS.',
      }),
      { env: 'MANDATE_HOST' },
    ),
    trustProxy: option(
      Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 2000,
          pattern: '^[0-9A-Fa-f:.,/ ]+$',
          description:
            "The proxies in front of the node (load balancers), as IP addresses or CIDR ranges, comma-separated: their `X-Forwarded-For` is believed, so that the client's own address is what policies (`context.client_ip`), the failed-authentication budget and the audit log see. Unset, the node believes no header and sees the proxy's address.",
        }),
      ),
      { env: 'MANDATE_TRUST_PROXY' },
    ),
    port: option(
      Type.Integer({
        minimum: 0,
        maximum: 65535,
        default: 7400,
        description: 'TCP port of the HTTP server (OAuth endpoints, PDP, admin API). `0` picks a free port.',
      }),
      { env: 'MANDATE_PORT' },
    ),
    issuer: option(
      Type.Optional(
        Type.String({
          minLength: 1,
          description:
            'Issuer identifier (RFC 8414 §2): an `https` URL without query or fragment that names this deployment. Every node of a deployment must share it.',
        }),
      ),
      { env: 'MANDATE_ISSUER', defaultText: '`http://{host}:{port}`' },
    ),
    tlsCertFile: option(
      Type.Optional(
        Type.String({
          minLength: 1,
          description:
            'PEM certificate (chain) to serve HTTPS with. With `tlsKeyFile`, the node serves HTTPS and accepts client certificates (RFC 8705 mutual TLS).',
        }),
      ),
      { env: 'MANDATE_TLS_CERT_FILE' },
    ),
    tlsKeyFile: option(
      Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of `tlsCertFile`.' })),
      { env: 'MANDATE_TLS_KEY_FILE' },
    ),
    tlsClientCaFile: option(
      Type.Optional(
        Type.String({
          minLength: 1,
          description:
            'PEM CA certificates that issue client certificates for `tls_client_auth` (RFC 8705 §2.1). Self-signed client certificates (§2.2) need none.',
        }),
      ),
      { env: 'MANDATE_TLS_CLIENT_CA_FILE' },
    ),
    dataDir: option(
      Type.String({
        minLength: 1,
        default: './data',
        description:
          'Directory of the embedded store (`mandate.db`, SQLite) and, when no master key is given, of the generated `master.key`.',
      }),
      { env: 'MANDATE_DATA_DIR' },
    ),
    databaseUrl: option(
      Type.Optional(
        Type.String({
          pattern: '^postgres(ql)?://',
          description:
            'PostgreSQL connection URL (`postgres://user@host:5432/db`). When set, Mandate uses PostgreSQL instead of the embedded SQLite store; several nodes may share it.',
        }),
      ),
      { env: 'DATABASE_URL', secret: true },
    ),
    databaseSchema: option(
      Type.Optional(
        Type.String({
          pattern: '^[a-z_][a-z0-9_]{0,62}$',
          description:
            "PostgreSQL schema to keep Mandate's tables in (created if missing). Default: the connection's search path.",
        }),
      ),
      { env: 'MANDATE_DATABASE_SCHEMA' },
    ),
    masterKey: option(
      Type.Optional(
        Type.String({
          description:
            'Key-encryption key for secrets at rest (signing keys, later vault entries): 32 random bytes as base64, base64url or 64 hex digits (`openssl rand -base64 32`). Required with PostgreSQL; with the embedded store a key file is generated in the data directory.',
        }),
      ),
      { env: 'MANDATE_MASTER_KEY', secret: true },
    ),
    masterKeyFile: option(
      Type.Optional(
        Type.String({
          minLength: 1,
          description: 'Path to a file holding the master key, as an alternative to `masterKey`.',
        }),
      ),
      { env: 'MANDATE_MASTER_KEY_FILE' },
    ),
    bootstrapToken: option(
      Type.Optional(
        Type.String({
          minLength: 32,
          description:
            'Admin bearer token to create on first start instead of a random one (for automated deployments and tests). Only its SHA-256 hash is stored.',
        }),
      ),
      { env: 'MANDATE_BOOTSTRAP_TOKEN', secret: true },
    ),
    demoData: option(
      Type.Union([Type.Literal('auto'), Type.Literal('on'), Type.Literal('off')], {
        default: 'auto',
        description:
          'Seed demo humans, a workload and agents of each classification into an empty store. `auto` seeds only the embedded SQLite store.',
      }),
      { env: 'MANDATE_DEMO_DATA' },
    ),
    devIdp: option(
      Type.Union([Type.Literal('auto'), Type.Literal('on'), Type.Literal('off')], {
        default: 'auto',
        description:
          'Run the bundled development IdP (OpenID Connect, at `{issuer}/dev-idp`) that signs in the demo humans without a password. `auto` runs it only with the embedded SQLite store on a loopback address. For development and demos only: never `on` in production.',
      }),
      { env: 'MANDATE_DEV_IDP' },
    ),
    sessionIdleSeconds: option(
      Type.Integer({
        minimum: 60,
        maximum: 86400,
        default: 1800,
        description: 'A browser session unused for this long ends; the human logs in again.',
      }),
      { env: 'MANDATE_SESSION_IDLE_SECONDS' },
    ),
    sessionMaxSeconds: option(
      Type.Integer({
        minimum: 60,
        maximum: 604800,
        default: 43200,
        description: 'A browser session ends this long after login, however much it is used.',
      }),
      { env: 'MANDATE_SESSION_MAX_SECONDS' },
    ),
    signingAlg: option(
      Type.Union([Type.Literal('ES256'), Type.Literal('EdDSA'), Type.Literal('RS256')], {
        default: 'ES256',
        description: 'Algorithm of newly generated signing keys (RFC 7518 §3.1; EdDSA per RFC 8037).',
      }),
      { env: 'MANDATE_SIGNING_ALG' },
    ),
    keyRotationSeconds: option(
      Type.Integer({
        minimum: 0,
        default: 2592000,
        description:
          'Rotate the signing key after it has signed for this long (default 30 days). `0` disables scheduled rotation.',
      }),
      { env: 'MANDATE_KEY_ROTATION_SECONDS' },
    ),
    keyPropagationSeconds: option(
      Type.Integer({
        minimum: 0,
        default: 600,
        description:
          'How long a new signing key is published in the JWKS before it signs anything, so that relying parties with a cached JWKS learn it first. Keep it above the JWKS cache lifetime (300 s).',
      }),
      { env: 'MANDATE_KEY_PROPAGATION_SECONDS' },
    ),
    maxTokenLifetimeSeconds: option(
      Type.Integer({
        minimum: 1,
        maximum: 86400,
        default: 3600,
        description:
          'Upper bound on any token lifetime. A retired signing key stays published this long (plus clock skew) after it last signed.',
      }),
      { env: 'MANDATE_MAX_TOKEN_LIFETIME_SECONDS' },
    ),
    clockSkewSeconds: option(
      Type.Integer({
        minimum: 0,
        maximum: 300,
        default: 30,
        description: 'Clock skew tolerated when checking times in tokens and assertions.',
      }),
      { env: 'MANDATE_CLOCK_SKEW_SECONDS' },
    ),
    maxAgentDepth: option(
      Type.Integer({
        minimum: 1,
        maximum: 10,
        default: 3,
        description: 'Deepest sub-agent nesting allowed: an agent with no parent is depth 1.',
      }),
      { env: 'MANDATE_MAX_AGENT_DEPTH' },
    ),
    maxDelegationDepth: option(
      Type.Integer({
        minimum: 1,
        maximum: 10,
        default: 3,
        description:
          'Deepest delegation chain a token may carry: the number of nested actors in its `act` claim (RFC 8693 §4.1).',
      }),
      { env: 'MANDATE_MAX_DELEGATION_DEPTH' },
    ),
    mandateMaxLifetimeSeconds: option(
      Type.Integer({
        minimum: 60,
        maximum: 31_622_400,
        default: 7_776_000,
        description:
          'Longest a mandate may last: a grant whose `expires_at` is further away is refused (default 90 days).',
      }),
      { env: 'MANDATE_MANDATE_MAX_LIFETIME_SECONDS' },
    ),
    policyEngine: option(
      Type.Union([Type.Literal('compiled'), Type.Literal('cedar-wasm')], {
        default: 'compiled',
        description:
          "What evaluates Cedar policies. `compiled`: policies compiled to JavaScript, deciding over the registry's entities in memory (a policy set using a construct the compiler does not handle is evaluated by cedar-wasm, with a warning naming it and the `mandate_policy_fallback` metric); `cedar-wasm`: the reference engine for every decision, with each request's entity slice (for comparison).",
      }),
      { env: 'MANDATE_POLICY_ENGINE' },
    ),
    decisionCacheSize: option(
      Type.Integer({
        minimum: 0,
        maximum: 1000000,
        default: 10000,
        description:
          'Policy decisions kept per loaded registry view, keyed by everything the evaluation reads (the time to the minute included); repeated requests skip evaluation. `0` evaluates every request.',
      }),
      { env: 'MANDATE_DECISION_CACHE_SIZE' },
    ),
    trustDomain: option(
      Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 2048,
          description:
            'The trust domain transaction tokens are for: the `audience` a txn_token request must name and the `aud` of the token (OAuth Transaction Tokens draft). Default: the issuer.',
        }),
      ),
      { env: 'MANDATE_TRUST_DOMAIN', defaultText: 'the issuer' },
    ),
    txnTokenLifetimeSeconds: option(
      Type.Integer({
        minimum: 1,
        maximum: 300,
        default: 30,
        description:
          'Lifetime of transaction tokens: seconds, for one action (never more than the subject token has left).',
      }),
      { env: 'MANDATE_TXN_TOKEN_LIFETIME_SECONDS' },
    ),
    approvalExpirySeconds: option(
      Type.Integer({
        minimum: 10,
        maximum: 86400,
        default: 600,
        description:
          "How long an approval request waits for its approver before it expires (CIBA §7.3 `expires_in`; a backchannel request's `requested_expiry` may only shorten it).",
      }),
      { env: 'MANDATE_APPROVAL_EXPIRY_SECONDS' },
    ),
    approvalPollIntervalSeconds: option(
      Type.Integer({
        minimum: 1,
        maximum: 60,
        default: 5,
        description:
          'CIBA §7.3 `interval`: the least time between two polls of one approval request. A poll sooner is answered `slow_down` and the interval grows by 5 s for good (§11).',
      }),
      { env: 'MANDATE_APPROVAL_POLL_INTERVAL_SECONDS' },
    ),
    approvalTokenLifetimeSeconds: option(
      Type.Integer({
        minimum: 1,
        maximum: 3600,
        default: 60,
        description:
          'The longest an access token issued on an approval lives: it is for the one approved action, now (never longer than the resource server, `@max_ttl` or the node allow).',
      }),
      { env: 'MANDATE_APPROVAL_TOKEN_LIFETIME_SECONDS' },
    ),
    approvalMaxPendingPerClient: option(
      Type.Integer({
        minimum: 1,
        maximum: 10000,
        default: 20,
        description:
          'The most approval requests one agent or workload may have waiting at once: more are refused (`access_denied`), so that no client can flood its approvers (and their webhook).',
      }),
      { env: 'MANDATE_APPROVAL_MAX_PENDING_PER_CLIENT' },
    ),
    approvalWebhookUrl: option(
      Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 2000,
          pattern: '^https?://',
          description:
            'Where new approval requests are announced: a JSON POST per request (the action, the approver, the approvals page URL; never a secret), signed in `Mandate-Signature` with `approvalWebhookSecret` (docs/delegation.md, Approvals), retried with exponential backoff. Unset, nothing is sent.',
        }),
      ),
      { env: 'MANDATE_APPROVAL_WEBHOOK_URL' },
    ),
    approvalWebhookSecret: option(
      Type.Optional(
        Type.String({
          minLength: 32,
          maxLength: 512,
          description:
            "The HMAC-SHA256 key of the approval webhook's signature, shared with the receiver: at least 32 characters (`openssl rand -base64 32`). Required with `approvalWebhookUrl`.",
        }),
      ),
      { env: 'MANDATE_APPROVAL_WEBHOOK_SECRET', secret: true },
    ),
    approvalWebhookAttempts: option(
      Type.Integer({
        minimum: 1,
        maximum: 20,
        default: 6,
        description: 'Tries per approval webhook delivery, the first included; a 2xx answer ends them.',
      }),
      { env: 'MANDATE_APPROVAL_WEBHOOK_ATTEMPTS' },
    ),
    approvalWebhookRetryMs: option(
      Type.Integer({
        minimum: 10,
        maximum: 600000,
        default: 2000,
        description:
          'The wait before the first retry of an approval webhook delivery, in milliseconds; each later retry waits twice as long.',
      }),
      { env: 'MANDATE_APPROVAL_WEBHOOK_RETRY_MS' },
    ),
    dpopRequireNonce: option(
      Type.Boolean({
        default: false,
        description:
          'Require DPoP proofs at the token endpoint to carry a server nonce (RFC 9449 §8); clients get `use_dpop_nonce` with a `DPoP-Nonce` header first.',
      }),
      { env: 'MANDATE_DPOP_REQUIRE_NONCE' },
    ),
    bodyLimitBytes: option(
      Type.Integer({
        minimum: 1024,
        maximum: 16777216,
        default: 262144,
        description: 'Largest request body accepted, in bytes; larger bodies get 413.',
      }),
      { env: 'MANDATE_BODY_LIMIT_BYTES' },
    ),
    jwksFetchTimeoutMs: option(
      Type.Integer({
        minimum: 100,
        maximum: 60000,
        default: 5000,
        description: 'Time limit for fetching a registered `jwks_uri`.',
      }),
      { env: 'MANDATE_JWKS_FETCH_TIMEOUT_MS' },
    ),
    jwksFetchMaxBytes: option(
      Type.Integer({
        minimum: 1024,
        maximum: 4194304,
        default: 262144,
        description: 'Largest JWK Set fetched from a `jwks_uri`, in bytes.',
      }),
      { env: 'MANDATE_JWKS_FETCH_MAX_BYTES' },
    ),
    jwksCacheSeconds: option(
      Type.Integer({
        minimum: 0,
        maximum: 86400,
        default: 300,
        description:
          'How long a fetched `jwks_uri` document (the keys of a client or a trusted issuer) is used before it is fetched again. `0` fetches for every token.',
      }),
      { env: 'MANDATE_JWKS_CACHE_SECONDS' },
    ),
    jwksRefetchCooldownSeconds: option(
      Type.Integer({
        minimum: 1,
        maximum: 3600,
        default: 30,
        description:
          'A token whose `kid` (or key type) no key of a `jwks_uri` document matches makes the node fetch the document again at once, so a rotated key works immediately; at most once per this many seconds per document, so unauthenticated requests naming unknown keys cannot make the node fetch on every call.',
      }),
      { env: 'MANDATE_JWKS_REFETCH_COOLDOWN_SECONDS' },
    ),
    jwksFailureBackoffMaxSeconds: option(
      Type.Integer({
        minimum: 1,
        maximum: 86400,
        default: 300,
        description:
          'A `jwks_uri` that could not be fetched is not tried again for a while: 5 seconds after the first failure, doubling with each further failure up to this many seconds. Tokens needing its keys are refused meanwhile.',
      }),
      { env: 'MANDATE_JWKS_FAILURE_BACKOFF_MAX_SECONDS' },
    ),
    jwksAllowLoopback: option(
      Type.Boolean({
        default: false,
        description:
          'Allow `http://` and loopback `jwks_uri` addresses. For tests and local development only; private and link-local addresses stay refused.',
      }),
      { env: 'MANDATE_JWKS_ALLOW_LOOPBACK' },
    ),
    auditCheckpointSeconds: option(
      Type.Integer({
        minimum: 0,
        maximum: 86400,
        default: 60,
        description:
          'How often the node publishes a signed checkpoint of the audit chain head (sequence, hash, time) outside the database, so that records removed before it are detected (`mandate audit verify --checkpoints`). `0` publishes none.',
      }),
      { env: 'MANDATE_AUDIT_CHECKPOINT_SECONDS' },
    ),
    auditCheckpointFile: option(
      Type.Optional(
        Type.String({
          minLength: 1,
          description:
            'File the audit checkpoints are appended to, one JSON object per line. Keep it (or a copy) where whoever can write the database cannot.',
        }),
      ),
      {
        env: 'MANDATE_AUDIT_CHECKPOINT_FILE',
        defaultText: '`audit-checkpoints.jsonl` in the data directory',
      },
    ),
    refusalWindowSeconds: option(
      Type.Integer({
        minimum: 1,
        maximum: 3600,
        default: 60,
        description:
          'Unauthenticated token refusals are aggregated per source address and window: the first is recorded in full, the rest as one counted record when the window closes.',
      }),
      { env: 'MANDATE_REFUSAL_WINDOW_SECONDS' },
    ),
    authFailureBurst: option(
      Type.Integer({
        minimum: 0,
        maximum: 1000000,
        default: 50,
        description:
          'Failed authentications a source address may have in a burst before its requests are answered 429 with `Retry-After`. `0` turns the limit off.',
      }),
      { env: 'MANDATE_AUTH_FAILURE_BURST' },
    ),
    authFailureRefillPerSecond: option(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 1000000,
        default: 1,
        description: 'Failed authentications per second a limited source address earns back.',
      }),
      { env: 'MANDATE_AUTH_FAILURE_REFILL_PER_SECOND' },
    ),
    logLevel: option(
      Type.Union(
        ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
        {
          default: 'info',
          description:
            'Log level of the structured (pino) log on stdout. At `info`, `debug` and `trace`, every request is one line: request id, method, path (no query string), route, status and duration.',
        },
      ),
      { env: 'MANDATE_LOG_LEVEL' },
    ),
  },
  { additionalProperties: false },
)

/** A validated configuration, with defaults applied. */
export type Config = Static<typeof ConfigSchema> & { issuer: string }

/** The metadata of one option, read from the schema. */
export function optionMeta(schema: TSchema): OptionMeta {
  return (schema as TSchema & { 'x-mandate': OptionMeta })['x-mandate']
}
