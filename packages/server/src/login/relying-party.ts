// Human login as an OpenID Connect relying party (openid-client): authorization code with PKCE S256, state and nonce,
// at any TrustedIssuer of type human_idp that carries `login` client settings. The login transaction (verifier, state,
// nonce, where to return) travels sealed under the master key in a short-lived cookie, so any node can finish it.
// The IdP's answer names a human only the way a token exchange would (HumanIdentities.resolve): a login from an IdP
// the human is not bound to is refused.
import { type CryptoKey, importJWK } from 'jose'
import * as oidc from 'openid-client'
import type { Directory } from '../registry/directory.ts'
import { type HumanIdentities, HumanNotBound } from '../registry/human-identities.ts'
import { loginSecretContext } from '../registry/identity-rules.ts'
import type { Human, Stored, TrustedIssuer } from '../registry/model.ts'
import type { Registry } from '../registry/registry.ts'
import type { MasterKey } from '../tokens/master-key.ts'
import { syncGroups } from './group-sync.ts'

/** Why a login does not give a session; `message` may be shown to the user (it holds no secret). */
export class LoginRefused extends Error {
  constructor(
    readonly reason:
      | 'unknown_idp'
      | 'bad_transaction'
      | 'idp_error'
      | 'not_bound'
      | 'account_disabled'
      | 'human_inactive',
    message: string,
    /** The human named by the IdP, when known (for the audit record). */
    readonly humanId?: string,
  ) {
    super(message)
  }
}

/** A human IdP users may log in with: its registry id and what to show on the login page. */
export interface LoginIdp {
  id: string
  name: string
}

interface Transaction {
  /** TrustedIssuer id. */
  i: string
  /** PKCE verifier, state, nonce. */
  v: string
  s: string
  n: string
  /** Local path to return to. */
  r: string
  /** Expiry, epoch ms. */
  e: number
}

const TRANSACTION_CONTEXT = 'login-transaction'
const TRANSACTION_MS = 10 * 60_000
const DISCOVERY_MS = 5 * 60_000

/** Runs logins; created by the wiring. */
export class RelyingParty {
  private readonly configs = new Map<string, { version: number; at: number; config: oidc.Configuration }>()

  constructor(
    private readonly deps: {
      registry: Registry
      directory: Directory
      humans: HumanIdentities
      masterKey: MasterKey
      /** This node's `/login/callback` URL (a function: the port may be known only once listening). */
      redirectUri: () => string
      now: () => number
    },
  ) {}

  /** The IdPs humans may log in with, by id. */
  async idps(): Promise<LoginIdp[]> {
    const issuers = await this.deps.registry.list('TrustedIssuer', {
      filters: { type: 'human_idp' },
      limit: 1000,
    })
    return issuers
      .filter((i) => i.login !== undefined)
      .map((i) => ({ id: i.id, name: i.description?.split('.')[0]?.slice(0, 80) || i.issuer }))
  }

