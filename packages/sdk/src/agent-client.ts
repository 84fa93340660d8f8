// The agent client: access tokens from a Mandate node for one agent or workload — client_credentials for its own
// actions, RFC 8693 token exchange for actions on a user's behalf — with private_key_jwt, federated or secret client
// authentication, and DPoP (RFC 9449) proofs for the token endpoint and for resource servers.

import { createHash, KeyObject, randomUUID } from 'node:crypto'
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  SignJWT,
} from 'jose'
import { ASYMMETRIC_ALGORITHMS } from './algorithms.js'
import { isWireErrorCode, MandateOAuthError } from './oauth-errors.js'

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
 * A private key as Node.js, Web Crypto or JOSE holds it. A JWK must be a private JWK (with `d`).
 * @example
 * const key: PrivateKeyInput = createPrivateKey(readFileSync('agent-key.pem'))
 */
export type PrivateKeyInput = KeyObject | CryptoKey | JWK

/**
 * RFC 7523 private_key_jwt: the client signs a short assertion with a key whose public half is registered on the agent
 * (a `jwks` or `jwks_uri` credential). No secret crosses the wire.
 * @example
 * const credential: PrivateKeyJwtCredential = { type: 'private_key_jwt', privateKey, kid: 'k1' }
 */
export interface PrivateKeyJwtCredential {
  type: 'private_key_jwt'
  /** The private key. */
  privateKey: PrivateKeyInput
  /** Key id sent in the assertion header so the node picks the registered key. Default: the JWK's `kid`, if any. */
  kid?: string
  /**
   * JWS algorithm (asymmetric only). Default: the JWK's `alg`, else from the key: ES256/ES384/ES512 for P-256/P-384/
   * P-521, EdDSA for Ed25519, RS256 for RSA, PS256 for RSA-PSS (Web Crypto keys name their hash).
   */
  alg?: string
}

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
 * How the agent proves who it is at the token endpoint.
 * @example
 * const credential: AgentCredential = { type: 'private_key_jwt', privateKey: jwk }
 */
export type AgentCredential = PrivateKeyJwtCredential | FederatedCredential | ClientSecretCredential

/**
 * A DPoP key pair the caller holds, e.g. to keep the key (and so its bound tokens) across restarts.
 * @example
 * const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
 * const dpop: DpopKeyPair = { privateKey, publicJwk: publicKey.export({ format: 'jwk' }) }
 */
export interface DpopKeyPair {
  privateKey: PrivateKeyInput
  /** The public key; only its public members are ever sent. */
  publicJwk: JWK
}

/**
 * Options of an {@link AgentClient}.
 * @example
 * const options: AgentClientOptions = {
 *   issuer: 'http://127.0.0.1:7400',
 *   clientId: 'ticket-bot',
 *   credential: { type: 'private_key_jwt', privateKey, kid: 'k1' },
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
}

const CLIENT_CREDENTIALS = 'client_credentials'
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
// RFC 7523 §3: short-lived; the node remembers each jti until exp, so a short life keeps its replay cache small.
const ASSERTION_LIFETIME_SECONDS = 60
// JWS algorithms a Mandate node accepts for assertions and proofs: asymmetric only.
const ACCEPTED_ALGORITHMS: ReadonlySet<string> = new Set(ASYMMETRIC_ALGORITHMS)
const EC_ALGORITHMS: Record<string, string> = {
  'P-256': 'ES256',
  prime256v1: 'ES256',
  'P-384': 'ES384',
  secp384r1: 'ES384',
  'P-521': 'ES512',
  secp521r1: 'ES512',
}
// RFC 7638 §3.2: the members of a public key; nothing else of a DPoP key is ever sent.
const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
  RSA: ['kty', 'n', 'e'],
}
// Fetch normalizes these methods to upper case (and no others), so a proof must name them the same way.
const NORMALIZED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'])
const MAX_DESCRIPTION_LENGTH = 500
const TOKEN_TYPES: Record<string, 'Bearer' | 'DPoP'> = { bearer: 'Bearer', dpop: 'DPoP' }

interface Metadata {
  issuer: string
  tokenEndpoint: string
}

interface Signer {
  alg: string
  key: () => Promise<KeyObject | CryptoKey>
}

interface DpopKey {
  alg: string
  privateKey: KeyObject | CryptoKey
  publicJwk: JWK
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
 * `exchange` (RFC 8693; not cached, a delegated token is for one action). Every failure is a {@link MandateOAuthError}
 * with a stable code; invalid options are a `TypeError` from the constructor.
 * @example
 * const agent = new AgentClient({
 *   issuer: 'http://127.0.0.1:7400',
 *   clientId: 'ticket-bot',
 *   credential: { type: 'private_key_jwt', privateKey, kid: 'k1' },
 *   dpop: true,
 * })
 * const token = await agent.getToken({ resource: 'https://tickets.example.com/', scope: 'tickets:read' })
 * const url = 'https://tickets.example.com/tickets/42'
 * await fetch(url, {
 *   headers: {
 *     authorization: `DPoP ${token.accessToken}`,
 *     dpop: await agent.dpopProof({ method: 'GET', url, accessToken: token.accessToken }),
 *   },
 * })
 */
