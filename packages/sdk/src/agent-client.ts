// The agent client: access tokens from a Mandate node for one agent or workload — client_credentials for its own
// actions, RFC 8693 token exchange for actions on a user's behalf — with private_key_jwt, federated or secret client
// authentication; DPoP (RFC 9449) proofs; calls to resource servers with the token attached; introspection and
// revocation of its tokens.

import { createHash, randomUUID } from 'node:crypto'
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'
import { agentOptionsFromEnv } from './agent-env.js'
import {
  type AuthorizationRequestOptions,
  codeFromRedirect,
  newPkce,
  newState,
  type PendingAuthorization,
} from './consent.js'
import {
  isJwk,
  type Jwk,
  type PrivateKeyInput,
  publicMembers,
  readPrivateKeyFile,
  type Signer,
  signerFor,
} from './keys.js'
import { type AuthorizationServerMetadata, checkIssuer, discoverMetadata } from './metadata.js'
import { MandateOAuthError } from './oauth-errors.js'
import {
  errorFrom,
  formEncode,
  invalidResponse,
  isHttpUrl,
  isObject,
  type JsonResponse,
  sendJson,
} from './oauth-http.js'
import { challengeError } from './www-authenticate.js'

/**
 * RFC 8693 §3 token type identifiers a Mandate node accepts as `subject_token_type`.
 * @example
 * await agent.exchange({ subjectToken: parentToken, subjectTokenType: SubjectTokenTypes.accessToken, resource, scope })
 */
export const SubjectTokenTypes = {
  /** A JWT from the company IdP (the default). */
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  /** An access token Mandate issued, e.g. the delegated token of a parent agent. */
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  /** An OpenID Connect ID token from the company IdP. */
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
} as const

/**
 * One of the {@link SubjectTokenTypes}.
 * @example
 * const type: SubjectTokenType = 'urn:ietf:params:oauth:token-type:access_token'
 */
export type SubjectTokenType = (typeof SubjectTokenTypes)[keyof typeof SubjectTokenTypes]

/**
 * RFC 7523 private_key_jwt: the client signs a short assertion with a key whose public half is registered on the agent
 * (a `jwks` or `jwks_uri` credential). No secret crosses the wire. The key is given either as `privateKey` (a
 * KeyObject, CryptoKey, private JWK, or PEM text) or as `privateKeyFile` (a PEM or JWK file, read once, when the
 * client is created).
 * @example
 * const inMemory: PrivateKeyJwtCredential = { type: 'private_key_jwt', privateKey: pemText, kid: 'k1' }
 * const fromFile: PrivateKeyJwtCredential = { type: 'private_key_jwt', privateKeyFile: '/run/secrets/agent.pem', kid: 'k1' }
 */
export type PrivateKeyJwtCredential = {
  type: 'private_key_jwt'
  /** Key id sent in the assertion header so the node picks the registered key. Default: the JWK's `kid`, if any. */
  kid?: string
  /**
   * JWS algorithm (asymmetric only). Default: the JWK's `alg`, else from the key: ES256/ES384/ES512 for P-256/P-384/
   * P-521, EdDSA for Ed25519, RS256 for RSA, PS256 for RSA-PSS (Web Crypto keys name their hash).
   */
  alg?: string
} & (
  | { /** The private key. */ privateKey: PrivateKeyInput; privateKeyFile?: never }
  | {
      /** Path of a file holding the private key as PEM or as a JWK in JSON. */ privateKeyFile: string
      privateKey?: never
    }
)

/**
 * Federated workload identity: a token the platform issues to the workload (a Kubernetes projected service-account
 * token, a GitHub Actions OIDC token, a SPIFFE JWT-SVID) proves the client, through its `federated` binding, with no
 * secret or key of its own. It is sent as the `client_assertion` (RFC 7523 §2.2) of every request rather than as the
 * jwt-bearer grant (§2.1), because a client assertion also authenticates token exchange and keeps one request shape for
 * every grant. `client_id` is sent too, so a token bound to several clients is unambiguous.
 * @example
 * const credential: FederatedCredential = {
 *   type: 'federated',
 *   token: () => readFile('/var/run/secrets/tokens/mandate-token', 'utf8'),
 * }
 */
export interface FederatedCredential {
  type: 'federated'
  /**
   * Returns the current platform token; called for every token request, so a rotated file is picked up. Its errors
   * reach the caller unchanged.
   */
  token: () => Promise<string> | string
}

/**
 * A client secret, sent with client_secret_basic (RFC 6749 §2.3.1). Legacy: prefer a key or federation.
 * @example
 * const credential: ClientSecretCredential = { type: 'client_secret', secret: process.env.MANDATE_CLIENT_SECRET ?? '' }
 */
export interface ClientSecretCredential {
  type: 'client_secret'
  /** The secret issued when the credential was registered. */
  secret: string
}

/**
 * How the agent proves who it is at the token, introspection and revocation endpoints.
 * @example
 * const credential: AgentCredential = { type: 'private_key_jwt', privateKey: jwk }
 */
export type AgentCredential = PrivateKeyJwtCredential | FederatedCredential | ClientSecretCredential

/**
 * A DPoP key the caller holds, e.g. to keep the key (and so its bound tokens) across restarts. The public key is
 * derived from the private one; give `publicJwk` only for a CryptoKey that cannot be exported.
 * @example
 * const dpop: DpopKeyPair = { privateKey: readFileSync('dpop-key.pem', 'utf8') }
 */
export interface DpopKeyPair {
  privateKey: PrivateKeyInput
  /** The public key; only its public members are ever sent. */
  publicJwk?: Jwk
}

/**
 * Options of an {@link AgentClient}.
 * @example
 * const options: AgentClientOptions = {
 *   issuer: 'http://127.0.0.1:7400',
 *   clientId: 'ticket-bot',
 *   credential: { type: 'private_key_jwt', privateKeyFile: '/run/secrets/ticket-bot.pem', kid: 'k1' },
 *   dpop: true,
 * }
 */
export interface AgentClientOptions {
  /** The node's issuer identifier (RFC 8414 §2), e.g. `https://mandate.example.com`. Metadata is discovered from it. */
  issuer: string
  /** The agent's or workload's id. */
  clientId: string
  credential: AgentCredential
  /**
   * RFC 9449 sender-constrained tokens. `true` generates an ES256 key pair held (unexportable) by this client; a key
   * pair uses that one. Every token request then carries a proof, and tokens are bound to the key. Default: off.
   */
  dpop?: boolean | DpopKeyPair
  /** Custom fetch, e.g. for tests, proxies or timeouts. Default: the global fetch. */
  fetch?: typeof fetch
  /**
   * The server's clock minus this machine's, in seconds, when known. Added to the local clock when dating assertions
   * and DPoP proofs, so a machine whose clock is off is not refused. Default 0.
   */
  clockSkewSeconds?: number
  /** A cached token is replaced once it has less than this many seconds left. Default 30. */
  refreshBeforeSeconds?: number
}

