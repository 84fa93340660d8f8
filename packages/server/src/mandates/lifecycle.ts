// A human leaving: deactivating them revokes every mandate they gave and suspends the agents they sponsor (and their
// sub-agents), in one transaction with an audit record for each change. The registry's write does the suspensions
// (`admin.agent.suspend`, reason `sponsor_inactive`, lifted when an admin assigns an active sponsor) and calls the
// mandates hook wired in main.ts (`mandate.revoke` for each mandate); this is the one entry point for both callers:
// the admin API (DELETE, or a status change, of a Human) and a login that finds the account disabled at the IdP.
import type { ChangeContext } from '../registry/change.ts'
import type { Human } from '../registry/model.ts'
import type { Registry } from '../registry/registry.ts'

/**
 * Deactivates a human, with the cascade above; a human already inactive is left as is. Answers whether anything
 * changed. `ctx.actor` names who deactivated them, e.g. `{kind: 'system', id: 'trusted_issuer:corp'}` when the IdP
 * reported the account disabled.
 * @example
 * await deactivateHuman(registry, 'alice@example.com', { actor: { kind: 'system', id: 'trusted_issuer:corp' } })
 */
export async function deactivateHuman(
  registry: Pick<Registry, 'patch'>,
  humanId: string,
  ctx: ChangeContext,
): Promise<boolean> {
  const result = await registry.patch('Human', humanId, { status: 'inactive' } satisfies Partial<Human>, ctx)
  return result.change !== 'unchanged'
}
