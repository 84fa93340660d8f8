// `mandate mandates list | show | grant | revoke`: humans' grants to agents, through a running node's admin API.
import type { AdminClient, Mandate, MandateGrant } from '@mandate/sdk'
import type { Command } from 'commander'
import { CliFailure, ExitCode, print } from './output.ts'

interface Helpers {
  json: () => boolean
  admin: () => AdminClient
}

const PERIODS = ['total', 'day', 'week', 'month']

function describe(m: Mandate): string {
  const limits = [
    m.budget?.calls !== undefined ? `calls ${m.usage.calls}/${m.budget.calls}` : undefined,
    m.budget?.sum ? `${m.budget.sum.argument} ${m.usage.sum}/${m.budget.sum.limit}` : undefined,
    m.budget && m.budget.period !== 'total' ? `per ${m.budget.period}` : undefined,
  ].filter(Boolean)
  return [
    m.id,
    m.status,
    `${m.human} -> ${m.agent}`,
    m.actions.join(' '),
    `until ${m.expires_at}`,
    ...(limits.length > 0 ? [limits.join(' ')] : []),
  ].join('\t')
}

// "1h", "30d", "90m" or an RFC 3339 time, as the RFC 3339 expiry the API takes.
function expiry(value: string, now = Date.now()): string {
  const relative = /^(\d{1,6})([mhd])$/.exec(value)
  if (relative) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 'm' | 'h' | 'd']
    return new Date(now + Number(relative[1]) * unit).toISOString()
  }
  if (Number.isNaN(Date.parse(value)))
    throw new CliFailure(
      `--expires ${JSON.stringify(value)} is not a duration (90m, 8h, 30d) or an RFC 3339 time`,
      ExitCode.usage,
    )
  return value
}

function positive(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const number = Number(value)
  if (!Number.isFinite(number) || number <= 0)
    throw new CliFailure(`${name} must be a positive number`, ExitCode.usage)
  return number
}

/** Registers the `mandates` command group. */
export function registerMandateCommands(program: Command, helpers: Helpers): void {
  const mandates = program
    .command('mandates')
    .description("humans' grants to agents: list, show, grant, revoke")

  mandates
    .command('list')
    .description('mandates, newest first, with their use')
    .option('--human <id>', 'only those this human gave')
    .option('--agent <id>', 'only those to this agent')
    .option('--status <status>', 'active or revoked')
    .action(async (options: { human?: string; agent?: string; status?: string }) => {
      if (options.status !== undefined && !['active', 'revoked'].includes(options.status))
        throw new CliFailure('--status must be active or revoked', ExitCode.usage)
      const { items } = await helpers.admin().listMandates({
        ...(options.human ? { human: options.human } : {}),
        ...(options.agent ? { agent: options.agent } : {}),
        ...(options.status ? { status: options.status as 'active' | 'revoked' } : {}),
      })
      print(helpers.json(), items, () =>
        items.length === 0 ? 'no mandates' : items.map(describe).join('\n'),
      )
    })

  mandates
    .command('show')
    .description('one mandate, with its use in the current budget period')
    .argument('<id>')
    .action(async (id: string) => {
      const mandate = await helpers.admin().getMandate(id)
      print(helpers.json(), mandate, () => JSON.stringify(mandate, null, 2))
    })

  mandates
    .command('grant')
    .description("grant an agent a human's authority, within the agent's ceiling")
    .requiredOption('--human <id>', 'the human who grants')
    .requiredOption('--agent <id>', 'the delegated or blended agent')
    .requiredOption('--actions <scopes...>', 'the scopes the agent may ask for')
    .requiredOption('--resource-servers <ids...>', 'resource servers, by id or audience')
    .option('--expires <when>', 'a duration (90m, 8h, 30d) or an RFC 3339 time', '30d')
    .option('--resource-patterns <patterns...>', 'resources it is limited to (* matches any run)')
    .option('--details-types <types...>', 'authorization_details types the agent may ask for')
    .option('--calls <n>', 'budget: at most this many tokens')
    .option('--sum <argument=limit>', 'budget: at most this sum of a numeric authorization_details field')
    .option('--period <period>', 'budget period: total, day, week or month (UTC)', 'total')
    .action(
      async (options: {
        human: string
        agent: string
        actions: string[]
        resourceServers: string[]
        expires: string
        resourcePatterns?: string[]
        detailsTypes?: string[]
        calls?: string
        sum?: string
        period: string
      }) => {
        if (!PERIODS.includes(options.period))
          throw new CliFailure(`--period must be one of ${PERIODS.join(', ')}`, ExitCode.usage)
        const calls = positive('--calls', options.calls)
        let sum: { argument: string; limit: number } | undefined
        if (options.sum !== undefined) {
          const [argument, limit] = options.sum.split('=')
          if (!argument || limit === undefined)
            throw new CliFailure('--sum must be argument=limit, e.g. amount=500', ExitCode.usage)
          sum = { argument, limit: positive('--sum', limit) as number }
        }
        const grant: MandateGrant = {
          human: options.human,
          agent: options.agent,
          actions: options.actions,
          resource_servers: options.resourceServers,
          expires_at: expiry(options.expires),
          ...(options.resourcePatterns ? { resource_patterns: options.resourcePatterns } : {}),
          ...(options.detailsTypes ? { authorization_details_types: options.detailsTypes } : {}),
          ...(calls !== undefined || sum
            ? {
                budget: {
                  ...(calls !== undefined ? { calls } : {}),
                  ...(sum ? { sum } : {}),
                  period: options.period as 'total',
                },
              }
            : {}),
        }
        const mandate = await helpers.admin().grantMandate(grant)
        print(helpers.json(), mandate, () => `granted ${describe(mandate)}`)
      },
    )

  mandates
    .command('revoke')
    .description(
      'revoke a mandate: refused at once for new tokens, and its tokens become inactive, on every node',
    )
    .argument('<id>')
    .option('--reason <text>', 'why, for the audit log')
    .action(async (id: string, options: { reason?: string }) => {
      const mandate = await helpers.admin().revokeMandate(id, options.reason)
      print(helpers.json(), mandate, () => `revoked ${describe(mandate)}`)
    })
}