/**
 * An RFC 9396 authorization details entry: a `type` the resource server accepts, and its fields.
 * @example
 * const detail: AuthorizationDetail = { type: 'ticket_action', actions: ['close'], locations: ['https://tickets.example.com/'] }
 */
export interface AuthorizationDetail {
  type: string
  locations?: string[]
  actions?: string[]
  datatypes?: string[]
  identifier?: string
  privileges?: string[]
  [field: string]: unknown
}

/**
 * What `getToken` asks for: one resource (RFC 8707), the scopes and optionally authorization details.
 * @example
 * const request: GetTokenOptions = { resource: 'https://tickets.example.com/', scope: ['tickets:read'] }
 */
export interface GetTokenOptions {
  /** The resource server's audience. */
  resource: string
  /** Scopes, space-delimited or as a list. */
  scope: string | readonly string[]
  authorizationDetails?: readonly AuthorizationDetail[]
}

/**
 * What `exchange` asks for: the token of the party the agent acts for, and the one action's resource and scope.
 * @example
 * const request: ExchangeOptions = { subjectToken: idpToken, resource: 'https://tickets.example.com/', scope: 'tickets:read' }
 */
export interface ExchangeOptions {
  /** The human's token from the company IdP, or a Mandate token delegated to this agent's parent. */
  subjectToken: string
  /** Default `urn:ietf:params:oauth:token-type:jwt`; use `SubjectTokenTypes.accessToken` for a Mandate token. */
  subjectTokenType?: SubjectTokenType
  resource: string
  scope: string | readonly string[]
  authorizationDetails?: readonly AuthorizationDetail[]
}

/**
 * What `requestApproval` waits for: an `approval_required` error (or its `approvalId`) from an earlier token request,
 * or a new backchannel request (OpenID CIBA Core 1.0 §7.1) for one action: the resource, its scopes and/or RFC 9396
 * authorization details, and for a delegated agent the human it acts for (`loginHint`, their id or email).
 * @example
 * const request: RequestApprovalOptions = { resource: 'https://tickets.example.com/', scope: 'tickets:delete', bindingMessage: 'Delete ticket 42' }
 */
export type RequestApprovalOptions = (
  | {
      /** The `approval_required` error a token request ended with. */
      approval: MandateOAuthError
    }
  | {
      /** The `approval_id` of an `approval_required` error. */
      approvalId: string
    }
  | {
      resource: string
      scope?: string | readonly string[]
      authorizationDetails?: readonly AuthorizationDetail[]
      /** The human a delegated agent acts for (CIBA `login_hint`): their registry id or email. */
      loginHint?: string
      /** Short plain text the approver sees (CIBA `binding_message`), at most 100 characters on one line. */
      bindingMessage?: string
      /** Seconds the request may wait, at most what the node allows (CIBA `requested_expiry`). */
      requestedExpiry?: number
    }
) & {
  /** Stops waiting: the promise rejects with the signal's reason. */
  signal?: AbortSignal
  /** Told once the request is known to be waiting: its id, expiry and polling interval. */
  onPending?: (request: ApprovalRequestInfo) => void
}

/** A backchannel request waiting for its approver (CIBA §7.3). */
export interface ApprovalRequestInfo {
  /** `auth_req_id`: the approval's id. */
  authReqId: string
  /** Seconds until it expires, from when it was made. */
  expiresIn: number
  /** The least seconds between polls. */
  interval: number
}

/**
 * A DPoP proof request for a call to a resource server (RFC 9449 §7).
 * @example
 * const request: DpopProofOptions = { method: 'GET', url: 'https://tickets.example.com/tickets/42', accessToken }
 */
export interface DpopProofOptions {
  /** The HTTP method of the call. */
  method: string
  /** The URL of the call; query and fragment are left out of `htu`. */
  url: string
  /** The access token the call carries; the proof names it in `ath`. */
  accessToken: string
  /** A nonce the resource server asked for in its `DPoP-Nonce` header, if any (RFC 9449 §9). */
  nonce?: string
}

/**
 * An issued access token.
 * @example
 * const { accessToken, tokenType } = await agent.getToken({ resource, scope: 'tickets:read' })
 * await fetch(url, { headers: { authorization: `${tokenType} ${accessToken}` } })
 */
export interface AccessToken {
  /** The token; send it as `Authorization: <tokenType> <accessToken>`. */
  readonly accessToken: string
  /** `DPoP` when bound to this client's DPoP key (send a `dpopProof` with it), else `Bearer`. */
  readonly tokenType: 'Bearer' | 'DPoP'
  /** When it expires, in epoch milliseconds by this machine's clock (counted from when it was requested). */
  readonly expiresAt: number
  /** The granted scopes, space-delimited. */
  readonly scope: string
  readonly authorizationDetails?: readonly AuthorizationDetail[]
  /** Token exchange only: the type of the issued token (RFC 8693 §2.2.1). */
  readonly issuedTokenType?: string
  /**
   * Authorization code and refresh grants only: the refresh token (OAuth 2.1 §4.3). It is rotated on every use: keep
   * the newest and forget the one used; presenting a used one again revokes every token of the consent.
   */
  readonly refreshToken?: string
  /** A delegated token's mandate (its `mandate_id` claim): the human's grant it is issued under. */
  readonly mandateId?: string
}

/**
 * What the node says about a token (RFC 7662 §2.2), as it says it: `{ active: false }` for a token that is expired,
 * revoked, unknown or not the caller's business; for an active one, its claims.
 * @example
 * const info = await agent.introspect(token)
 * if (info.active) console.log(info.sub, info.scope, info.exp)
 */
export type TokenIntrospection =
  | { active: false }
  | {
      active: true
      scope?: string
      client_id?: string
      sub?: string
      aud?: string | string[]
      iss?: string
      exp?: number
      iat?: number
      jti?: string
      /** `DPoP` or `Bearer`. */
      token_type?: string
      /** RFC 8693 §4.1: who acts, outermost first. */
      act?: { sub: string; act?: unknown }
      /** RFC 9449 §6 `jkt` or RFC 8705 §3.1 `x5t#S256`: the key the token is bound to. */
      cnf?: { jkt?: string; 'x5t#S256'?: string }
      authorization_details?: AuthorizationDetail[]
      [member: string]: unknown
    }

