// `mandate approvals list|show|approve|deny`: approval requests of risky actions through the admin API. A decision
// made here is an admin's, and is recorded as such.
import type { AdminClient, Approval } from '@mandate/sdk'
import type { Command } from 'commander'
import { CliFailure, ExitCode, print } from './output.ts'

interface Helpers {
  json: () => boolean
  admin: () => AdminClient
}

const STATES = ['pending', 'approved', 'denied', 'expired', 'used']

function summary(a: Approval): string {
  const who = a.action.delegator ? `${a.action.client.id} for ${a.action.delegator}` : a.action.client.id
  const what = [...a.action.scopes, ...a.action.authorization_details.map((d) => String(d.type))].join(' ')
  return `${a.id}\t${a.state}\t${who}\t${what}\ton ${a.action.resource}\tapprover ${a.action.approver.kind}:${a.action.approver.id}\texpires ${a.expires_at}`
}

function details(a: Approval): string {
  const lines = [
    `approval ${a.id}: ${a.state}`,
    `agent:     ${a.action.client.kind} ${a.action.client.id} (${a.action.mode})`,
    `chain:     ${a.action.chain.map((c) => `${c.kind}:${c.id}`).join(' -> ')}`,
    `resource:  ${a.action.resource}`,
    `scopes:    ${a.action.scopes.join(' ') || '(none)'}`,
  ]
  if (a.action.authorization_details.length > 0)
    lines.push(`details:   ${JSON.stringify(a.action.authorization_details)}`)
  if (a.action.binding_message !== null) lines.push(`message:   ${JSON.stringify(a.action.binding_message)}`)
  lines.push(
    `approver:  ${a.action.approver.kind}:${a.action.approver.id} (${a.action.approver.rule})`,
    `expires:   ${a.expires_at}`,
    `hash:      sha256:${a.action_hash}`,
  )
  if (a.decided_by) lines.push(`decided:   by ${a.decided_by} as ${a.decided_as} at ${a.decided_at}`)
  if (a.reason) lines.push(`reason:    ${a.reason}`)
  if (a.used_at) lines.push(`used:      ${a.used_at}`)
  return lines.join('\n')
}

/** Registers the `approvals` command group. */
export function registerApprovalCommands(program: Command, helpers: Helpers): void {
  const approvals = program.command('approvals').description('approval requests of risky actions')
  approvals
    .command('list')
    .description('list approval requests, newest first (pending ones by default)')
    .option('--state <state>', `one of ${STATES.join(', ')}, or all`, 'pending')
    .option('--approver <human>', 'only those this human may decide')
    .action(async (options: { state: string; approver?: string }) => {
      if (options.state !== 'all' && !STATES.includes(options.state))
        throw new CliFailure(`--state must be one of ${STATES.join(', ')} or all`, ExitCode.usage)
      const { items } = await helpers.admin().listApprovals({
        ...(options.state === 'all' ? {} : { state: options.state as Approval['state'] }),
        ...(options.approver ? { approver: options.approver } : {}),
      })
      print(helpers.json(), items, () =>
        items.length === 0 ? 'no approval requests' : items.map(summary).join('\n'),
      )
    })
  approvals
    .command('show')
    .description('show exactly the action an approval request is for')
    .argument('<id>', 'the approval id (apr_…)')
    .action(async (id: string) => {
      const approval = await helpers.admin().getApproval(id)
      print(helpers.json(), approval, () => details(approval))
    })
  for (const decision of ['approve', 'deny'] as const)
    approvals
      .command(decision)
      .description(`${decision} a pending approval request (recorded as an admin's decision)`)
      .argument('<id>', 'the approval id (apr_…)')
      .option('--reason <text>', 'why, for the audit log')
      .action(async (id: string, options: { reason?: string }) => {
        const approval = await helpers.admin().decideApproval(id, decision, options.reason)
        print(helpers.json(), approval, () => `approval ${approval.id} ${approval.state}`)
      })
}
