// The gates every decision about an agent or a workload passes before a policy is asked: the principal may act now
// (its own lifecycle, its sponsor's and every ancestor agent's) and the action is within its ceiling. The token
// endpoint, the AuthZEN API, explanations and searches all call these functions: policies narrow, never widen.
import { ceilingAllows } from './ceiling.ts'
import type { Client, Directory } from './directory.ts'
import { type AuthenticationBlock, authenticationBlock } from './lifecycle.ts'
import type { Agent, ResourceServer, Workload } from './model.ts'

/**
 * What a gate answers callers: `agent_inactive` or `workload_inactive` (the principal may not act now),
 * `beyond_ceiling` (the action is beyond its ceiling), `unknown_action` (the resource server does not offer it).
 */
export type GateReason = 'agent_inactive' | 'workload_inactive' | 'beyond_ceiling' | 'unknown_action'

/**
 * The finer cause, for the audit record and explanations: a lifecycle block of the principal itself, `unregistered`,
 * `parent_inactive` (an ancestor agent may not act), `parent_missing`, or the reason again for the other gates.
 */
export type GateCause =
  | AuthenticationBlock
  | 'unregistered'
  | 'parent_inactive'
  | 'parent_missing'
  | 'beyond_ceiling'
  | 'unknown_action'

/** Why a request was stopped before policies. */
export interface GateDenial {
  reason: GateReason
  cause: GateCause
  /** For admins (audit record, explanations): ids and states, never a secret. */
  message: string
}

/** Why a client may not act now, with a message naming who blocks it. */
export interface LifecycleBlock {
  cause: Exclude<GateCause, 'beyond_ceiling' | 'unknown_action'>
  message: string
}

// Sub-agents nest a bounded number of levels deep; a longer walk means the registry holds a cycle: fail closed.
const MAX_ANCESTORS = 64

/**
 * Why `client` may not act at `now`, or null when it may. Suspended, retired and expired clients, agents without an
 * active sponsor, and sub-agents any of whose ancestors is any of these may not act: a sub-agent never outlives the
 * agent it works for.
 * @example
 * lifecycleBlock(directory, directory.client('care-scheduler'), new Date()) // { cause: 'parent_inactive', message: 'parent agent care-assistant is suspended' }
 */
export function lifecycleBlock(directory: Directory, client: Client, now: Date): LifecycleBlock | null {
  const own = blockOf(directory, client, now)
  if (own) return { cause: own, message: describe(client, own) }
  if (client.kind !== 'agent') return null
  const seen = new Set([client.principal.id])
  let next = client.principal.parent
  for (let depth = 1; next !== undefined; depth++) {
    const relation = depth === 1 ? 'parent' : 'ancestor'
    if (seen.has(next) || depth > MAX_ANCESTORS)
      return {
        cause: 'parent_missing',
        message: `the ancestors of agent ${client.principal.id} form a cycle`,
      }
    const parent = directory.client(next)
    if (parent?.kind !== 'agent')
      return { cause: 'parent_missing', message: `${relation} agent ${next} is not registered` }
    seen.add(next)
    const block = blockOf(directory, parent, now)
    if (block) return { cause: 'parent_inactive', message: `${relation} ${describe(parent, block)}` }
    next = parent.principal.parent
  }
  return null
}

/**
 * The actions, of those asked, beyond the principal's ceiling on `server`: every scope and authorization_details type
 * must be within it (resource patterns match the server's audience). Without a server (an action on an entity of
 * another type), only entries without resource patterns allow an action.
 * @example
 * beyondCeiling(agent, ['crm:read', 'payments:read'], crm) // ['payments:read'] when the ceiling is ['crm:read']
 */
export function beyondCeiling(
  principal: Agent | Workload,
  actions: readonly string[],
  server: ResourceServer | undefined,
): string[] {
  return actions.filter((action) => !ceilingAllows(principal.ceiling, action, server?.audience))
}

/**
 * The gates of one decision, in order: an agent or workload principal is registered and may act now; a resource
 * server offers the action; the action is within the principal's ceiling. Null when the policies may decide.
 * Principals of other types (humans, declared types) pass the first and last gate: they have no lifecycle or ceiling
 * of Mandate's.
 */
export function decisionGate(
  directory: Directory,
  request: {
    principal: { type: string; id: string }
    action: string
    resource: { type: string; id: string }
  },
  now: Date,
): GateDenial | null {
  const { principal, action, resource } = request
  const acting = principal.type === 'agent' || principal.type === 'workload' ? principal.type : undefined
  let client: Client | undefined
  if (acting) {
    const reason = acting === 'agent' ? 'agent_inactive' : 'workload_inactive'
    client = directory.client(principal.id)
    if (client?.kind !== acting)
      return { reason, cause: 'unregistered', message: `${acting} ${principal.id} is not registered` }
    const block = lifecycleBlock(directory, client, now)
    if (block) return { reason, ...block }
  }
  const server = resource.type === 'resource_server' ? directory.resourceServerById(resource.id) : undefined
  if (
    resource.type === 'resource_server' &&
    !(server?.scopes.includes(action) || server?.authorization_details_types.includes(action))
  )
    return {
      reason: 'unknown_action',
      cause: 'unknown_action',
      message: server
        ? `resource server ${server.id} does not offer ${action}`
        : `resource server ${resource.id} is not registered`,
    }
  if (client && beyondCeiling(client.principal, [action], server).length > 0)
    return {
      reason: 'beyond_ceiling',
      cause: 'beyond_ceiling',
      message: `${action} is beyond the ceiling of ${client.kind} ${client.principal.id}`,
    }
  return null
}

function blockOf(directory: Directory, client: Client, now: Date): AuthenticationBlock | null {
  const sponsor = client.kind === 'agent' ? directory.human(client.principal.sponsor) : undefined
  return authenticationBlock(client.principal, now, sponsor)
}

function describe(client: Client, block: AuthenticationBlock): string {
  const who = `${client.kind} ${client.principal.id}`
  const sponsor = client.kind === 'agent' ? client.principal.sponsor : ''
  switch (block) {
    case 'suspended':
    case 'retired':
      return `${who} is ${block}`
    case 'expired':
      return `${who} has expired`
    case 'sponsor_inactive':
      return `${who}'s sponsor ${sponsor} is inactive`
    case 'sponsor_missing':
      return `${who}'s sponsor ${sponsor} is not registered`
  }
}