/**
 * The options of `agent.fetch`: a fetch `RequestInit` (without `Authorization` and `DPoP` headers, which the client
 * sets) and `token`: what to ask the node for (`{ resource, scope }`, as for `getToken`; cached, refreshed once on
 * `invalid_token`) or a token already obtained, e.g. from `exchange` (used as is).
 * @example
 * const init: AgentFetchInit = {
 *   method: 'POST',
 *   body: JSON.stringify({ status: 'closed' }),
 *   headers: { 'content-type': 'application/json' },
 *   token: { resource: 'https://tickets.example.com/', scope: 'tickets:write' },
 * }
 */
export interface AgentFetchInit extends RequestInit {
  token: GetTokenOptions | AccessToken
}

const CLIENT_CREDENTIALS = 'client_credentials'
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const CIBA = 'urn:openid:params:grant-type:ciba'
// CIBA §7.3: a client with no interval from the node polls every 5 s; §11: slow_down adds 5 s for good.
const DEFAULT_INTERVAL_SECONDS = 5
const SLOW_DOWN_SECONDS = 5
const AUTHORIZATION_CODE = 'authorization_code'
const REFRESH_TOKEN = 'refresh_token'
const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
// RFC 7523 §3: short-lived; the node remembers each jti until exp, so a short life keeps its replay cache small.
const ASSERTION_LIFETIME_SECONDS = 60
// Fetch normalizes these methods to upper case (and no others), so a proof must name them the same way.
const NORMALIZED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'])
const TOKEN_TYPES: Record<string, 'Bearer' | 'DPoP'> = { bearer: 'Bearer', dpop: 'DPoP' }
// RFC 9449 §9: each resource server has its own nonces; an agent talks to a handful, so a small bound is plenty.
const MAX_RESOURCE_NONCES = 100

interface Metadata {
  issuer: string
  tokenEndpoint: string
  introspectionEndpoint: string | undefined
  revocationEndpoint: string | undefined
  backchannelEndpoint: string | undefined
  authorizationEndpoint: string | undefined
  parEndpoint: string | undefined
}

interface DpopKey {
  alg: string
  privateKey: Awaited<ReturnType<Signer['key']>>
  publicJwk: Jwk
}

interface ClientAuthentication {
  params: Record<string, string>
  headers: Record<string, string>
  /** Values that must never appear in an error. */
  sensitive: string[]
}

/**
 * Gets access tokens from a Mandate node for one agent or workload. Autonomous actions use `getToken`
 * (client_credentials; tokens are cached and shared per resource, scope and details); actions on a user's behalf use
 * `exchange` (RFC 8693; not cached, a delegated token is for one action). `fetch` calls a resource server with a
 * token and its DPoP proof attached. Every failure to get a token is a {@link MandateOAuthError} with a stable code;
 * invalid options are a `TypeError` from the constructor.
 * @example
 * const agent = new AgentClient({
 *   issuer: 'http://127.0.0.1:7400',
 *   clientId: 'ticket-bot',
 *   credential: { type: 'private_key_jwt', privateKeyFile: '/run/secrets/ticket-bot.pem', kid: 'k1' },
 *   dpop: true,
 * })
 * const response = await agent.fetch('https://tickets.example.com/tickets/42', {
 *   token: { resource: 'https://tickets.example.com/', scope: 'tickets:read' },
 * })
 */
export class AgentClient {
  /** The issuer as given. */
  readonly issuer: string
  /** The agent's or workload's id. */
  readonly clientId: string
  readonly #credential: AgentCredential
  readonly #signer: Signer | undefined
  readonly #kid: string | undefined
  readonly #fetch: typeof fetch
  readonly #skewMs: number
  readonly #refreshBeforeMs: number
  readonly #dpopKey: (() => Promise<DpopKey>) | undefined
  #dpopNonce: string | undefined
  readonly #resourceNonces = new Map<string, string>()
  #metadata: Promise<Metadata> | undefined
  readonly #tokens = new Map<string, AccessToken>()
  readonly #pending = new Map<string, Promise<AccessToken>>()
  // Bumped by invalidate(): a token requested before it is returned to its caller but not cached.
  #generation = 0

  constructor(options: AgentClientOptions) {
    if (!isObject(options)) throw new TypeError('options are required')
    this.issuer = checkIssuer(options.issuer, 'issuer')
    if (typeof options.clientId !== 'string' || options.clientId.length === 0)
      throw new TypeError('clientId must be a non-empty string')
    this.clientId = options.clientId
    this.#credential = checkCredential(options.credential)
    if (this.#credential.type === 'private_key_jwt') {
      const credential = this.#credential
      const key =
        credential.privateKeyFile !== undefined
          ? readPrivateKeyFile(credential.privateKeyFile, 'credential.privateKeyFile')
          : credential.privateKey
      if (key === undefined)
        throw new TypeError('credential.privateKey or credential.privateKeyFile is required')
      const name =
        credential.privateKeyFile !== undefined ? 'credential.privateKeyFile' : 'credential.privateKey'
      this.#signer = signerFor(key, credential.alg, name)
      this.#kid = credential.kid ?? (isJwk(key) && typeof key.kid === 'string' ? key.kid : undefined)
    }
    // Called unbound: some runtimes' fetch refuses any `this` but the global one.
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
    this.#skewMs = seconds(options.clockSkewSeconds, 0, 'clockSkewSeconds', false) * 1000
    this.#refreshBeforeMs = seconds(options.refreshBeforeSeconds, 30, 'refreshBeforeSeconds', true) * 1000
    this.#dpopKey = dpopKeySource(options.dpop)
  }

  /**
   * A client configured from environment variables (`process.env` unless `env` is given):
   *
   * | variable | |
   * |---|---|
   * | `MANDATE_URL` | required: the node's issuer URL |
   * | `MANDATE_CLIENT_ID` | required: the agent's or workload's id |
   * | `MANDATE_PRIVATE_KEY` | private_key_jwt: the private key, PEM or a JWK in JSON |
   * | `MANDATE_PRIVATE_KEY_FILE` | private_key_jwt: a file holding it |
   * | `MANDATE_KEY_ID` | the `kid` of the registered key (optional) |
   * | `MANDATE_KEY_ALG` | its JWS algorithm, when the key does not tell (optional) |
   * | `MANDATE_FEDERATED_TOKEN_FILE` | federated: the platform token file, read for every request |
   * | `MANDATE_CLIENT_SECRET` | legacy client secret |
   * | `MANDATE_DPOP` | `true` for DPoP-bound tokens (default `false`) |
   *
   * Exactly one credential variable must be set. `options` adds what the environment cannot hold (`fetch`) or
   * overrides it. A missing or invalid variable is a TypeError naming it (never its value).
   * @example
   * // MANDATE_URL=https://mandate.example.com MANDATE_CLIENT_ID=ticket-bot MANDATE_PRIVATE_KEY_FILE=/run/secrets/key.pem
   * const agent = AgentClient.fromEnv()
   */
  static fromEnv(
    env: Readonly<Record<string, string | undefined>> = process.env,
    options: Partial<AgentClientOptions> = {},
  ): AgentClient {
    return new AgentClient({ ...agentOptionsFromEnv(env), ...options })
  }

