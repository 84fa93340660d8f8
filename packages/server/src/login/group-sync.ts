// IdP groups to Mandate groups at login: for every Mandate group the issuer's group map names, the human is a member
// exactly when the IdP lists one of the IdP groups mapped to it. Groups the map does not name are never touched; a
// token without the groups claim changes nothing (an IdP may leave it out, e.g. Entra ID past 200 groups).
import type { ChangeContext, Registry } from '../registry/registry.ts'

/** Applies `claim` (the IdP's group list) to the human's memberships of the mapped groups; each change is audited. */
export async function syncGroups(
  registry: Registry,
  humanId: string,
  claim: unknown,
  groupMap: Record<string, string>,
  ctx: ChangeContext,
): Promise<void> {
  if (!Array.isArray(claim)) return
  const listed = new Set(claim.filter((g): g is string => typeof g === 'string'))
  const wanted = new Map<string, boolean>()
  for (const [idpGroup, groupId] of Object.entries(groupMap))
    wanted.set(groupId, (wanted.get(groupId) ?? false) || listed.has(idpGroup))
  for (const [groupId, member] of wanted) {
    const group = await registry.get('Group', groupId).catch(() => undefined)
    if (!group) continue
    const members = group.members ?? []
    const is = members.some((m) => m.kind === 'human' && m.id === humanId)
    if (is === member) continue
    const next = member
      ? [...members, { kind: 'human' as const, id: humanId }]
      : members.filter((m) => !(m.kind === 'human' && m.id === humanId))
    await registry.patch('Group', groupId, { members: next }, ctx, group.version)
  }
}
