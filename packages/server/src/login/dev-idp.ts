// The bundled development IdP: an OpenID Connect provider (oidc-provider) for the demo humans, so that login works
// offline over real OIDC. Its signing key and client secret derive from the master key, so every node and the demo
// data agree; its state (sessions, codes) is in memory, per node. Not for production: anyone who reaches it can sign
// in as any demo account, without a password.
import type { IncomingMessage, ServerResponse } from 'node:http'
import Provider, { type Adapter, type AdapterPayload } from 'oidc-provider'
import {
  DEMO_IDP,
  DEV_IDP_ACCOUNTS,
  DEV_IDP_CLIENT_ID,
  type DevIdpAccount,
  demoIdpKey,
  devIdpClientSecret,
  devIdpIssuer,
} from '../registry/demo.ts'
import type { MasterKey } from '../tokens/master-key.ts'
import { escapeText, plainPage } from './dev-idp-page.ts'

// oidc-provider's own memory adapter warns on every start; this one is the same idea, said once in the header above.
class MemoryAdapter implements Adapter {
  private static readonly items = new Map<string, { payload: AdapterPayload; expiresAt: number }>()
  constructor(private readonly model: string) {}
  private key(id: string) {
    return `${this.model}:${id}`
  }
  private get(key: string): AdapterPayload | undefined {
    const item = MemoryAdapter.items.get(key)
    if (!item) return undefined
    if (item.expiresAt <= Date.now()) {
      MemoryAdapter.items.delete(key)
      return undefined
    }
    return item.payload
  }
  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    MemoryAdapter.items.set(this.key(id), { payload, expiresAt: Date.now() + expiresIn * 1000 })
    // Bounded: a development IdP never holds more than a few thousand live objects.
    if (MemoryAdapter.items.size > 10_000) {
      const oldest = MemoryAdapter.items.keys().next().value
      if (oldest !== undefined) MemoryAdapter.items.delete(oldest)
    }
  }
  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.get(this.key(id))
  }
  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    for (const [key] of MemoryAdapter.items)
      if (key.startsWith(`${this.model}:`)) {
        const payload = this.get(key)
        if (payload?.uid === uid) return payload
      }
    return undefined
  }
  async findByUserCode(): Promise<AdapterPayload | undefined> {
    return undefined
  }
  async consume(id: string): Promise<void> {
    const payload = this.get(this.key(id))
    if (payload) payload.consumed = Math.floor(Date.now() / 1000)
  }
  async destroy(id: string): Promise<void> {
    MemoryAdapter.items.delete(this.key(id))
  }
  async revokeByGrantId(grantId: string): Promise<void> {
    for (const [key, item] of MemoryAdapter.items)
      if (item.payload.grantId === grantId) MemoryAdapter.items.delete(key)
  }
}

/** A running development IdP; `handle` serves a request whose URL has the mount path removed. */
export class DevIdp {
  readonly issuer: string
  private readonly provider: Provider
  private readonly disabled = new Set<string>()

