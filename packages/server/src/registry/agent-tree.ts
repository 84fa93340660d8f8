// The agent tree: every agent has an active human sponsor; a sub-agent sits under an existing parent, no deeper than
// allowed, with a ceiling within its parent's; an agent is active only while every agent above it is; and stopping an
// agent (or its sponsor) suspends everything below it.
import { canonicalJson } from '../audit/canonical-json.ts'
import type { FieldError } from '../errors/mandate-error.ts'
import { ceilingCovers } from './ceiling.ts'
import { type RuleContext, redact, withoutBookkeeping } from './change.ts'
import { type AuthenticationBlock, authenticationBlock } from './lifecycle.ts'
import type { Agent, CeilingEntry, Human } from './model.ts'

/**
 * Checks an agent's place in the tree before it is written: sponsor, lifecycle up the tree, parent, depth and
 * ceilings. Answers the agent as it is to be stored (a suspension may be lifted) and every problem found.
 */
export async function checkAgentTree(
  rc: RuleContext,
  input: Agent,
  previous: Agent | undefined,
): Promise<{ doc: Agent; fields: FieldError[] }> {
  const fields: FieldError[] = []
  const doc: Agent = { ...input }
  const sponsor = await rc.stores.humans.get(rc.tx, doc.sponsor)
  if (!sponsor) fields.push({ path: '/sponsor', message: `names no human (${doc.sponsor})` })
  const parentChanged = previous === undefined || previous.parent !== doc.parent
  // A new, active sponsor lifts a suspension that the old sponsor's deactivation caused, unless an agent above this
  // one is still inactive: then that is why it stays suspended.
  if (
    previous?.suspended_reason === 'sponsor_inactive' &&
    doc.suspended_reason === 'sponsor_inactive' &&
    doc.sponsor !== previous.sponsor &&
    sponsor?.status === 'active' &&
    doc.status === 'suspended'
  ) {
    if (doc.parent !== undefined && (await inactiveAncestor(rc, doc.parent)))
      doc.suspended_reason = 'parent_inactive'
    else doc.status = 'active'
  }
  if (doc.status !== 'suspended') delete doc.suspended_reason
  if (sponsor && sponsor.status !== 'active' && doc.status === 'active')
    fields.push({
      path: '/sponsor',
      message: `must be an active human (${doc.sponsor} is ${sponsor.status})`,
    })
  // Lifecycle runs up the tree: an agent becomes active (created active, reactivated, or moved under another parent)
  // only while every agent above it may act. Suspending or retiring stays possible whatever the tree above.
  const activates =
    doc.status === 'active' && (previous === undefined || previous.status !== 'active' || parentChanged)
  if (activates && doc.parent !== undefined) {
    const blocked = await inactiveAncestor(rc, doc.parent)
    if (blocked) fields.push({ path: '/status', message: `cannot be active while ${blocked}` })
  }
  // Placement rules are checked when they can change: on creation, a new parent, or a new ceiling. Retiring or
  // suspending a sub-agent whose parent has meanwhile been retired must stay possible.
  const ceilingChanged =
    previous === undefined || canonicalJson(previous.ceiling) !== canonicalJson(doc.ceiling)
  if (doc.parent !== undefined && parentChanged) fields.push(...(await checkPlacement(rc, doc)))
  if (doc.parent !== undefined && (parentChanged || ceilingChanged))
    fields.push(...(await checkWithinParent(rc, doc)))
  if (previous !== undefined && ceilingChanged) fields.push(...(await checkChildrenWithin(rc, doc)))
  return { doc, fields }
}

/** After an agent write: when it stops being active, its active sub-agents are suspended, all the way down. */
export async function cascadeFromAgent(
  rc: RuleContext,
  doc: Agent,
  previous: Agent | undefined,
): Promise<void> {
  if (doc.status === 'active' || (previous !== undefined && previous.status !== 'active')) return
  const active = (await children(rc, doc.id)).filter((c) => c.status === 'active').map((c) => c.id)
  await suspendAgents(rc, active, 'parent_inactive', `parent agent ${doc.id} is ${doc.status}`)
}

/** After a human write: when they are deactivated, the agents they sponsor are suspended, and theirs in turn. */
export async function cascadeFromSponsor(
  rc: RuleContext,
  doc: Human,
  previous: Human | undefined,
): Promise<void> {
  if (doc.status === 'active' || previous?.status === 'inactive') return
  const sponsored = await rc.stores.agents.activeSponsoredBy(rc.tx, doc.id)
  await suspendAgents(rc, sponsored, 'sponsor_inactive', `sponsor ${doc.id} was deactivated`)
}

const BLOCK_WORDS: Record<AuthenticationBlock, string> = {
  suspended: 'suspended',
  retired: 'retired',
  expired: 'expired',
  sponsor_inactive: 'sponsored by an inactive human',
  sponsor_missing: 'without a sponsor',
}