export class AgentClient {
  /** The issuer as given. */
  readonly issuer: string
  /** The agent's or workload's id. */
  readonly clientId: string
  readonly #credential: AgentCredential
  readonly #signer: Signer | undefined
  readonly #fetch: typeof fetch
  readonly #skewMs: number
  readonly #refreshBeforeMs: number
  readonly #dpopKey: (() => Promise<DpopKey>) | undefined
  #dpopNonce: string | undefined
  #metadata: Promise<Metadata> | undefined
  readonly #tokens = new Map<string, AccessToken>()
  readonly #pending = new Map<string, Promise<AccessToken>>()

  constructor(options: AgentClientOptions) {
    this.issuer = checkIssuer(options.issuer)
    if (typeof options.clientId !== 'string' || options.clientId.length === 0)
      throw new TypeError('clientId must be a non-empty string')
    this.clientId = options.clientId
    this.#credential = checkCredential(options.credential)
    this.#signer =
      options.credential.type === 'private_key_jwt'
        ? signerFor(options.credential.privateKey, options.credential.alg, 'credential.privateKey')
        : undefined
    // Called unbound: some runtimes' fetch refuses any `this` but the global one.
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
    this.#skewMs = seconds(options.clockSkewSeconds, 0, 'clockSkewSeconds', false) * 1000
    this.#refreshBeforeMs = seconds(options.refreshBeforeSeconds, 30, 'refreshBeforeSeconds', true) * 1000
    this.#dpopKey = dpopKeySource(options.dpop)
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
    const request = this.#requestToken({ grant_type: CLIENT_CREDENTIALS, ...target.params }, [], target.scope)
      .then((token) => {
        this.#store(key, token)
        return token
      })
      .finally(() => this.#pending.delete(key))
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
    return calculateJwkThumbprint(key.publicJwk, 'sha256')
  }

  #fresh(token: AccessToken): boolean {
    return Date.now() < token.expiresAt - this.#refreshBeforeMs
  }

  #store(key: string, token: AccessToken): void {
    for (const [other, cached] of this.#tokens) if (Date.now() >= cached.expiresAt) this.#tokens.delete(other)
    this.#tokens.set(key, token)
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
      const auth = await this.#authenticate(metadata)
      const headers: Record<string, string> = {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        ...auth.headers,
      }
      if (this.#dpopKey)
        headers.dpop = await this.#proof('POST', metadata.tokenEndpoint, {
          ...(this.#dpopNonce === undefined ? {} : { nonce: this.#dpopNonce }),
        })
      const response = await this.#send(metadata.tokenEndpoint, {
        method: 'POST',
        headers,
        body: new URLSearchParams({ ...grant, ...auth.params }).toString(),
      })
      const nonce = response.headers.get('dpop-nonce')
      if (this.#dpopKey && nonce) this.#dpopNonce = nonce
      const redact = [...sensitive, ...auth.sensitive]
      if (response.status >= 200 && response.status < 300)
        return this.#tokenFrom(response, requestedAt, requestedScope)
      const error = errorFrom(response, redact)
      if (error.code === 'use_dpop_nonce' && this.#dpopKey && nonce && attempt === 1) continue
      throw error
    }
  }

  #tokenFrom(response: JsonResponse, requestedAt: number, requestedScope: string): AccessToken {
    const body = response.json
    if (!isObject(body)) throw invalidResponse('the token response is not a JSON object', response.status)
    const { access_token, token_type, expires_in, scope, authorization_details, issued_token_type } = body
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
    const credential = this.#credential
    const kid =
      credential.type === 'private_key_jwt'
        ? (credential.kid ?? (isJwk(credential.privateKey) ? credential.privateKey.kid : undefined))
        : undefined
    const now = this.#nowSeconds()
    return new SignJWT({
      iss: this.clientId,
      sub: this.clientId,
      aud: metadata.issuer,
      jti: randomUUID(),
      iat: now,
      exp: now + ASSERTION_LIFETIME_SECONDS,
    })
      .setProtectedHeader({ alg: signer.alg, ...(kid === undefined ? {} : { kid }) })
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
      .setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.publicJwk })
      .sign(key.privateKey)
  }

  // RFC 8414 §3: discovered once; a failed discovery is forgotten so the next call tries again.
  #discover(): Promise<Metadata> {
    if (!this.#metadata) {
      const discovery = this.#fetchMetadata()
      this.#metadata = discovery
      discovery.catch(() => {
        if (this.#metadata === discovery) this.#metadata = undefined
      })
    }
    return this.#metadata
  }

  async #fetchMetadata(): Promise<Metadata> {
    const url = metadataUrl(this.issuer)
    const response = await this.#send(url, { method: 'GET', headers: { accept: 'application/json' } })
    if (response.status !== 200)
      throw invalidResponse(
        `no authorization server metadata at ${url} (HTTP ${response.status})`,
        response.status,
      )
    const body = response.json
    if (!isObject(body)) throw invalidResponse(`the metadata at ${url} is not a JSON object`, response.status)
    // RFC 8414 §3.3: the metadata must name the issuer it was fetched for.
    if (
      typeof body.issuer !== 'string' ||
      withoutTrailingSlash(body.issuer) !== withoutTrailingSlash(this.issuer)
    )
      throw invalidResponse(`the metadata at ${url} is for another issuer`, response.status)
    if (typeof body.token_endpoint !== 'string' || !isHttpUrl(body.token_endpoint))
      throw invalidResponse(`the metadata at ${url} has no valid token_endpoint`, response.status)
    return { issuer: body.issuer, tokenEndpoint: body.token_endpoint }
  }

  async #send(url: string, init: RequestInit): Promise<JsonResponse> {
    const origin = new URL(url).origin
    let response: Response
    let text: string
    try {
      response = await this.#fetch(url, init)
      text = await response.text()
    } catch (error) {
      throw new MandateOAuthError('network_error', `cannot reach ${origin}: ${networkReason(error)}`, 0)
    }
    let json: unknown
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {
      throw invalidResponse(
        `${origin} answered HTTP ${response.status} with non-JSON content`,
        response.status,
      )
    }
    return { status: response.status, headers: response.headers, json }
  }
}