  /**
   * An access token for the agent's own action (client_credentials, RFC 6749 §4.4) on one resource. Returns the cached
   * token for the same resource, scopes and authorization details until `refreshBeforeSeconds` before it expires;
   * concurrent calls for the same token share one request.
   * @example
   * const { accessToken } = await agent.getToken({ resource: 'https://tickets.example.com/', scope: 'tickets:read' })
   */
  async getToken(options: GetTokenOptions): Promise<AccessToken> {
    const target = targetParams(options)
    const key = JSON.stringify([target.resource, [...target.scopes].sort(), target.detailsKey])
    const cached = this.#tokens.get(key)
    if (cached && this.#fresh(cached)) return cached
    const pending = this.#pending.get(key)
    if (pending) return pending
    const generation = this.#generation
    const request: Promise<AccessToken> = this.#requestToken(
      { grant_type: CLIENT_CREDENTIALS, ...target.params },
      [],
      target.scope,
    )
      .then((token) => {
        if (generation === this.#generation) this.#store(key, token)
        return token
      })
      .finally(() => {
        if (this.#pending.get(key) === request) this.#pending.delete(key)
      })
    this.#pending.set(key, request)
    return request
  }

  /**
   * A delegated access token for one action on someone's behalf (RFC 8693 token exchange): `sub` is the human, `act`
   * names this agent. Not cached: ask again for the next action.
   * @example
   * const token = await agent.exchange({
   *   subjectToken: idpAccessToken,
   *   resource: 'https://tickets.example.com/',
   *   scope: 'tickets:write',
   * })
   */
  async exchange(options: ExchangeOptions): Promise<AccessToken> {
    if (typeof options.subjectToken !== 'string' || options.subjectToken.length === 0)
      throw new TypeError('subjectToken must be a non-empty string')
    const target = targetParams(options)
    return this.#requestToken(
      {
        grant_type: TOKEN_EXCHANGE,
        subject_token: options.subjectToken,
        subject_token_type: options.subjectTokenType ?? SubjectTokenTypes.jwt,
        ...target.params,
      },
      [options.subjectToken],
      target.scope,
    )
  }

  /**
   * Waits for a human's approval of one action and returns the token it yields (OpenID CIBA Core 1.0, poll mode).
   * Either starts a backchannel request for the action, or waits for the approval an `approval_required` error names.
   * Polls the token endpoint no sooner than the node's `interval` (5 s when it names none), waiting one interval
   * before the first poll; `slow_down` adds 5 s to the interval for good. Resolves with a token for exactly the
   * approved action, valid for it alone and issued once; rejects with MandateOAuthError `access_denied` (denied),
   * `expired_token` (nobody decided in time) or whatever else the node answers. The token is not cached.
   * @example
   * try {
   *   await agent.getToken({ resource, scope: 'tickets:delete' })
   * } catch (e) {
   *   if (!(e instanceof MandateOAuthError && e.code === 'approval_required')) throw e
   *   const token = await agent.requestApproval({ approval: e })
   * }
   * @example
   * const token = await agent.requestApproval({ resource, scope: 'tickets:delete', bindingMessage: 'Delete ticket 42' })
   */
  async requestApproval(options: RequestApprovalOptions): Promise<AccessToken> {
    if (!isObject(options)) throw new TypeError('options are required')
    const request = await this.#approvalRequest(options)
    options.onPending?.(request)
    const signal = options.signal
    let interval = request.interval
    const deadline = Date.now() + request.expiresIn * 1000
    for (;;) {
      await sleep(interval * 1000, signal)
      try {
        return await this.#requestToken(
          { grant_type: CIBA, auth_req_id: request.authReqId },
          [request.authReqId],
          '',
        )
      } catch (error) {
        if (!(error instanceof MandateOAuthError)) throw error
        if (error.code === 'slow_down') interval = Math.max(interval + SLOW_DOWN_SECONDS, error.interval ?? 0)
        else if (error.code !== 'authorization_pending') throw error
        // The node says expired_token once the request lapses; a node that keeps saying pending is not believed.
        if (Date.now() > deadline + interval * 1000)
          throw new MandateOAuthError('expired_token', 'the approval request expired while pending', 0)
      }
    }
  }

