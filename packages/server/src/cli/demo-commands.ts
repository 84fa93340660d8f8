// `mandate demo idp-token`: a user's login token from the demo company IdP, for walking through delegation (token
// exchange) against a node seeded with the demo data. Opens the store directly, like `admin token`: the demo IdP's key
// derives from the master key.
import type { Command } from 'commander'
import type { Config } from '../config/schema.ts'
import { MandateError } from '../errors/mandate-error.ts'
import { DEMO_IDP, demoIdpKey, signDemoIdpToken } from '../registry/demo.ts'
import { registerDemoConsentCommands } from './demo-consent.ts'
import { CliFailure, ExitCode, print } from './output.ts'
import { openExistingStore } from './store-access.ts'

interface Helpers {
  json: () => boolean
  config: () => Config
  /** The node the agent commands talk to (MANDATE_URL or --url). */
  url: () => string
}

/** Registers `mandate demo ...`. */
export function registerDemoCommands(program: Command, helpers: Helpers): void {
  const demo = program.command('demo').description('helpers for the demo data')
  registerDemoConsentCommands(demo, helpers)
  demo
    .command('idp-token')
    .description(
      'sign a login token of the demo company IdP for a registered human, as the subject_token of a token exchange (store access needed, like admin token)',
    )
    .argument('<human>', 'the id of a registered human, e.g. alice@example.com')
    .option('--scope <scopes>', 'what the user grants: space-separated scopes', 'crm:read')
    .option('--audience <url>', "the token's aud (default: the node's issuer)")
    .option('--lifetime <seconds>', 'how long the token is valid', '600')
    .action(async (humanId: string, options: { scope: string; audience?: string; lifetime: string }) => {
      const lifetimeSeconds = Number(options.lifetime)
      if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds < 1 || lifetimeSeconds > 86400)
        throw new CliFailure('--lifetime must be a whole number of seconds from 1 to 86400', ExitCode.usage)
      const config = helpers.config()
      const core = await openExistingStore(config)
      try {
        const issuer = await core.registry.get('TrustedIssuer', DEMO_IDP.id).catch(() => undefined)
        if (issuer === undefined || issuer.type !== 'human_idp')
          throw new CliFailure(
            `this store has no demo IdP (TrustedIssuer ${DEMO_IDP.id}): it is seeded with the demo data, on the first start of an empty store`,
            ExitCode.failed,
          )
        const human = await core.registry.get('Human', humanId).catch((error: unknown) => {
          if (error instanceof MandateError) throw new CliFailure(error.message, ExitCode.failed)
          throw error
        })
        const token = await signDemoIdpToken(demoIdpKey(core.masterKey).privateKey, human, {
          issuer: issuer.issuer,
          audience: options.audience ?? config.issuer,
          scope: options.scope,
          lifetimeSeconds,
          now: Date.now(),
        })
        print(helpers.json(), { token, issuer: issuer.issuer, human: human.id }, () => token)
      } finally {
        await core.close()
      }
    })
}
