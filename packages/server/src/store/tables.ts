// Row types of every table, as Kysely sees them. JSON columns are text; times are ISO-8601 UTC text.
import type { Generated } from 'kysely'

/** Columns every registry object shares; `doc` holds the whole object as JSON. */
export interface RegistryRow {
  id: string
  doc: string
  version: number
  created_at: string
  updated_at: string
}

export interface HumanRow extends RegistryRow {
  status: string
  /** The email in lower case, for the case-insensitive uniqueness check; null without an email. */
  email_key: string | null
}

/** Who may assert a human: one row per (issuer, subject), so that a pair names at most one human. */
export interface HumanIdentityRow {
  issuer: string
  subject: string
  human_id: string
}

export interface WorkloadRow extends RegistryRow {
  status: string
  expires_at: string | null
}

export interface AgentRow extends RegistryRow {
  status: string
  classification: string
  sponsor: string
  parent_id: string | null
  expires_at: string | null
}

export interface GroupRow extends RegistryRow {}

export interface GroupMemberRow {
  group_id: string
  member_kind: string
  member_id: string
}

export interface TrustedIssuerRow extends RegistryRow {
  issuer: string
  type: string
}

export interface ResourceServerRow extends RegistryRow {
  audience: string
}

export interface PolicyRow extends RegistryRow {
  /** 1 when the policy set is evaluated, 0 when it is kept disabled. */
  enabled: number
}

export interface PolicyVersionRow {
  policy_id: string
  version: number
  doc: string
  saved_at: string
}

export interface EntityTypeRow extends RegistryRow {}

export interface EntityRow extends RegistryRow {
  /** The entity type: the part of the id before the first `:`. */
  type: string
}

export interface ReplayEntryRow {
  namespace: string
  value: string
  /** Epoch milliseconds after which the entry may be purged. */
  expires_at: number
}

export interface RevocationRow {
  /** `jti:<id>` for one token, `principal:<kind>:<id>` for every token of a principal issued up to `revoked_at`. */
  key: string
  revoked_at: number
  /** Epoch milliseconds after which no token it covers can still be valid. */
  expires_at: number
  reason: string | null
}

export interface SigningKeyRow {
  kid: string
  alg: string
  public_jwk: string
  private_jwk_sealed: string
  created_at: string
  activates_at: string
  publish_until: string | null
}

export interface AdminTokenRow {
  id: string
  name: string
  token_hash: string
  role: string
  created_at: string
  revoked_at: string | null
}

export interface AuditEventRow {
  seq: number
  id: string
  time: string
  type: string
  outcome: string
  actors: string
  /** JSON list of `kind:id`, exactly as hashed. */
  subjects: string
  mode: string | null
  action: string | null
  resource: string | null
  reason: string | null
  request_id: string | null
  traceparent: string | null
  details: string | null
  prev_hash: string
  hash: string
}

export interface AuditHeadRow {
  id: number
  seq: number
  hash: string
  /** HMAC of the epoch, seq and hash under the chain key. */
  mac: string
  /** Advanced only by a recorded recovery (`mandate audit recover`), so an old head cannot be put back unnoticed. */
  epoch: number
}

/** An approval request (approvals/): the action as canonical JSON, its hash, and its one-way state. */
export interface ApprovalRow {
  id: string
  /** `pending`, `approved`, `denied`, `expired` or `used`. */
  state: string
  client_id: string
  /** `human` or `group`. */
  approver_kind: string
  approver_id: string
  /** The action (approvals/action.ts), canonical JSON. */
  action: string
  /** SHA-256 (hex) of `action`. */
  action_hash: string
  /** Epoch milliseconds. */
  created_at: number
  expires_at: number
  interval_seconds: number
  last_poll_at: number | null
  /** `human:<id>` or `admin_token:<id>`. */
  decided_by: string | null
  /** `approver` or `admin`. */
  decided_as: string | null
  decided_at: number | null
  reason: string | null
  used_at: number | null
}

/** A mandate: the document, and the columns lists filter on and the spend guard reads. */
export interface MandateRow {
  id: string
  doc: string
  human_id: string
  agent_id: string
  status: string
  /** Epoch milliseconds. */
  expires_at: number
  created_at: string
}

/** A mandate's use in one budget period (`total`, or the period's first day, `YYYY-MM-DD`, UTC). */
export interface MandateUsageRow {
  mandate_id: string
  period: string
  calls: number
  /** The sum of the budget's argument over the period's spends. */
  amount: number
}

/** An authorization request, pushed (`par`) or waiting for consent (`pending`), by the SHA-256 of its reference. */
export interface AuthorizationRequestRow {
  hash: string
  kind: string
  client_id: string
  doc: string
  /** Epoch milliseconds. */
  expires_at: number
  used_at: number | null
}

/** An authorization code, by its SHA-256. */
export interface AuthorizationCodeRow {
  hash: string
  client_id: string
  human_id: string
  mandate_id: string
  doc: string
  expires_at: number
  used_at: number | null
  family_id: string | null
}

/** A refresh token family; revoked as a whole. */
export interface RefreshFamilyRow {
  id: string
  revoked_at: number | null
}

/** A refresh token, by its SHA-256, in its rotation family. */
export interface RefreshTokenRow {
  hash: string
  family_id: string
  client_id: string
  human_id: string
  mandate_id: string
  doc: string
  access_jti: string
  access_exp: number
  created_at: number
  expires_at: number
  used_at: number | null
  revoked_at: number | null
}

/** One registry object changed by a committed write, in commit order (see migration 0010). */
export interface RegistryChangeRow {
  seq: Generated<number>
  /** The registry kind (`Agent`, `Human`, ...). */
  kind: string
  object_id: string
  /** `create`, `update` or `delete`. */
  op: string
}

export interface MetaRow {
  key: string
  value: string
}

/** The whole database, for Kysely. */
/** A browser session: the SHA-256 of its id, whose human it is and when it ends (ISO-8601 UTC). */
export interface BrowserSessionRow {
  id_hash: string
  human_id: string
  /** The TrustedIssuer (its registry id) the human logged in through, for logout at that IdP. */
  issuer_id: string
  created_at: string
  last_seen_at: string
  /** The absolute end; the idle end is `last_seen_at` plus the idle timeout. */
  expires_at: string
}

export interface Tables {
  humans: HumanRow
  human_identities: HumanIdentityRow
  workloads: WorkloadRow
  agents: AgentRow
  groups: GroupRow
  group_members: GroupMemberRow
  trusted_issuers: TrustedIssuerRow
  resource_servers: ResourceServerRow
  policies: PolicyRow
  policy_versions: PolicyVersionRow
  entity_types: EntityTypeRow
  entities: EntityRow
  replay_entries: ReplayEntryRow
  revocations: RevocationRow
  signing_keys: SigningKeyRow
  admin_tokens: AdminTokenRow
  audit_events: AuditEventRow
  audit_head: AuditHeadRow
  approvals: ApprovalRow
  mandates: MandateRow
  mandate_usage: MandateUsageRow
  authorization_requests: AuthorizationRequestRow
  authorization_codes: AuthorizationCodeRow
  refresh_families: RefreshFamilyRow
  refresh_tokens: RefreshTokenRow
  registry_changes: RegistryChangeRow
  meta: MetaRow
  browser_sessions: BrowserSessionRow
}