  /**
   * `nodeIssuer` is the node whose users it signs in (its client); the IdP lives at `{origin}/dev-idp`, where `origin`
   * is the node's issuer unless given (a second IdP on a port of its own, in tests).
   */
  constructor(options: { nodeIssuer: string; masterKey: MasterKey; origin?: string }) {
    const base = options.nodeIssuer.replace(/\/$/, '')
    this.issuer = devIdpIssuer(options.origin ?? base)
    const { privateKey } = demoIdpKey(options.masterKey)
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid: DEMO_IDP.kid, alg: 'ES256', use: 'sig' }
    this.provider = new Provider(this.issuer, {
      adapter: MemoryAdapter,
      clients: [
        {
          client_id: DEV_IDP_CLIENT_ID,
          client_secret: devIdpClientSecret(options.masterKey),
          redirect_uris: [`${base}/login/callback`],
          post_logout_redirect_uris: [`${base}/`],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
          id_token_signed_response_alg: 'ES256',
        },
      ],
      jwks: { keys: [jwk] },
      cookies: { keys: [options.masterKey.derive('dev-idp-cookies').toString('base64url')] },
      // Every claim in the ID token: the relying party reads it there, without a userinfo call.
      conformIdTokenClaims: false,
      claims: {
        openid: ['sub', 'groups', 'account_enabled'],
        email: ['email', 'email_verified'],
        profile: ['name'],
      },
      pkce: { required: () => true },
      features: {
        devInteractions: { enabled: false },
        rpInitiatedLogout: {
          enabled: true,
          logoutSource: async (ctx, form) => {
            ctx.body = plainPage(
              'Log out',
              `${form}<p>Log out of the development IdP?</p><button type="submit" form="op.logoutForm" name="logout" value="yes">Log out</button>`,
            )
          },
          postLogoutSuccessSource: async (ctx) => {
            ctx.body = plainPage('Logged out', '<p>You are logged out of the development IdP.</p>')
          },
        },
      },
      interactions: { url: async (_ctx, interaction) => `${DEMO_IDP.path}/interaction/${interaction.uid}` },
      findAccount: async (_ctx, sub) => {
        const account = DEV_IDP_ACCOUNTS.find((a) => a.sub === sub)
        if (!account) return undefined
        return {
          accountId: sub,
          claims: async () => ({
            sub,
            email: account.email,
            email_verified: true,
            name: account.name,
            groups: account.groups,
            account_enabled: !this.disabled.has(sub),
          }),
        }
      },
      // Mandate is the IdP's own first-party client: no consent screen.
      loadExistingGrant: async (ctx) => {
        const oidc = ctx.oidc
        const existing =
          oidc.result?.consent?.grantId || oidc.session?.grantIdFor(oidc.client?.clientId ?? '')
        if (existing) return oidc.provider.Grant.find(existing)
        if (!oidc.session?.accountId || !oidc.client) return undefined
        const grant = new oidc.provider.Grant({
          clientId: oidc.client.clientId,
          accountId: oidc.session.accountId,
        })
        grant.addOIDCScope('openid email profile')
        await grant.save()
        return grant
      },
      renderError: async (ctx, out) => {
        ctx.type = 'html'
        ctx.body = plainPage(
          'Error',
          `<p>${escapeText(String(out.error))}: ${escapeText(String(out.error_description ?? ''))}</p>`,
        )
      },
      ttl: {
        Session: 3600,
        Interaction: 600,
        Grant: 3600,
        IdToken: 300,
        AccessToken: 300,
        AuthorizationCode: 60,
      },
    })
    // Behind Mandate's own server, not a proxy: the node's issuer says the scheme.
    this.provider.proxy = false
  }

  /** The accounts it signs in. */
  accounts(): readonly DevIdpAccount[] {
    return DEV_IDP_ACCOUNTS
  }

  /** Test switch: the IdP reports this account disabled (`account_enabled: false`) at its next login. */
  setDisabled(sub: string, disabled: boolean): void {
    if (disabled) this.disabled.add(sub)
    else this.disabled.delete(sub)
  }

  /** Serves a protocol request (discovery, authorization, token, keys, logout). */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.provider.callback()(req, res)
  }

  /** The login step of an interaction: which account is asked for, or undefined when the interaction is gone. */
  async interaction(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<{ uid: string; prompt: string } | undefined> {
    try {
      const details = await this.provider.interactionDetails(req, res)
      return { uid: details.uid, prompt: details.prompt.name }
    } catch {
      return undefined
    }
  }

  /** Finishes the login step as `sub` (one of the accounts); answers false for an unknown account. */
  async signIn(req: IncomingMessage, res: ServerResponse, sub: string): Promise<boolean> {
    if (!DEV_IDP_ACCOUNTS.some((a) => a.sub === sub)) return false
    await this.provider.interactionFinished(
      req,
      res,
      { login: { accountId: sub } },
      { mergeWithLastSubmission: false },
    )
    return true
  }
}
