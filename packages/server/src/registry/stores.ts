// One store per registry aggregate, with the indexed columns each one filters on.

import type { Executor } from '../store/database.ts'
import { RegistryStore } from '../store/registry-store.ts'
import { emailKey } from './email-key.ts'
import type {
  Agent,
  Entity,
  EntityType,
  Group,
  Human,
  Policy,
  RegistryKind,
  ResourceServer,
  TrustedIssuer,
  Workload,
} from './model.ts'

/**
 * Humans, filterable by status. Their IdP bindings are also indexed in `human_identities` (an issuer and subject name at
 * most one human), and their emails in lower case, so that both uniqueness checks are one lookup.
 */
export class HumanStore extends RegistryStore<Human> {
  /** Ids of the humans with this email, ignoring case. */
  async withEmail(ex: Executor, email: string): Promise<string[]> {
    // PostgreSQL text cannot hold U+0000, so no stored email contains it.
    if (email.includes('\u0000')) return []
    const rows = await ex
      .selectFrom('humans')
      .select('id')
      .where('email_key', '=', emailKey(email))
      .orderBy('id')
      .execute()
    return rows.map((r) => r.id)
  }

  /** The id of the human bound to this issuer and subject, if any. */
  async boundTo(ex: Executor, issuer: string, subject: string): Promise<string | undefined> {
    if (issuer.includes('\u0000') || subject.includes('\u0000')) return undefined
    const row = await ex
      .selectFrom('human_identities')
      .select('human_id')
      .where('issuer', '=', issuer)
      .where('subject', '=', subject)
      .executeTakeFirst()
    return row?.human_id
  }

  /** Ids of the humans with a binding at this issuer. */
  async boundAt(ex: Executor, issuer: string): Promise<string[]> {
    const rows = await ex
      .selectFrom('human_identities')
      .select('human_id')
      .distinct()
      .where('issuer', '=', issuer)
      .orderBy('human_id')
      .execute()
    return rows.map((r) => r.human_id)
  }

  /** Rewrites the identity index of a human from its document. */
  async indexIdentities(ex: Executor, human: Human): Promise<void> {
    await ex.deleteFrom('human_identities').where('human_id', '=', human.id).execute()
    const identities = human.identities ?? []
    if (identities.length === 0) return
    await ex
      .insertInto('human_identities')
      .values(identities.map((i) => ({ issuer: i.issuer, subject: i.subject, human_id: human.id })))
      .execute()
  }

  /** Emails (in lower case) that several humans share, with their ids: possible only in data older than the rule. */
  async sharedEmails(ex: Executor): Promise<Array<{ email: string; humans: string[] }>> {
    const shared = await ex
      .selectFrom('humans')
      .select('email_key')
      .where('email_key', 'is not', null)
      .groupBy('email_key')
      .having((eb) => eb(eb.fn.countAll(), '>', 1))
      .orderBy('email_key')
      .execute()
    const result: Array<{ email: string; humans: string[] }> = []
    for (const { email_key } of shared)
      if (email_key !== null) result.push({ email: email_key, humans: await this.withEmail(ex, email_key) })
    return result
  }
}

// The indexed column behind each filter of each kind's list; the column names never come from a request.
const filterColumns = {
  Human: { status: 'status' },
  Workload: { status: 'status' },
  Agent: { status: 'status', classification: 'classification', sponsor: 'sponsor', parent: 'parent_id' },
  Group: {},
  TrustedIssuer: { type: 'type', issuer: 'issuer' },
  ResourceServer: { audience: 'audience' },
  Policy: {},
  EntityType: {},
  Entity: { type: 'type' },
} as const satisfies Record<RegistryKind, Record<string, string>>

/** The filters each kind's list accepts (`GET /api/v1/agents?sponsor=...`, `mandate list agents --filter ...`). */
export const listFilters: Readonly<Record<RegistryKind, readonly string[]>> = {
  Human: Object.keys(filterColumns.Human),
  Workload: Object.keys(filterColumns.Workload),
  Agent: Object.keys(filterColumns.Agent),
  Group: Object.keys(filterColumns.Group),
  TrustedIssuer: Object.keys(filterColumns.TrustedIssuer),
  ResourceServer: Object.keys(filterColumns.ResourceServer),
  Policy: Object.keys(filterColumns.Policy),
  EntityType: Object.keys(filterColumns.EntityType),
  Entity: Object.keys(filterColumns.Entity),
}

/** Workloads, filterable by status. */
export type WorkloadStore = RegistryStore<Workload>
/** Trusted token issuers, filterable by type and issuer URL. */
export type TrustedIssuerStore = RegistryStore<TrustedIssuer>