  /** Starts a login at `issuerId`: the URL to send the browser to, and the sealed transaction for its cookie. */
  async begin(issuerId: string, returnTo: string): Promise<{ url: string; transaction: string }> {
    const issuer = await this.loginIssuer(issuerId)
    const config = await this.configuration(issuer)
    const verifier = oidc.randomPKCECodeVerifier()
    const tx: Transaction = {
      i: issuer.id,
      v: verifier,
      s: oidc.randomState(),
      n: oidc.randomNonce(),
      r: returnTo,
      e: this.deps.now() + TRANSACTION_MS,
    }
    const scopes = new Set(['openid', ...(issuer.login?.scopes ?? [])])
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.deps.redirectUri(),
      scope: [...scopes].join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: tx.s,
      nonce: tx.n,
    })
    return { url: url.href, transaction: this.deps.masterKey.seal(JSON.stringify(tx), TRANSACTION_CONTEXT) }
  }

  /**
   * Finishes a login: redeems the code (checking state, nonce and the PKCE verifier), resolves the human, applies the
   * IdP's account status and group claims. Throws LoginRefused.
   */
  async finish(
    callbackUrl: URL,
    sealedTransaction: string | undefined,
    trace: { requestId?: string; traceparent?: string },
  ): Promise<{ human: Stored<Human>; issuer: Stored<TrustedIssuer>; returnTo: string }> {
    const tx = this.openTransaction(sealedTransaction)
    const issuer = await this.loginIssuer(tx.i)
    const idpError = callbackUrl.searchParams.get('error')
    if (idpError !== null)
      throw new LoginRefused('idp_error', `the identity provider answered ${idpError.slice(0, 100)}`)
    const config = await this.configuration(issuer)
    let claims: Record<string, unknown>
    try {
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: tx.v,
        expectedState: tx.s,
        expectedNonce: tx.n,
        idTokenExpected: true,
      })
      claims = (tokens.claims() ?? {}) as Record<string, unknown>
    } catch (error) {
      throw new LoginRefused('idp_error', `the login could not be completed: ${describe(error)}`)
    }
    if (typeof claims.sub !== 'string') throw new LoginRefused('idp_error', 'the ID token has no subject')
    const login = issuer.login
    const bound = this.deps.directory.humanByIdentity(issuer.issuer, claims.sub)
    // The IdP says the account is disabled: the bound human is deactivated (the registry's status change revokes
    // their mandates and suspends the agents they sponsor) and the login refused.
    if (login?.account_enabled_claim !== undefined && claims[login.account_enabled_claim] === false) {
      if (bound && bound.status === 'active')
        await this.deps.registry.patch(
          'Human',
          bound.id,
          { status: 'inactive' },
          { actor: { kind: 'system', id: `idp:${issuer.id}` }, ...trace },
        )
      throw new LoginRefused(
        'account_disabled',
        'the identity provider reports this account disabled',
        bound?.id,
      )
    }
    let human: Stored<Human>
    try {
      human = await this.deps.humans.resolve(
        issuer,
        { sub: claims.sub, email: claims.email, email_verified: claims.email_verified },
        trace,
      )
    } catch (error) {
      if (error instanceof HumanNotBound)
        throw new LoginRefused(
          bound ? 'human_inactive' : 'not_bound',
          bound
            ? 'this account is not active in Mandate'
            : 'this account is not bound to a registered human at this identity provider',
          bound?.id,
        )
      throw error
    }
    if (login?.groups_claim !== undefined && login.group_map !== undefined)
      await syncGroups(this.deps.registry, human.id, claims[login.groups_claim], login.group_map, {
        actor: { kind: 'system', id: `idp:${issuer.id}` },
        ...trace,
      })
    return { human, issuer, returnTo: tx.r }
  }

  /** The IdP's RP-initiated logout URL, where it offers one (OpenID Connect RP-Initiated Logout 1.0 §2). */
  async logoutUrl(issuerId: string, postLogoutRedirectUri: string): Promise<string | undefined> {
    try {
      const issuer = await this.loginIssuer(issuerId)
      const config = await this.configuration(issuer)
      if (!config.serverMetadata().end_session_endpoint) return undefined
      return oidc.buildEndSessionUrl(config, {
        client_id: config.clientMetadata().client_id,
        post_logout_redirect_uri: postLogoutRedirectUri,
      }).href
    } catch {
      // The session is ended here whatever the IdP does; logging out there is a courtesy.
      return undefined
    }
  }

  private openTransaction(sealed: string | undefined): Transaction {
    const refused = new LoginRefused(
      'bad_transaction',
      'the login expired or was started elsewhere; log in again',
    )
    if (!sealed) throw refused
    let tx: Transaction
    try {
      tx = JSON.parse(this.deps.masterKey.open(sealed, TRANSACTION_CONTEXT)) as Transaction
    } catch {
      throw refused
    }
    if (typeof tx.e !== 'number' || tx.e <= this.deps.now()) throw refused
    return tx
  }

  private async loginIssuer(id: string): Promise<Stored<TrustedIssuer>> {
    const issuer = await this.deps.registry.get('TrustedIssuer', id).catch(() => undefined)
    if (!issuer || issuer.type !== 'human_idp' || issuer.login === undefined)
      throw new LoginRefused('unknown_idp', 'no such identity provider')
    return issuer
  }

  // Discovery once per issuer version, refreshed every few minutes.
  private async configuration(issuer: Stored<TrustedIssuer>): Promise<oidc.Configuration> {
    const cached = this.configs.get(issuer.id)
    const now = this.deps.now()
    if (cached && cached.version === issuer.version && now - cached.at < DISCOVERY_MS) return cached.config
    const login = issuer.login
    if (!login) throw new LoginRefused('unknown_idp', 'no such identity provider')
    const context = loginSecretContext(issuer.id)
    let auth: oidc.ClientAuth
    if (login.client_auth === 'private_key_jwt') {
      const jwk = JSON.parse(this.deps.masterKey.open(String(login.private_jwk_sealed), context))
      const key = (await importJWK(jwk, jwk.alg)) as CryptoKey
      auth = oidc.PrivateKeyJwt({ key, kid: jwk.kid })
    } else {
      const secret = this.deps.masterKey.open(String(login.client_secret_sealed), context)
      auth =
        login.client_auth === 'client_secret_post'
          ? oidc.ClientSecretPost(secret)
          : oidc.ClientSecretBasic(secret)
    }
    const url = new URL(issuer.issuer)
    // Plain http only for an IdP on this machine (the development IdP on a loopback node).
    const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)
    let config: oidc.Configuration
    try {
      config = await oidc.discovery(url, login.client_id, undefined, auth, {
        execute: [
          ...(url.protocol === 'http:' && loopback ? [oidc.allowInsecureRequests] : []),
          // The ID token's signature is checked against the IdP's keys too, not only trusted for the TLS channel.
          oidc.enableNonRepudiationChecks,
        ],
        timeout: 10,
      })
    } catch (error) {
      throw new LoginRefused('idp_error', `the identity provider could not be reached: ${describe(error)}`)
    }
    this.configs.set(issuer.id, { version: issuer.version, at: now, config })
    return config
  }
}

function describe(error: unknown): string {
  const e = error as { code?: unknown; error?: unknown; message?: unknown }
  const text = typeof e.error === 'string' ? e.error : typeof e.code === 'string' ? e.code : String(e.message)
  return text.slice(0, 200)
}