  // The approval to wait for: named by an earlier error, or a new backchannel request (CIBA §7.1, §7.3).
  async #approvalRequest(options: RequestApprovalOptions): Promise<ApprovalRequestInfo> {
    if ('approval' in options || 'approvalId' in options) {
      const error = 'approval' in options ? options.approval : undefined
      if (error !== undefined && !(error instanceof MandateOAuthError && error.code === 'approval_required'))
        throw new TypeError('approval must be an approval_required MandateOAuthError')
      const id = error ? error.approvalId : 'approvalId' in options ? options.approvalId : undefined
      if (typeof id !== 'string' || id.length === 0)
        throw new TypeError('approvalId must be a non-empty string')
      return {
        authReqId: id,
        expiresIn: error?.expiresIn ?? Number.POSITIVE_INFINITY,
        interval: error?.interval ?? DEFAULT_INTERVAL_SECONDS,
      }
    }
    const target = targetParams({ scope: [], ...options })
    if (
      options.loginHint !== undefined &&
      (typeof options.loginHint !== 'string' || options.loginHint.length === 0)
    )
      throw new TypeError('loginHint must be a non-empty string')
    if (options.bindingMessage !== undefined && typeof options.bindingMessage !== 'string')
      throw new TypeError('bindingMessage must be a string')
    const expiry = options.requestedExpiry
    if (expiry !== undefined && !(Number.isInteger(expiry) && expiry > 0))
      throw new TypeError('requestedExpiry must be a positive whole number of seconds')
    const metadata = await this.#discover()
    if (!metadata.backchannelEndpoint)
      throw invalidResponse(
        `the metadata of ${metadata.issuer} has no backchannel_authentication_endpoint`,
        200,
      )
    const { response, redact } = await this.#postAuthenticated(
      metadata,
      metadata.backchannelEndpoint,
      {
        ...target.params,
        ...(options.loginHint === undefined ? {} : { login_hint: options.loginHint }),
        ...(options.bindingMessage === undefined ? {} : { binding_message: options.bindingMessage }),
        ...(expiry === undefined ? {} : { requested_expiry: String(expiry) }),
      },
      [],
    )
    if (response.status !== 200) throw errorFrom(response, redact)
    const body = response.json
    if (!isObject(body))
      throw invalidResponse('the backchannel response is not a JSON object', response.status)
    const { auth_req_id, expires_in, interval } = body
    if (typeof auth_req_id !== 'string' || auth_req_id.length === 0)
      throw invalidResponse('the backchannel response has no auth_req_id', response.status)
    if (typeof expires_in !== 'number' || !(expires_in > 0))
      throw invalidResponse('the backchannel response has no valid expires_in', response.status)
    if (interval !== undefined && (typeof interval !== 'number' || !(interval > 0)))
      throw invalidResponse('the backchannel response has an invalid interval', response.status)
    return { authReqId: auth_req_id, expiresIn: expires_in, interval: interval ?? DEFAULT_INTERVAL_SECONDS }
  }

  /**
   * Starts a consent (OAuth 2.1 §4.1 with PAR, RFC 9126): pushes the authorization request, authenticated as at the
   * token endpoint, with a fresh PKCE S256 challenge and state, and answers the URL to send the human to. Keep the
   * answer (server-side, for this human) for `redeemAuthorization`.
   * @example
   * const pending = await agent.authorizationUrl({
   *   redirectUri: 'https://agent.example.com/callback',
   *   resource: 'https://tickets.example.com/',
   *   scope: 'tickets:read',
   *   maxCalls: 20,
   * })
   * response.redirect(pending.url)
   */
  async authorizationUrl(options: AuthorizationRequestOptions): Promise<PendingAuthorization> {
    if (!isObject(options) || typeof options.redirectUri !== 'string')
      throw new TypeError('redirectUri must be a string')
    const target = targetParams(options)
    const metadata = await this.#discover()
    if (!metadata.authorizationEndpoint || !metadata.parEndpoint)
      throw invalidResponse(`${metadata.issuer} has no authorization endpoint with PAR`, 200)
    const pkce = newPkce()
    const state = newState()
    const params: Record<string, string> = {
      response_type: 'code',
      client_id: this.clientId,
      redirect_uri: options.redirectUri,
      state,
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
      ...target.params,
    }
    for (const [name, value] of [
      ['duration', options.durationSeconds],
      ['max_calls', options.maxCalls],
    ] as const) {
      if (value === undefined) continue
      if (!Number.isInteger(value) || value < 1) throw new TypeError(`${name} must be a positive integer`)
      params[name] = String(value)
    }
    const requestedAt = Date.now()
    const { response, redact } = await this.#postAuthenticated(metadata, metadata.parEndpoint, params, [])
    if (response.status !== 201) throw errorFrom(response, redact)
    const body = response.json
    const requestUri = isObject(body) ? body.request_uri : undefined
    const expiresIn = isObject(body) ? body.expires_in : undefined
    if (typeof requestUri !== 'string' || typeof expiresIn !== 'number')
      throw invalidResponse('the PAR response has no request_uri and expires_in', response.status)
    const url = new URL(metadata.authorizationEndpoint)
    url.searchParams.set('client_id', this.clientId)
    url.searchParams.set('request_uri', requestUri)
    return Object.freeze({
      url: url.toString(),
      issuer: metadata.issuer,
      redirectUri: options.redirectUri,
      state,
      codeVerifier: pkce.verifier,
      expiresAt: requestedAt + expiresIn * 1000,
    })
  }

  /**
   * Finishes a consent: checks the redirect (RFC 9207 `iss`, then `state`; a denial is MandateOAuthError
   * `access_denied`) and redeems the code with the PKCE verifier. Answers a delegated token (`sub` the human, `act`
   * this agent) with its `refreshToken` and `mandateId`.
   * @example
   * const token = await agent.redeemAuthorization(request.url, pending)
   * store(token.refreshToken)
   */
  async redeemAuthorization(callback: string | URL, pending: PendingAuthorization): Promise<AccessToken> {
    const code = codeFromRedirect(callback, pending)
    return this.#requestToken(
      {
        grant_type: AUTHORIZATION_CODE,
        code,
        code_verifier: pending.codeVerifier,
        redirect_uri: pending.redirectUri,
      },
      [code, pending.codeVerifier],
      '',
    )
  }

  /**
   * A new delegated token from a refresh token (OAuth 2.1 §4.3). The refresh token is rotated: the answer carries the
   * new one, which replaces the one given (that one is spent; presenting it again revokes the consent's tokens). A
   * `scope` narrower than the consent's may be asked for this access token.
   * @example
   * const next = await agent.refresh(stored)
   * store(next.refreshToken)
   */
  async refresh(
    refreshToken: string,
    options: { scope?: string | readonly string[] } = {},
  ): Promise<AccessToken> {
    if (typeof refreshToken !== 'string' || refreshToken.length === 0)
      throw new TypeError('refreshToken must be a non-empty string')
    const scope = options.scope === undefined ? undefined : normalizeScope(options.scope).join(' ')
    return this.#requestToken(
      { grant_type: REFRESH_TOKEN, refresh_token: refreshToken, ...(scope ? { scope } : {}) },
      [refreshToken],
      scope ?? '',
    )
  }

  /**
   * Calls a resource server with a token: `Authorization: <tokenType> <token>` and, for a DPoP-bound token, a fresh
   * `DPoP` proof. When the server asks for a DPoP nonce (401 `use_dpop_nonce` with `DPoP-Nonce`, RFC 9449 §9) the call
   * is sent once more with it, and the nonce is kept for that server's next calls; when it answers 401 `invalid_token`
   * (RFC 6750 §3.1: expired or revoked) a token from `getToken` is dropped from the cache and the call is sent once
   * more with a new one. A body that is a stream cannot be sent twice, so such a call is never retried. Any other
   * answer is returned as it is, whatever its status. The URL must be on the token's resource (same origin) when the
   * resource is an http(s) URL, so a token never travels to a server it is not for. Token failures are
   * MandateOAuthError; the call's own failures are fetch's.
   * @example
   * const response = await agent.fetch('https://tickets.example.com/tickets/42', {
   *   method: 'DELETE',
   *   token: { resource: 'https://tickets.example.com/', scope: 'tickets:delete' },
   * })
   */
  async fetch(url: string | URL, init: AgentFetchInit): Promise<Response> {
    if (!isObject(init) || typeof init.token !== 'object' || init.token === null)
      throw new TypeError('init.token is required: { resource, scope } or a token from getToken or exchange')
    const { token: wanted, ...requestInit } = init
    const target = String(url)
    if (!isHttpUrl(target)) throw new TypeError('url must be an http(s) URL')
    const headers = new Headers(requestInit.headers)
    if (headers.has('authorization') || headers.has('dpop'))
      throw new TypeError('init.headers must not set Authorization or DPoP: agent.fetch sets them')
    const managed = !('accessToken' in wanted)
    if (managed) checkOnResource(wanted.resource, target)
    const method = requestInit.method ?? 'GET'
    const origin = new URL(target).origin
    const resendable = !(requestInit.body instanceof ReadableStream)
    let token = managed ? await this.getToken(wanted) : checkAccessToken(wanted)
    let nonceRetried = false
    let refreshed = false
    for (;;) {
      const attempt = new Headers(headers)
      attempt.set('authorization', `${token.tokenType} ${token.accessToken}`)
      if (token.tokenType === 'DPoP') {
        const nonce = this.#resourceNonces.get(origin)
        attempt.set(
          'dpop',
          await this.dpopProof({
            method,
            url: target,
            accessToken: token.accessToken,
            ...(nonce ? { nonce } : {}),
          }),
        )
      }
      const response = await this.#fetch(target, { ...requestInit, headers: attempt })
      const nonce = response.headers.get('dpop-nonce')
      if (nonce && token.tokenType === 'DPoP') this.#rememberResourceNonce(origin, nonce)
      if (response.status !== 401 || !resendable) return response
      const error = challengeError(response.headers.get('www-authenticate'))
      if (error === 'use_dpop_nonce' && token.tokenType === 'DPoP' && nonce && !nonceRetried) {
        nonceRetried = true
      } else if (error === 'invalid_token' && managed && !refreshed) {
        refreshed = true
        this.invalidate(token)
        token = await this.getToken(wanted)
      } else {
        return response
      }
      // The refused answer is not returned: release its connection before the next attempt.
      await response.body?.cancel()
    }
  }

  /**
   * Drops cached tokens, so the next `getToken` asks the node again: every cached token (and any request in flight,
   * whose token is then returned to its caller but not cached), or only `token`. For a token revoked elsewhere (by
   * an administrator, `mandate revoke`) or refused by a resource server.
   * @example
   * agent.invalidate() // after the agent's tokens were revoked
   */
  invalidate(token?: string | AccessToken): void {
    if (token === undefined) {
      this.#tokens.clear()
      this.#pending.clear()
      this.#generation++
      return
    }
    const value = tokenValue(token)
    for (const [key, cached] of this.#tokens) if (cached.accessToken === value) this.#tokens.delete(key)
  }

  /**
   * Revokes a token at the node (RFC 7009), authenticated as this client, and drops it from the cache first. The node
   * answers success for a token it does not know or that is not this client's, as §2.2 asks, so success does not say
   * the token was active. Failures are MandateOAuthError.
   * @example
   * await agent.revoke(token) // done with it: no one can use it any more
   */
  async revoke(token: string | AccessToken): Promise<void> {
    const value = tokenValue(token)
    this.invalidate(value)
    const metadata = await this.#discover()
    if (!metadata.revocationEndpoint) throw invalidResponse('the node advertises no revocation_endpoint', 200)
    const { response, redact } = await this.#postAuthenticated(
      metadata,
      metadata.revocationEndpoint,
      { token: value, token_type_hint: 'access_token' },
      [value],
    )
    if (response.status !== 200) throw errorFrom(response, redact)
  }

  /**
   * Asks the node whether a token is active and what it carries (RFC 7662), authenticated as this client. Failures
   * are MandateOAuthError; an inactive token is not a failure but `{ active: false }`.
   * @example
   * const info = await agent.introspect(token)
   * if (!info.active) agent.invalidate(token)
   */
  async introspect(token: string | AccessToken): Promise<TokenIntrospection> {
    const value = tokenValue(token)
    const metadata = await this.#discover()
    if (!metadata.introspectionEndpoint)
      throw invalidResponse('the node advertises no introspection_endpoint', 200)
    const { response, redact } = await this.#postAuthenticated(
      metadata,
      metadata.introspectionEndpoint,
      { token: value, token_type_hint: 'access_token' },
      [value],
    )
    if (response.status !== 200) throw errorFrom(response, redact)
    const body = response.json
    if (!isObject(body) || typeof body.active !== 'boolean')
      throw invalidResponse('the introspection response has no boolean active member', response.status)
    if (!body.active) return { active: false }
    return { ...body, active: true }
  }

  /**
   * A DPoP proof (RFC 9449 §4.2, §7.1) for calling a resource server with a DPoP-bound token: send it as the `DPoP`
   * header, with `Authorization: DPoP <token>`. A proof is for one request. Throws a TypeError when DPoP is off.
   * @example
   * const proof = await agent.dpopProof({ method: 'POST', url: 'https://tickets.example.com/tickets', accessToken })
   */
  async dpopProof(options: DpopProofOptions): Promise<string> {
    if (typeof options.accessToken !== 'string' || options.accessToken.length === 0)
      throw new TypeError('accessToken must be a non-empty string')
    return this.#proof(options.method, options.url, {
      ath: createHash('sha256').update(options.accessToken).digest('base64url'),
      ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
    })
  }

  /**
   * The RFC 7638 thumbprint of the DPoP public key: the `cnf.jkt` of every token bound to it. Throws a TypeError when
   * DPoP is off.
   * @example
   * const jkt = await agent.thumbprint() // compare with the token's cnf.jkt
   */
  async thumbprint(): Promise<string> {
    const key = await this.#requireDpop()
    return calculateJwkThumbprint(key.publicJwk as JWK, 'sha256')
  }

  #fresh(token: AccessToken): boolean {
    return Date.now() < token.expiresAt - this.#refreshBeforeMs
  }

  #store(key: string, token: AccessToken): void {
    for (const [other, cached] of this.#tokens) if (Date.now() >= cached.expiresAt) this.#tokens.delete(other)
    this.#tokens.set(key, token)
  }

  #rememberResourceNonce(origin: string, nonce: string): void {
    this.#resourceNonces.delete(origin)
    this.#resourceNonces.set(origin, nonce)
    if (this.#resourceNonces.size > MAX_RESOURCE_NONCES) {
      const oldest = this.#resourceNonces.keys().next().value
      if (oldest !== undefined) this.#resourceNonces.delete(oldest)
    }
  }

  #requireDpop(): Promise<DpopKey> {
    if (!this.#dpopKey) throw new TypeError('DPoP is not enabled for this client: pass dpop in the options')
    return this.#dpopKey()
  }

  #nowSeconds(): number {
    return Math.floor((Date.now() + this.#skewMs) / 1000)
  }

  // One token request; when the node asks for a DPoP nonce (RFC 9449 §8), one retry with it. Each attempt is
  // authenticated afresh: the node has already consumed the first assertion's jti.
  async #requestToken(
    grant: Record<string, string>,
    sensitive: string[],
    requestedScope: string,
  ): Promise<AccessToken> {
    const metadata = await this.#discover()
    for (let attempt = 1; ; attempt++) {
      const requestedAt = Date.now()
      const dpop = this.#dpopKey
        ? await this.#proof('POST', metadata.tokenEndpoint, {
            ...(this.#dpopNonce === undefined ? {} : { nonce: this.#dpopNonce }),
          })
        : undefined
      const { response, redact } = await this.#postAuthenticated(
        metadata,
        metadata.tokenEndpoint,
        grant,
        sensitive,
        dpop === undefined ? {} : { dpop },
      )
      const nonce = response.headers.get('dpop-nonce')
      if (this.#dpopKey && nonce) this.#dpopNonce = nonce
      if (response.status >= 200 && response.status < 300)
        return this.#tokenFrom(response, requestedAt, requestedScope)
      const error = errorFrom(response, redact)
      if (error.code === 'use_dpop_nonce' && this.#dpopKey && nonce && attempt === 1) continue
      throw error
    }
  }

  // A form POST to one of the node's endpoints, with this client's authentication.
  async #postAuthenticated(
    metadata: Metadata,
    url: string,
    params: Record<string, string>,
    sensitive: readonly string[],
    headers: Record<string, string> = {},
  ): Promise<{ response: JsonResponse; redact: string[] }> {
    const auth = await this.#authenticate(metadata)
    const response = await sendJson(this.#fetch, url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        ...headers,
        ...auth.headers,
      },
      body: new URLSearchParams({ ...params, ...auth.params }).toString(),
    })
    return { response, redact: [...sensitive, ...auth.sensitive] }
  }

  #tokenFrom(response: JsonResponse, requestedAt: number, requestedScope: string): AccessToken {
    const body = response.json
    if (!isObject(body)) throw invalidResponse('the token response is not a JSON object', response.status)
    const {
      access_token,
      token_type,
      expires_in,
      scope,
      authorization_details,
      issued_token_type,
      refresh_token,
    } = body
    if (typeof access_token !== 'string' || access_token.length === 0)
      throw invalidResponse('the token response has no access_token', response.status)
    // RFC 6749 §7.1: the token type is case-insensitive.
    const tokenType = typeof token_type === 'string' ? TOKEN_TYPES[token_type.toLowerCase()] : undefined
    if (!tokenType) throw invalidResponse('the token response has no known token_type', response.status)
    // RFC 9449 §5: a client that asked for a bound token must not silently get a bearer token (or the reverse).
    if ((tokenType === 'DPoP') !== (this.#dpopKey !== undefined))
      throw invalidResponse(
        this.#dpopKey
          ? 'the node issued a Bearer token although DPoP was used'
          : 'the node issued a DPoP token without DPoP',
        response.status,
      )
    if (typeof expires_in !== 'number' || !Number.isFinite(expires_in) || expires_in <= 0)
      throw invalidResponse('the token response has no valid expires_in', response.status)
    if (authorization_details !== undefined && !Array.isArray(authorization_details))
      throw invalidResponse('the token response has malformed authorization_details', response.status)
    return Object.freeze({
      accessToken: access_token,
      tokenType,
      expiresAt: requestedAt + expires_in * 1000,
      // RFC 6749 §5.1: scope is omitted when it is exactly the requested scope.
      scope: typeof scope === 'string' ? scope : requestedScope,
      ...(authorization_details === undefined
        ? {}
        : { authorizationDetails: authorization_details as AuthorizationDetail[] }),
      ...(typeof issued_token_type === 'string' ? { issuedTokenType: issued_token_type } : {}),
      ...(typeof refresh_token === 'string' && refresh_token.length > 0
        ? { refreshToken: refresh_token }
        : {}),
      ...mandateOf(access_token),
    })
  }

  async #authenticate(metadata: Metadata): Promise<ClientAuthentication> {
    const credential = this.#credential
    switch (credential.type) {
      case 'private_key_jwt': {
        const assertion = await this.#assertion(metadata)
        return {
          params: {
            client_id: this.clientId,
            client_assertion_type: JWT_BEARER_ASSERTION,
            client_assertion: assertion,
          },
          headers: {},
          sensitive: [assertion],
        }
      }
      case 'federated': {
        const token = await credential.token()
        if (typeof token !== 'string' || token.trim().length === 0)
          throw new TypeError('the federated token provider returned no token')
        const assertion = token.trim()
        return {
          params: {
            client_id: this.clientId,
            client_assertion_type: JWT_BEARER_ASSERTION,
            client_assertion: assertion,
          },
          headers: {},
          sensitive: [assertion],
        }
      }
      case 'client_secret': {
        // RFC 6749 §2.3.1: id and secret are form-encoded before the Basic encoding.
        const basic = Buffer.from(`${formEncode(this.clientId)}:${formEncode(credential.secret)}`).toString(
          'base64',
        )
        return {
          params: {},
          headers: { authorization: `Basic ${basic}` },
          sensitive: [credential.secret, basic],
        }
      }
    }
  }

  // RFC 7523 §3: iss = sub = the client, aud = the issuer, a fresh jti, a short exp.
  async #assertion(metadata: Metadata): Promise<string> {
    const signer = this.#signer
    if (!signer) throw new TypeError('no signing key')
    const now = this.#nowSeconds()
    return new SignJWT({
      iss: this.clientId,
      sub: this.clientId,
      aud: metadata.issuer,
      jti: randomUUID(),
      iat: now,
      exp: now + ASSERTION_LIFETIME_SECONDS,
    })
      .setProtectedHeader({ alg: signer.alg, ...(this.#kid === undefined ? {} : { kid: this.#kid }) })
      .sign(await signer.key())
  }

  // RFC 9449 §4.2: typ dpop+jwt, the public jwk, htm, htu without query and fragment, iat, a fresh jti.
  async #proof(method: string, url: string, claims: { ath?: string; nonce?: string }): Promise<string> {
    const key = await this.#requireDpop()
    const upper = method.toUpperCase()
    return new SignJWT({
      jti: randomUUID(),
      htm: NORMALIZED_METHODS.has(upper) ? upper : method,
      htu: htuOf(url),
      iat: this.#nowSeconds(),
      ...claims,
    })
      .setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.publicJwk as JWK })
      .sign(key.privateKey)
  }

  // RFC 8414 §3: discovered once; a failed discovery is forgotten so the next call tries again.
  #discover(): Promise<Metadata> {
    if (!this.#metadata) {
      const discovery = discoverMetadata(this.issuer, this.#fetch).then(checkTokenEndpoint)
      this.#metadata = discovery
      discovery.catch(() => {
        if (this.#metadata === discovery) this.#metadata = undefined
      })
    }
    return this.#metadata
  }
}