// Why an agent under `parentId` could not act: the first agent up the tree that cannot (suspended, retired, expired,
// or with an inactive sponsor), described; undefined when all can. A missing parent is the placement check's concern.
async function inactiveAncestor(rc: RuleContext, parentId: string): Promise<string | undefined> {
  const seen = new Set<string>()
  let next: string | undefined = parentId
  while (next !== undefined && !seen.has(next) && seen.size <= rc.maxAgentDepth) {
    seen.add(next)
    const agent = await rc.stores.agents.get(rc.tx, next)
    if (!agent) return undefined
    const sponsor = await rc.stores.humans.get(rc.tx, agent.sponsor)
    const block = authenticationBlock(agent, rc.now, sponsor)
    if (block)
      return `${next === parentId ? 'its parent' : 'its ancestor'} agent ${agent.id} is ${BLOCK_WORDS[block]}`
    next = agent.parent
  }
  return undefined
}

// The parent exists, is not retired, is not the agent's own descendant, and the whole subtree stays within depth.
async function checkPlacement(rc: RuleContext, doc: Agent): Promise<FieldError[]> {
  const ancestors: Agent[] = []
  let next = doc.parent
  while (next !== undefined) {
    if (next === doc.id || ancestors.some((a) => a.id === next))
      return [{ path: '/parent', message: 'would make the agent its own ancestor' }]
    const parent = await rc.stores.agents.get(rc.tx, next)
    if (!parent) return [{ path: '/parent', message: `names no agent (${next})` }]
    ancestors.push(parent)
    if (ancestors.length >= rc.maxAgentDepth) break
    next = parent.parent
  }
  if (ancestors[0]?.status === 'retired')
    return [{ path: '/parent', message: `${ancestors[0].id} is retired` }]
  const depth = ancestors.length + (await subtreeHeight(rc, doc.id))
  if (depth > rc.maxAgentDepth) {
    return [
      {
        path: '/parent',
        message: `sub-agents may nest at most ${rc.maxAgentDepth} deep (this placement makes ${depth})`,
      },
    ]
  }
  return []
}

// Levels from this agent down to its deepest sub-agent, itself included (a leaf is 1).
async function subtreeHeight(rc: RuleContext, id: string): Promise<number> {
  let level = [id]
  let height = 0
  while (level.length > 0 && height <= rc.maxAgentDepth) {
    height++
    const next: string[] = []
    for (const parent of level) next.push(...(await children(rc, parent)).map((c) => c.id))
    level = next
  }
  return height
}

// The sub-agents of an agent that are not retired.
async function children(rc: RuleContext, parent: string): Promise<Agent[]> {
  const all = await rc.stores.agents.list(rc.tx, { filters: { parent }, limit: 10000 })
  return all.filter((child) => child.status !== 'retired')
}

// A sub-agent can never be given more than its parent could ever have.
async function checkWithinParent(rc: RuleContext, doc: Agent): Promise<FieldError[]> {
  const parent = doc.parent === undefined ? undefined : await rc.stores.agents.get(rc.tx, doc.parent)
  if (!parent) return []
  return doc.ceiling.flatMap((entry, i) =>
    ceilingCovers(parent.ceiling, entry)
      ? []
      : [{ path: `/ceiling/${i}`, message: `${actionOf(entry)} goes beyond the parent's ceiling` }],
  )
}

// Narrowing a ceiling may not leave a sub-agent with more than its parent.
async function checkChildrenWithin(rc: RuleContext, doc: Agent): Promise<FieldError[]> {
  const fields: FieldError[] = []
  for (const child of await children(rc, doc.id)) {
    const outside = child.ceiling.filter((entry) => !ceilingCovers(doc.ceiling, entry)).map(actionOf)
    if (outside.length > 0)
      fields.push({
        path: '/ceiling',
        message: `sub-agent ${child.id} still has ${outside.join(', ')}; narrow it first`,
      })
  }
  return fields
}

// Suspends each agent (audited), then, in turn, the sub-agents of each.
async function suspendAgents(rc: RuleContext, ids: string[], reason: string, why: string): Promise<void> {
  const agents = rc.stores.agents
  for (const id of ids) {
    const agent = await agents.get(rc.tx, id)
    if (agent?.status !== 'active') continue
    const before = withoutBookkeeping(agent)
    const suspended: Agent = { ...before, status: 'suspended', suspended_reason: reason }
    await agents.update(rc.tx, agent, suspended, rc.now.toISOString())
    await rc.record('Agent', 'suspend', id, { before: redact(before), after: redact(suspended) }, why)
    const next = (await children(rc, id)).filter((c) => c.status === 'active').map((c) => c.id)
    await suspendAgents(rc, next, 'parent_inactive', `parent agent ${id} was suspended`)
  }
}

function actionOf(entry: CeilingEntry): string {
  return typeof entry === 'string' ? entry : entry.action
}