interface JsonResponse {
  status: number
  headers: Headers
  json: unknown
}

function errorFrom(response: JsonResponse, redact: readonly string[]): MandateOAuthError {
  const body = isObject(response.json) ? response.json : {}
  const description =
    typeof body.error_description === 'string' && body.error_description.length > 0
      ? sanitize(body.error_description, redact)
      : `HTTP ${response.status}`
  if (isWireErrorCode(body.error)) return new MandateOAuthError(body.error, description, response.status)
  const named = typeof body.error === 'string' && /^[a-z0-9_]{1,64}$/.test(body.error) ? ` ${body.error}` : ''
  return invalidResponse(
    `the node answered HTTP ${response.status} with an unknown error${named}: ${description}`,
    response.status,
  )
}

function invalidResponse(description: string, status: number): MandateOAuthError {
  return new MandateOAuthError('invalid_response', description, status)
}

// A description is the server's text: keep it printable and short, and never echo a secret or a token of the request.
function sanitize(text: string, redact: readonly string[]): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to remove them
  let clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ')
  for (const value of redact) if (value.length >= 4) clean = clean.split(value).join('[redacted]')
  clean = clean.replace(/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, '[redacted]')
  return clean.length > MAX_DESCRIPTION_LENGTH ? `${clean.slice(0, MAX_DESCRIPTION_LENGTH)}…` : clean
}