// The `mandate_id` claim of a JWT access token, read without verification (the client only reports it).
function mandateOf(token: string): { mandateId?: string } {
  try {
    const id = decodeJwt(token).mandate_id
    return typeof id === 'string' ? { mandateId: id } : {}
  } catch {
    return {}
  }
}

function checkTokenEndpoint(metadata: AuthorizationServerMetadata): Metadata {
  if (!metadata.tokenEndpoint)
    throw invalidResponse(`the metadata of ${metadata.issuer} has no token_endpoint`, 200)
  return {
    issuer: metadata.issuer,
    tokenEndpoint: metadata.tokenEndpoint,
    introspectionEndpoint: metadata.introspectionEndpoint,
    revocationEndpoint: metadata.revocationEndpoint,
    backchannelEndpoint: metadata.backchannelAuthenticationEndpoint,
    authorizationEndpoint: metadata.authorizationEndpoint,
    parEndpoint: metadata.pushedAuthorizationRequestEndpoint,
  }
}

// Waits, or rejects with the signal's reason once it is aborted.
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort)
      resolve()
    }, ms)
    const abort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', abort, { once: true })
  })
}

function targetParams(options: GetTokenOptions | ExchangeOptions): {
  params: Record<string, string>
  resource: string
  scope: string
  scopes: string[]
  detailsKey: string | null
} {
  if (!isObject(options)) throw new TypeError('options are required')
  if (typeof options.resource !== 'string' || options.resource.length === 0)
    throw new TypeError('resource must be a non-empty string')
  const scopes = normalizeScope(options.scope)
  const scope = scopes.join(' ')
  const details = options.authorizationDetails
  if (details !== undefined && !Array.isArray(details))
    throw new TypeError('authorizationDetails must be an array')
  return {
    params: {
      resource: options.resource,
      ...(scope ? { scope } : {}),
      ...(details === undefined ? {} : { authorization_details: JSON.stringify(details) }),
    },
    resource: options.resource,
    scope,
    scopes,
    detailsKey: details === undefined ? null : canonicalJson(details),
  }
}