/** Resource servers (token audiences), filterable by audience. */
export type ResourceServerStore = RegistryStore<ResourceServer>

/** Agents, filterable by sponsor, classification, status and parent. */
export class AgentStore extends RegistryStore<Agent> {
  /** Ids of the agents a human sponsors that are still active. */
  async activeSponsoredBy(ex: Executor, humanId: string): Promise<string[]> {
    const rows = await ex
      .selectFrom('agents')
      .select('id')
      .where('sponsor', '=', humanId)
      .where('status', '=', 'active')
      .orderBy('id')
      .execute()
    return rows.map((r) => r.id)
  }
}

/** Groups; membership is also indexed in `group_members` so that a principal's groups are one lookup. */
export class GroupStore extends RegistryStore<Group> {
  /** Rewrites the membership index of a group from its document. */
  async indexMembers(ex: Executor, group: Group): Promise<void> {
    await ex.deleteFrom('group_members').where('group_id', '=', group.id).execute()
    if (group.members.length === 0) return
    await ex
      .insertInto('group_members')
      .values(group.members.map((m) => ({ group_id: group.id, member_kind: m.kind, member_id: m.id })))
      .onConflict((oc) => oc.doNothing())
      .execute()
  }

  /** Ids of the groups a principal belongs to. */
  async groupsOf(ex: Executor, kind: string, id: string): Promise<string[]> {
    const rows = await ex
      .selectFrom('group_members')
      .select('group_id')
      .where('member_kind', '=', kind)
      .where('member_id', '=', id)
      .orderBy('group_id')
      .execute()
    return rows.map((r) => r.group_id)
  }
}

/** Cedar policy sets; every saved version is also kept in `policy_versions`. */
export class PolicyStore extends RegistryStore<Policy> {
  /** Keeps a saved version of a policy set. */
  async keepVersion(ex: Executor, policy: Policy, version: number, savedAt: string): Promise<void> {
    await ex
      .insertInto('policy_versions')
      .values({ policy_id: policy.id, version, doc: JSON.stringify(policy), saved_at: savedAt })
      .onConflict((oc) => oc.doNothing())
      .execute()
  }

  /** A saved version of a policy set, if kept. */
  async version(ex: Executor, id: string, version: number): Promise<Policy | undefined> {
    const row = await ex
      .selectFrom('policy_versions')
      .select('doc')
      .where('policy_id', '=', id)
      .where('version', '=', version)
      .executeTakeFirst()
    return row ? (JSON.parse(row.doc) as Policy) : undefined
  }
}

/** The registry stores, built once. */
export function createRegistryStores() {
  return {
    humans: new HumanStore({
      table: 'humans',
      columns: (h) => ({ status: h.status, email_key: h.email === undefined ? null : emailKey(h.email) }),
      filters: filterColumns.Human,
    }),
    workloads: new RegistryStore<Workload>({
      table: 'workloads',
      columns: (w) => ({ status: w.status, expires_at: w.expires_at ?? null }),
      filters: filterColumns.Workload,
    }),
    agents: new AgentStore({
      table: 'agents',
      columns: (a) => ({
        status: a.status,
        classification: a.classification,
        sponsor: a.sponsor,
        parent_id: a.parent ?? null,
        expires_at: a.expires_at ?? null,
      }),
      filters: filterColumns.Agent,
    }),
    groups: new GroupStore({ table: 'groups', columns: () => ({}), filters: filterColumns.Group }),
    trustedIssuers: new RegistryStore<TrustedIssuer>({
      table: 'trusted_issuers',
      columns: (t) => ({ issuer: t.issuer, type: t.type }),
      filters: filterColumns.TrustedIssuer,
    }),
    resourceServers: new RegistryStore<ResourceServer>({
      table: 'resource_servers',
      columns: (r) => ({ audience: r.audience }),
      filters: filterColumns.ResourceServer,
    }),
    policies: new PolicyStore({
      table: 'policies',
      columns: (p) => ({ enabled: p.enabled ? 1 : 0 }),
      filters: filterColumns.Policy,
    }),
    entityTypes: new RegistryStore<EntityType>({
      table: 'entity_types',
      columns: () => ({}),
      filters: filterColumns.EntityType,
    }),
    entities: new RegistryStore<Entity>({
      table: 'entities',
      columns: (e) => ({ type: entityTypeOf(e.id) }),
      filters: filterColumns.Entity,
    }),
  }
}

/** The type part of an entity id (`record:101` is of type `record`). */
export function entityTypeOf(uid: string): string {
  return uid.slice(0, uid.indexOf(':'))
}

/** The registry stores. */
export type RegistryStores = ReturnType<typeof createRegistryStores>
