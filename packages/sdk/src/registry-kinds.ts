// The registry's kinds: the names documents give them (`kind: Agent`) and their paths in the admin API
// (`/api/v1/agents`). One list for the node, its CLI and its clients.

/**
 * Every registry kind with its admin API path, in the order `apply` writes them: what other documents refer to comes
 * first (issuers and resource servers, then humans, their workloads and agents, groups, entity types, entities, and
 * the policies that name them).
 * @example
 * REGISTRY_KINDS.TrustedIssuer // 'trusted-issuers'
 */
export const REGISTRY_KINDS = {
  TrustedIssuer: 'trusted-issuers',
  ResourceServer: 'resource-servers',
  Human: 'humans',
  Workload: 'workloads',
  Agent: 'agents',
  Group: 'groups',
  EntityType: 'entity-types',
  Entity: 'entities',
  Policy: 'policies',
} as const

/** A registry kind as documents name it (`Agent`, `TrustedIssuer`). */
export type RegistryKindName = keyof typeof REGISTRY_KINDS

/** A registry kind as the admin API's URLs name it (`agents`, `trusted-issuers`). */
export type KindPath = (typeof REGISTRY_KINDS)[RegistryKindName]
