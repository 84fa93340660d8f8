// The rules of each registry kind, one entry per kind: where it is stored, what a write must satisfy, what follows
// from it, and what DELETE does. The registry core (registry.ts) applies them the same way for every kind.
import { Conflict, type FieldError, ValidationFailed } from '../errors/mandate-error.ts'
import { normalizeRfc3339 } from '../rfc3339.ts'
import { cascadeFromAgent, cascadeFromSponsor, checkAgentTree } from './agent-tree.ts'
import type { KindRules, RuleContext } from './change.ts'
import { type IssuedSecret, prepareCredentials } from './credentials.ts'
import { checkEntityParents } from './entity-parents.ts'
import { prepareHuman, prepareTrustedIssuer, refuseIfRelied } from './identity-rules.ts'
import type { Agent, Group, RegistryKind, ResourceServer, TrustedIssuer, Workload } from './model.ts'
import { checkRedirectUris } from './redirect-uris.ts'

/** The rules of every kind. */
export const kindRules: { [K in RegistryKind]: KindRules<K> } = {
  TrustedIssuer: {
    store: (s) => s.trustedIssuers,
    prepare: async (rc, doc, previous) => ({ doc: await prepareTrustedIssuer(rc, doc, previous) }),
    remove: {
      by: 'delete',
      summary: 'Delete a TrustedIssuer (refused while principals rely on it)',
      refuse: (rc, current) => refuseIfRelied(rc, current as TrustedIssuer),
    },
  },
  ResourceServer: {
    store: (s) => s.resourceServers,
    prepare: async (rc, doc) => ({ doc: await prepareResourceServer(rc, doc) }),
    remove: { by: 'delete', summary: 'Delete a ResourceServer' },
    policyInput: true,
  },
  Human: {
    store: (s) => s.humans,
    prepare: async (rc, doc, previous) => ({ doc: await prepareHuman(rc, doc, previous) }),
    afterWrite: async (rc, doc, previous) => {
      await rc.stores.humans.indexIdentities(rc.tx, doc)
      await cascadeFromSponsor(rc, doc, previous)
    },
    remove: {
      by: 'patch',
      patch: { status: 'inactive' },
      summary: 'Deactivate a human (suspends the agents they sponsor)',
    },
  },
  Workload: {
    store: (s) => s.workloads,
    prepare: (rc, doc, previous) => preparePrincipal(rc, doc, previous, []),
    remove: { by: 'patch', patch: { status: 'retired' }, summary: 'Retire a Workload' },
  },
  Agent: {
    store: (s) => s.agents,
    prepare: async (rc, input, previous) => {
      const { doc, fields } = await checkAgentTree(rc, input, previous)
      return preparePrincipal(rc, doc, previous, [...fields, ...checkRedirectUris(doc.redirect_uris)])
    },
    afterWrite: (rc, doc, previous) => cascadeFromAgent(rc, doc, previous),
    remove: {
      by: 'patch',
      patch: { status: 'retired' },
      summary: 'Retire an Agent (suspends its sub-agents)',
    },
  },
  Group: {
    store: (s) => s.groups,
    prepare: async (rc, doc) => ({ doc: await prepareGroup(rc, doc) }),
    afterWrite: (rc, doc) => rc.stores.groups.indexMembers(rc.tx, doc),
    remove: { by: 'delete', summary: 'Delete a Group' },
  },
  EntityType: {
    store: (s) => s.entityTypes,
    remove: { by: 'delete', summary: 'Delete an EntityType (refused while entities of it exist)' },
    policyInput: true,
  },
  Entity: {
    store: (s) => s.entities,
    prepare: async (rc, doc) => {
      const fields = await checkEntityParents(rc, doc)
      if (fields.length > 0) throw new ValidationFailed(fields)
      return { doc }
    },
    remove: { by: 'delete', summary: 'Delete an Entity' },
    policyInput: true,
  },
  Policy: {
    store: (s) => s.policies,
    // Every saved version is kept, so that a decision can be traced to the exact text that made it.
    afterWrite: (rc, doc, _previous, stored) =>
      rc.stores.policies.keepVersion(rc.tx, doc, stored.version, stored.updated_at),
    remove: { by: 'delete', summary: 'Delete a Policy set' },
    policyInput: true,
  },
}

async function prepareResourceServer(rc: RuleContext, doc: ResourceServer): Promise<ResourceServer> {
  const same = await rc.stores.resourceServers.list(rc.tx, { filters: { audience: doc.audience }, limit: 2 })
  const other = same.find((r) => r.id !== doc.id)
  if (other) throw new Conflict(`audience ${doc.audience} is already registered as ${other.id}`)
  return {
    ...doc,
    scopes: [...new Set(doc.scopes)],
    authorization_details_types: [...new Set(doc.authorization_details_types)],
    ...(doc.introspection_clients ? { introspection_clients: [...new Set(doc.introspection_clients)] } : {}),
  }
}

// Rules agents and workloads share: retirement is final, one client id namespace, canonical times, credentials.
async function preparePrincipal<T extends Agent | Workload>(
  rc: RuleContext,
  doc: T,
  previous: T | undefined,
  fields: FieldError[],
): Promise<{ doc: T; issued: IssuedSecret[] }> {
  if (previous?.status === 'retired' && doc.status !== 'retired')
    throw new Conflict(`${doc.id} is retired; retirement is final`)
  // Agents and workloads share one client_id namespace at the token endpoint.
  if (previous === undefined) {
    const other = 'sponsor' in doc ? rc.stores.workloads : rc.stores.agents
    if (await other.get(rc.tx, doc.id))
      throw new Conflict(
        `${doc.id} is already the id of ${'sponsor' in doc ? 'a workload' : 'an agent'}; agents and workloads share client ids`,
      )
  }
  // Stored times are canonical UTC, so every reader (and SQL comparisons) agree on them.
  if (doc.expires_at !== undefined)
    doc = { ...doc, expires_at: normalizeRfc3339(doc.expires_at) ?? doc.expires_at }
  // Only federated bindings name issuers; each is looked up by its `iss` value.
  const trustedWorkloadIssuers = new Set<string>()
  for (const issuer of new Set(doc.credentials.flatMap((c) => (c.type === 'federated' ? [c.issuer] : [])))) {
    const found = await rc.stores.trustedIssuers.list(rc.tx, { filters: { issuer }, limit: 10 })
    if (found.some((t) => t.type === 'workload')) trustedWorkloadIssuers.add(issuer)
  }
  const credentials = await prepareCredentials(doc.credentials, previous?.credentials ?? [], {
    jwks: rc.jwks,
    trustedWorkloadIssuers,
  })
  fields.push(...credentials.fields)
  if (fields.length > 0) throw new ValidationFailed(fields)
  return { doc: { ...doc, credentials: credentials.bindings }, issued: credentials.issued }
}

async function prepareGroup(rc: RuleContext, input: Group): Promise<Group> {
  const fields: FieldError[] = []
  const stores = { human: rc.stores.humans, workload: rc.stores.workloads, agent: rc.stores.agents }
  for (const [i, member] of input.members.entries()) {
    if (!(await stores[member.kind].get(rc.tx, member.id)))
      fields.push({ path: `/members/${i}`, message: `names no ${member.kind} (${member.id})` })
  }
  if (fields.length > 0) throw new ValidationFailed(fields)
  const unique = new Map(input.members.map((m) => [`${m.kind}:${m.id}`, m]))
  return { ...input, members: [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, m]) => m) }
}
