// `mandate demo consent` and `mandate demo act`: the demo agent (support-bot, with the key the demo data wrote next to
// the store) asks a human for a mandate through the consent page, then acts under it one action at a time, as an
// agent built on @mandate/sdk would. They run the real flow against a running node: PAR, the browser consent,
// code redemption with PKCE and RFC 9207 `iss`, then one token exchange per action, each spending the mandate's budget.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { type AccessToken, AgentClient, MandateOAuthError, SubjectTokenTypes } from '@mandate/sdk'
import type { Command } from 'commander'
import { decodeJwt } from 'jose'
import type { Config } from '../config/schema.ts'
import { DEMO_AGENT } from '../registry/demo.ts'
import { CliFailure, ExitCode, print } from './output.ts'

interface Helpers {
  json: () => boolean
  config: () => Config
  url: () => string
}

/** What `demo consent` keeps for `demo act`, next to the data, mode 0600. */
interface SavedConsent {
  resource: string
  mandate_id: string
  access_token: string
  refresh_token: string
  expires_at: number
}

const CONSENT_FILE = 'demo-consent.json'
const CRM = 'https://crm.example.com/'
/** How long `demo consent` waits for the human. */
const WAIT_MS = 10 * 60_000

function demoAgent(config: Config, url: string): AgentClient {
  const keyFile = join(config.dataDir, DEMO_AGENT.file)
  if (!existsSync(keyFile))
    throw new CliFailure(
      `${keyFile} does not exist: the demo agent's key is written when the demo data is seeded (npm start on an empty store)`,
      ExitCode.failed,
    )
  return AgentClient.fromEnv({
    MANDATE_URL: url,
    MANDATE_CLIENT_ID: DEMO_AGENT.id,
    MANDATE_PRIVATE_KEY_FILE: keyFile,
  })
}

// The kept consent holds a refresh token: owner-only, also when the file already existed with a wider mode.
function save(file: string, saved: SavedConsent): void {
  writeFileSync(file, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 })
  chmodSync(file, 0o600)
}

function positiveInteger(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1)
    throw new CliFailure(`${name} must be a positive whole number`, ExitCode.usage)
  return n
}

// The token endpoint's refusal, as the CLI reports it: the OAuth code and what the node said.
function refused(error: unknown): never {
  if (error instanceof MandateOAuthError)
    throw new CliFailure(`refused: ${error.code}: ${error.description}`, ExitCode.failed)
  throw error
}

