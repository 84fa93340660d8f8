// `mandate idp seal-secret`: seals a human IdP's login client secret (or private JWK) with the master key, for the
// `login.client_secret_sealed` (or `login.private_jwk_sealed`) of its TrustedIssuer. Opens the store directly, like
// `admin token`, so that the key is the one the store was created with. The secret is read from a file or standard
// input, never from the command line (which other users of the machine may see).
import type { Command } from 'commander'
import type { Config } from '../config/schema.ts'
import { loginSecretContext } from '../registry/identity-rules.ts'
import { readText } from './files.ts'
import { CliFailure, ExitCode, print } from './output.ts'
import { openExistingStore } from './store-access.ts'

/** Registers `mandate idp ...`. */
export function registerIdpCommands(
  program: Command,
  helpers: { json: () => boolean; config: () => Config },
): void {
  program
    .command('idp')
    .description('helpers for human IdPs (login)')
    .command('seal-secret')
    .description(
      "seal a TrustedIssuer's login client secret or private JWK with the master key, for login.client_secret_sealed or login.private_jwk_sealed",
    )
    .argument('<issuer-id>', 'the registry id of the TrustedIssuer (the seal is bound to it)')
    .option('-f, --file <file>', 'file holding the secret, or - for standard input', '-')
    .action(async (issuerId: string, options: { file: string }) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/.test(issuerId))
        throw new CliFailure('<issuer-id> must be a registry id', ExitCode.usage)
      const secret = readText(options.file).trim()
      if (secret.length === 0) throw new CliFailure('the secret is empty', ExitCode.usage)
      const core = await openExistingStore(helpers.config())
      try {
        const sealed = core.masterKey.seal(secret, loginSecretContext(issuerId))
        print(helpers.json(), { issuer_id: issuerId, sealed }, () => sealed)
      } finally {
        await core.close()
      }
    })
}