function targetParams(options: GetTokenOptions | ExchangeOptions): {
  params: Record<string, string>
  resource: string
  scope: string
  scopes: string[]
  detailsKey: string | null
} {
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

function checkIssuer(issuer: unknown): string {
  if (typeof issuer !== 'string' || !isHttpUrl(issuer)) throw new TypeError('issuer must be an http(s) URL')
  const url = new URL(issuer)
  if (url.search || url.hash) throw new TypeError('issuer must not have a query or fragment (RFC 8414 §2)')
  return issuer
}

function checkCredential(credential: AgentCredential): AgentCredential {
  if (!isObject(credential)) throw new TypeError('credential is required')
  switch (credential.type) {
    case 'private_key_jwt':
      if (credential.kid !== undefined && (typeof credential.kid !== 'string' || credential.kid.length === 0))
        throw new TypeError('credential.kid must be a non-empty string')
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

// A signing key and its algorithm, checked now; a JWK is imported on first use.
function signerFor(input: PrivateKeyInput, alg: string | undefined, name: string): Signer {
  const algorithm = alg ?? algorithmOf(input, name)
  if (!ACCEPTED_ALGORITHMS.has(algorithm))
    throw new TypeError(`${name}: ${algorithm} is not an asymmetric JWS algorithm a Mandate node accepts`)
  if (input instanceof KeyObject) {
    if (input.type !== 'private') throw new TypeError(`${name} must be a private key`)
    return { alg: algorithm, key: async () => input }
  }
  if (isJwk(input)) {
    if (typeof input.d !== 'string') throw new TypeError(`${name} must be a private JWK (with d)`)
    let imported: Promise<KeyObject | CryptoKey> | undefined
    return {
      alg: algorithm,
      key: () => {
        imported ??= importJWK(input, algorithm).then((key) => {
          if (key instanceof Uint8Array) throw new TypeError(`${name} must be an asymmetric key`)
          return key
        })
        return imported
      },
    }
  }
  if (input.type !== 'private') throw new TypeError(`${name} must be a private key`)
  return { alg: algorithm, key: async () => input }
}

function algorithmOf(input: PrivateKeyInput, name: string): string {
  let found: string | undefined
  if (input instanceof KeyObject) {
    const type = input.asymmetricKeyType
    if (type === 'ec') found = EC_ALGORITHMS[String(input.asymmetricKeyDetails?.namedCurve)]
    else if (type === 'ed25519') found = 'EdDSA'
    else if (type === 'rsa') found = 'RS256'
    else if (type === 'rsa-pss') found = 'PS256'
  } else if (isJwk(input)) {
    if (typeof input.alg === 'string') found = input.alg
    else if (input.kty === 'EC') found = EC_ALGORITHMS[String(input.crv)]
    else if (input.kty === 'OKP' && input.crv === 'Ed25519') found = 'EdDSA'
    else if (input.kty === 'RSA') found = 'RS256'
  } else {
    const algorithm = input.algorithm as { name: string; namedCurve?: unknown; hash?: { name?: unknown } }
    const bits = String(algorithm.hash?.name ?? '').replace('SHA-', '')
    if (algorithm.name === 'ECDSA') found = EC_ALGORITHMS[String(algorithm.namedCurve)]
    else if (algorithm.name === 'Ed25519') found = 'EdDSA'
    else if (algorithm.name === 'RSASSA-PKCS1-v1_5') found = `RS${bits}`
    else if (algorithm.name === 'RSA-PSS') found = `PS${bits}`
  }
  if (!found) throw new TypeError(`${name}: cannot tell its JWS algorithm; pass alg`)
  return found
}

function dpopKeySource(option: boolean | DpopKeyPair | undefined): (() => Promise<DpopKey>) | undefined {
  if (option === undefined || option === false) return undefined
  let key: Promise<DpopKey> | undefined
  if (option === true) {
    return () => {
      key ??= generateKeyPair('ES256').then(async ({ privateKey, publicKey }) => ({
        alg: 'ES256',
        privateKey,
        publicJwk: publicMembers(await exportJWK(publicKey), 'dpop'),
      }))
      return key
    }
  }
  if (!isObject(option) || !isJwk(option.publicJwk))
    throw new TypeError('dpop must be true or { privateKey, publicJwk }')
  const publicJwk = publicMembers(option.publicJwk, 'dpop.publicJwk')
  const signer = signerFor(option.privateKey, algorithmOf(publicJwk, 'dpop.publicJwk'), 'dpop.privateKey')
  return () => {
    key ??= signer.key().then((privateKey) => ({ alg: signer.alg, privateKey, publicJwk }))
    return key
  }
}

function publicMembers(jwk: JWK, name: string): JWK {
  const members = typeof jwk.kty === 'string' ? PUBLIC_MEMBERS[jwk.kty] : undefined
  if (!members) throw new TypeError(`${name} must be an EC, OKP or RSA key`)
  const source = jwk as Record<string, unknown>
  const result: Record<string, unknown> = {}
  for (const member of members) {
    if (typeof source[member] !== 'string') throw new TypeError(`${name} has no ${member}`)
    result[member] = source[member]
  }
  return result as JWK
}

function metadataUrl(issuer: string): string {
  // RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
  const url = new URL(issuer)
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '')
  return `${url.origin}/.well-known/oauth-authorization-server${path}`
}

function htuOf(url: string): string {
  if (!isHttpUrl(url)) throw new TypeError('url must be an http(s) URL')
  const parsed = new URL(url)
  return `${parsed.origin}${parsed.pathname}`
}

// RFC 6749 Appendix B: application/x-www-form-urlencoded, which escapes more than encodeURIComponent does.
function formEncode(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
}

function withoutTrailingSlash(value: string): string {
  return value.replace(/\/+$/, '')
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || url.protocol === 'http:'
  } catch {
    return false
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isJwk(value: unknown): value is JWK {
  return isObject(value) && !(value instanceof KeyObject) && typeof value.kty === 'string'
}

// fetch reports "fetch failed"; the useful code is on its cause, or on the first of several (IPv4 and IPv6) attempts.
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; errors?: Array<{ code?: string }> } }).cause
  return cause?.code ?? cause?.errors?.[0]?.code ?? (error instanceof Error ? error.message : 'unknown error')
}