// A callback server on a free loopback port, its redirect URI (the registered http://127.0.0.1/callback matches any
// port, OAuth 2.1 §8.4.2), and the URL of the first request to it; later requests are answered and ignored.
async function callbackServer(): Promise<{ server: Server; redirectUri: string; callback: Promise<URL> }> {
  let received: (url: URL) => void = () => {}
  const callback = new Promise<URL>((resolve) => {
    received = resolve
  })
  const server = createServer((request, response) => {
    const { port } = server.address() as AddressInfo
    const url = new URL(request.url ?? '/', `http://127.0.0.1:${port}`)
    if (url.pathname !== '/callback') {
      response.writeHead(404).end()
      return
    }
    response
      .writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
      .end('support-bot received your answer. You can close this tab and return to the terminal.\n')
    received(url)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { server, redirectUri: `http://127.0.0.1:${port}/callback`, callback }
}

function claimsOf(token: AccessToken): Record<string, unknown> {
  const { sub, act, client_id, scope, mandate_id, aud, exp } = decodeJwt(token.accessToken)
  return { sub, act, client_id, scope, mandate_id, aud, exp }
}

/** Registers `mandate demo consent` and `mandate demo act` under `mandate demo`. */
export function registerDemoConsentCommands(demo: Command, helpers: Helpers): void {
  demo
    .command('consent')
    .description(
      'as the demo agent support-bot, ask a human for a mandate on the CRM: prints the consent URL to open in a browser, waits for the answer, and keeps the delegated token for `demo act`',
    )
    .option('--scope <scopes>', 'the actions asked, space-separated', 'crm:read')
    .option('--calls <n>', 'the call budget asked (the human may lower it)', '5')
    .option('--duration <seconds>', 'how long the mandate should last', '3600')
    .action(async (options: { scope: string; calls: string; duration: string }) => {
      const config = helpers.config()
      const agent = demoAgent(config, helpers.url())
      const maxCalls = positiveInteger(options.calls, '--calls')
      const durationSeconds = positiveInteger(options.duration, '--duration')
      const { server, redirectUri, callback } = await callbackServer()
      try {
        const pending = await agent
          .authorizationUrl({
            redirectUri,
            resource: CRM,
            scope: options.scope,
            ...(maxCalls ? { maxCalls } : {}),
            ...(durationSeconds ? { durationSeconds } : {}),
          })
          .catch(refused)
        process.stderr.write(
          `Open this URL in a browser, sign in, and approve (or narrow, or deny) what support-bot asks:\n\n  ${pending.url}\n\nwaiting for the answer (up to 10 minutes) ...\n`,
        )
        let timer: NodeJS.Timeout | undefined
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new CliFailure('no answer within 10 minutes', ExitCode.failed)),
            WAIT_MS,
          )
        })
        const url = await Promise.race([callback, timeout]).finally(() => clearTimeout(timer))
        const token = await agent.redeemAuthorization(url, pending).catch(refused)
        if (!token.refreshToken || !token.mandateId)
          throw new CliFailure('the node answered no refresh token or mandate id', ExitCode.failed)
        const saved: SavedConsent = {
          resource: CRM,
          mandate_id: token.mandateId,
          access_token: token.accessToken,
          refresh_token: token.refreshToken,
          expires_at: token.expiresAt,
        }
        const file = join(config.dataDir, CONSENT_FILE)
        save(file, saved)
        const claims = claimsOf(token)
        print(helpers.json(), { mandate_id: token.mandateId, claims, saved: file }, () =>
          [
            `consented: mandate ${token.mandateId} (see it at ${helpers.url()}/me/mandates)`,
            `delegated token: sub ${claims.sub}, act ${JSON.stringify(claims.act)}, scope ${claims.scope}`,
            `kept in ${file} for \`mandate demo act\``,
          ].join('\n'),
        )
      } finally {
        server.close()
      }
    })

  demo
    .command('act')
    .description(
      'as support-bot, take one action under the mandate `demo consent` obtained: exchanges its delegated token for a token for that one action, spending one call of the budget',
    )
    .option('--scope <scopes>', 'the action', 'crm:read')
    .action(async (options: { scope: string }) => {
      const config = helpers.config()
      const file = join(config.dataDir, CONSENT_FILE)
      if (!existsSync(file))
        throw new CliFailure(`${file} does not exist: run \`mandate demo consent\` first`, ExitCode.failed)
      const saved = JSON.parse(readFileSync(file, 'utf8')) as SavedConsent
      const agent = demoAgent(config, helpers.url())
      // The consent's access token lives minutes; past that, its rotated refresh token gives a new one (which spends
      // a call too, as every token issued under the mandate does).
      if (saved.expires_at <= Date.now() + 10_000) {
        const next = await agent.refresh(saved.refresh_token).catch(refused)
        saved.access_token = next.accessToken
        saved.refresh_token = next.refreshToken ?? saved.refresh_token
        saved.expires_at = next.expiresAt
        save(file, saved)
        process.stderr.write('the consent token had expired: refreshed it (one call)\n')
      }
      const token = await agent
        .exchange({
          subjectToken: saved.access_token,
          subjectTokenType: SubjectTokenTypes.accessToken,
          resource: saved.resource,
          scope: options.scope,
        })
        .catch(refused)
      const claims = claimsOf(token)
      print(
        helpers.json(),
        { claims },
        () =>
          `token for ${claims.scope} on ${claims.aud}: sub ${claims.sub}, act ${JSON.stringify(claims.act)}, mandate ${claims.mandate_id}`,
      )
    })
}