function normalizeScope(scope: string | readonly string[]): string[] {
  const list = typeof scope === 'string' ? [scope] : Array.isArray(scope) ? scope : undefined
  if (!list || list.some((s) => typeof s !== 'string'))
    throw new TypeError('scope must be a string or a list of strings')
  return [...new Set(list.flatMap((s) => s.split(/\s+/)).filter((s) => s.length > 0))]
}

// Key order does not change what authorization details mean, so it does not change the cache entry either.
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (isObject(value))
    return `{${Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(',')}}`
  return JSON.stringify(value) ?? 'null'
}

function checkCredential(credential: AgentCredential): AgentCredential {
  if (typeof credential !== 'object' || credential === null) throw new TypeError('credential is required')
  switch (credential.type) {
    case 'private_key_jwt':
      if (credential.kid !== undefined && (typeof credential.kid !== 'string' || credential.kid.length === 0))
        throw new TypeError('credential.kid must be a non-empty string')
      if ((credential.privateKey === undefined) === (credential.privateKeyFile === undefined))
        throw new TypeError('credential needs exactly one of privateKey and privateKeyFile')
      return credential
    case 'federated':
      if (typeof credential.token !== 'function') throw new TypeError('credential.token must be a function')
      return credential
    case 'client_secret':
      if (typeof credential.secret !== 'string' || credential.secret.length === 0)
        throw new TypeError('credential.secret must be a non-empty string')
      return credential
    default:
      throw new TypeError('credential.type must be private_key_jwt, federated or client_secret')
  }
}

function seconds(value: number | undefined, fallback: number, name: string, nonNegative: boolean): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || (nonNegative && value < 0))
    throw new TypeError(`${name} must be a finite${nonNegative ? ' non-negative' : ''} number of seconds`)
  return value
}

function dpopKeySource(option: boolean | DpopKeyPair | undefined): (() => Promise<DpopKey>) | undefined {
  if (option === undefined || option === false) return undefined
  let key: Promise<DpopKey> | undefined
  if (option === true) {
    return () => {
      key ??= generateKeyPair('ES256').then(async ({ privateKey, publicKey }) => ({
        alg: 'ES256',
        privateKey,
        publicJwk: publicMembers((await exportJWK(publicKey)) as Jwk, 'dpop'),
      }))
      return key
    }
  }
  if (!isObject(option) || option.privateKey === undefined)
    throw new TypeError('dpop must be true or { privateKey, publicJwk? }')
  const given = option.publicJwk
  if (given !== undefined && !isJwk(given)) throw new TypeError('dpop.publicJwk must be a JWK')
  const signer = signerFor(option.privateKey, given?.alg, 'dpop.privateKey')
  const publicJwk = given !== undefined ? publicMembers(given, 'dpop.publicJwk') : signer.publicJwk
  if (!publicJwk) throw new TypeError('dpop.publicJwk is required for a key that cannot be exported')
  return () => {
    key ??= signer.key().then((privateKey) => ({ alg: signer.alg, privateKey, publicJwk }))
    return key
  }
}

function htuOf(url: string): string {
  if (!isHttpUrl(url)) throw new TypeError('url must be an http(s) URL')
  const parsed = new URL(url)
  return `${parsed.origin}${parsed.pathname}`
}

function tokenValue(token: string | AccessToken): string {
  const value = typeof token === 'string' ? token : isObject(token) ? token.accessToken : undefined
  if (typeof value !== 'string' || value.length === 0)
    throw new TypeError('token must be a non-empty string or an AccessToken')
  return value
}

function checkAccessToken(token: AccessToken): AccessToken {
  tokenValue(token)
  if (token.tokenType !== 'Bearer' && token.tokenType !== 'DPoP')
    throw new TypeError('init.token.tokenType must be Bearer or DPoP')
  return token
}

// RFC 8707 §2: a token is for its resource; sending it to another origin would hand it to a server it is not for.
function checkOnResource(resource: string, url: string): void {
  if (typeof resource !== 'string' || !isHttpUrl(resource)) return
  if (new URL(resource).origin !== new URL(url).origin)
    throw new TypeError(
      `${new URL(url).origin} is not on the token's resource ${resource}; the token is not sent there`,
    )
}
