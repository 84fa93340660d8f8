// The authorization endpoint (OAuth 2.1 §4.1) and PAR (RFC 9126): a request is validated, kept until the human
// decides on the consent page, and answered at the redirect URI with a one-time code (approved) or `access_denied`,
// `state` and RFC 9207 `iss` on every answer. Approval grants the mandate; the code is bound to it, to the client, to
// the redirect URI and to the PKCE challenge.
import { randomBytes } from 'node:crypto'
import type { AuditLog } from '../audit/audit-log.ts'
import type { ClientAuthContext, ClientCertificate } from '../authn/client-authentication.ts'
import { type AuthenticatedClient, authenticateActiveClient } from '../authn/client-authentication.ts'
import { ValidationFailed } from '../errors/mandate-error.ts'
import { AccessDenied, InvalidRequest, InvalidRequestUri, type OAuthError } from '../errors/oauth-error.ts'
import type { ChangeContext } from '../registry/change.ts'
import { type AuthorizationStore, secretHash } from '../store/authorization-store.ts'
import type { Database } from '../store/database.ts'
import {
  type AuthorizationRequest,
  type AuthorizationRequestContext,
  chooseRedirectUri,
  findAuthorizingAgent,
  parseAuthorizationParams,
  REQUEST_URI_PREFIX,
  RedirectedError,
  UnsafeAuthorizationRequest,
  validateAuthorizationRequest,
} from './authorization-request.ts'

/** RFC 9126 §2.2: a pushed request lives this long (node-oidc-provider's cap); used once. */
export const PAR_LIFETIME_SECONDS = 60
/** OAuth 2.1 §4.1.2: codes are short-lived; RFC 9700 recommends at most 10 minutes, Mandate keeps 60 seconds. */
export const CODE_LIFETIME_SECONDS = 60
/** How long a request waits for the human's decision (login included). */
export const CONSENT_LIFETIME_SECONDS = 600

/** What the human may narrow on the consent page. */
export interface ConsentDecision {
  approve: boolean
  /** The actions kept (a subset of the requested scope). */
  actions: readonly string[]
  /** The authorization details types kept. */
  detailTypes: readonly string[]
  /** At most the requested duration. */
  durationSeconds: number
  /** At most the requested call budget, when one was asked. */
  maxCalls?: number | undefined
}

/** The part of the mandates service consent needs: granting one (validated, audited as `mandate.grant`). */
export interface MandateGranting {
  grant(input: unknown, by: ChangeContext): Promise<{ id: string; expires_at: string }>
}

export interface AuthorizationEndpointDeps extends AuthorizationRequestContext {
  database: Database
  store: AuthorizationStore
  audit: AuditLog
  mandates: MandateGranting
  clientAuth: ClientAuthContext
  issuer: () => string
}

/** A consent waiting for the human: its reference and the request. */
export interface PendingConsent {
  ref: string
  request: AuthorizationRequest
}

/** Serves the authorization endpoint, PAR and the consent decision. */
export class AuthorizationEndpoint {
  constructor(private readonly deps: AuthorizationEndpointDeps) {}

  /**
   * GET /oauth/authorize: validates (or loads the pushed request), and keeps it for the human's decision. Answers the
   * reference the consent page is opened with. Throws UnsafeAuthorizationRequest (400 page) or RedirectedError.
   */
  async authorize(query: Readonly<Record<string, string | string[] | undefined>>): Promise<string> {
    const { params, resources } = parseAuthorizationParams(query)
    const request =
      params.request_uri !== undefined
        ? await this.loadPushed(params)
        : validateAuthorizationRequest(params, resources, this.deps)
    const ref = randomBytes(32).toString('base64url')
    await this.deps.store.putRequest(this.deps.database.db, secretHash(ref), {
      kind: 'pending',
      clientId: request.client_id,
      doc: JSON.stringify(request),
      expiresAt: this.deps.now() + CONSENT_LIFETIME_SECONDS * 1000,
    })
    return ref
  }

  // RFC 9126 §4: the pushed request, bound to the client that pushed it, used once; what may have changed since
  // (the client's lifecycle, its registered redirect URIs) is checked again.
  private async loadPushed(params: Readonly<Record<string, string>>): Promise<AuthorizationRequest> {
    const uri = params.request_uri as string
    if (!uri.startsWith(REQUEST_URI_PREFIX) || uri.length > 200)
      throw new UnsafeAuthorizationRequest('request_uri is not one this server issued', 'invalid_request_uri')
    const agent = findAuthorizingAgent(this.deps.directory, params.client_id, this.deps.now())
    const stored = await this.deps.store.takeRequest(
      this.deps.database.db,
      secretHash(uri.slice(REQUEST_URI_PREFIX.length)),
      'par',
      this.deps.now(),
    )
    if (!stored || stored.clientId !== agent.id)
      throw new UnsafeAuthorizationRequest(
        'request_uri is unknown, expired, already used, or was pushed by another client',
        'invalid_request_uri',
      )
    const request = JSON.parse(stored.doc) as AuthorizationRequest
    chooseRedirectUri(agent, request.redirect_uri)
    return request
  }

  /** POST /oauth/par (RFC 9126 §2): authenticates the client as the token endpoint does, validates, answers 201. */
  async push(input: {
    form: Readonly<Record<string, string | string[] | undefined>>
    authorization?: string | undefined
    /** RFC 8705: the TLS client certificate, for agents that authenticate with it. */
    certificate?: ClientCertificate | undefined
  }): Promise<{ request_uri: string; expires_in: number }> {
    let parsed: ReturnType<typeof parseAuthorizationParams>
    try {
      parsed = parseAuthorizationParams(input.form)
    } catch (error) {
      throw asOAuth(error)
    }
    const client: AuthenticatedClient = await authenticateActiveClient(
      { params: parsed.params, authorization: input.authorization, certificate: input.certificate },
      this.deps.clientAuth,
    )
    // RFC 9126 §2.1: a pushed request must not itself point at a request_uri.
    if (parsed.params.request_uri !== undefined)
      throw new InvalidRequest('request_uri is not allowed in a pushed request')
    if (parsed.params.client_id !== undefined && parsed.params.client_id !== client.id)
      throw new InvalidRequest('client_id does not name the authenticated client')
    // Client authentication parameters are not part of the authorization request.
    const { client_assertion, client_assertion_type, client_secret, ...rest } = parsed.params
    let request: AuthorizationRequest
    try {
      request = validateAuthorizationRequest({ ...rest, client_id: client.id }, parsed.resources, this.deps)
    } catch (error) {
      throw asOAuth(error)
    }
    const ref = randomBytes(32).toString('base64url')
    await this.deps.store.putRequest(this.deps.database.db, secretHash(ref), {
      kind: 'par',
      clientId: client.id,
      doc: JSON.stringify(request),
      expiresAt: this.deps.now() + PAR_LIFETIME_SECONDS * 1000,
    })
    return { request_uri: `${REQUEST_URI_PREFIX}${ref}`, expires_in: PAR_LIFETIME_SECONDS }
  }

  /** The request waiting for a decision under `ref`, or undefined when there is none (unknown, used or expired). */
  async pending(ref: string): Promise<AuthorizationRequest | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(ref)) return undefined
    const stored = await this.deps.store.peekRequest(
      this.deps.database.db,
      secretHash(ref),
      'pending',
      this.deps.now(),
    )
    return stored ? (JSON.parse(stored.doc) as AuthorizationRequest) : undefined
  }

  /**
   * The human's decision on a pending request (used once): approval grants the mandate as narrowed and answers the
   * redirect URL with a code; denial answers it with `access_denied`. Undefined when the request is gone.
   */
  async decide(
    ref: string,
    human: string,
    decision: ConsentDecision,
    trace: Omit<ChangeContext, 'actor'> = {},
  ): Promise<string | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(ref)) return undefined
    const stored = await this.deps.store.takeRequest(
      this.deps.database.db,
      secretHash(ref),
      'pending',
      this.deps.now(),
    )
    if (!stored) return undefined
    const request = JSON.parse(stored.doc) as AuthorizationRequest
    const by: ChangeContext = { actor: { kind: 'human', id: human }, ...trace }
    if (!decision.approve) {
      await this.deps.database.transact((tx) =>
        this.deps.audit.append(
          tx,
          {
            type: 'consent.deny',
            outcome: 'success',
            actors: [by.actor],
            subjects: [`agent:${request.client_id}`],
            action: request.scope.join(' '),
            resource: request.resource_server.audience,
            ...traceOf(by),
          },
          new Date(this.deps.now()),
        ),
      )
      return this.errorRedirect(request, new AccessDenied('the human denied the request'))
    }
    const narrowed = narrow(request, decision)
    if (!narrowed) return this.errorRedirect(request, new AccessDenied('the human approved nothing'))
    const nowMs = this.deps.now()
    let mandate: { id: string }
    try {
      mandate = await this.deps.mandates.grant(
        {
          human,
          agent: request.client_id,
          actions: narrowed.actions,
          resource_servers: [request.resource_server.id],
          ...(narrowed.detailTypes.length > 0 ? { authorization_details_types: narrowed.detailTypes } : {}),
          expires_at: new Date(nowMs + narrowed.durationSeconds * 1000).toISOString(),
          ...(narrowed.maxCalls !== undefined
            ? { budget: { calls: narrowed.maxCalls, period: 'total' } }
            : {}),
          source: 'consent',
        },
        by,
      )
    } catch (error) {
      // The registry changed since the request was checked (the agent stopped, the human left, a ceiling shrank): the
      // agent is told, as for any refusal, and nothing is granted.
      if (error instanceof ValidationFailed)
        return this.errorRedirect(
          request,
          new InvalidRequest(
            `the mandate cannot be granted: ${error.fields.map((f) => `${f.path} ${f.message}`).join('; ')}`.slice(
              0,
              500,
            ),
          ),
        )
      throw error
    }
    const code = randomBytes(32).toString('base64url')
    const details = request.authorization_details?.filter((d) =>
      narrowed.detailTypes.includes(String(d.type)),
    )
    const grant: CodeGrant = {
      redirect_uri: request.redirect_uri,
      redirect_uri_sent: request.redirect_uri_sent,
      code_challenge: request.code_challenge,
      scope: narrowed.actions,
      resource: request.resource_server.audience,
      ...(details && details.length > 0 ? { authorization_details: details } : {}),
    }
    await this.deps.database.transact(async (tx) => {
      await this.deps.store.putCode(tx, {
        hash: secretHash(code),
        client_id: request.client_id,
        human_id: human,
        mandate_id: mandate.id,
        doc: JSON.stringify(grant),
        expires_at: nowMs + CODE_LIFETIME_SECONDS * 1000,
      })
      await this.deps.audit.append(
        tx,
        {
          type: 'consent.approve',
          outcome: 'success',
          actors: [by.actor],
          subjects: [`agent:${request.client_id}`, `mandate:${mandate.id}`],
          action: narrowed.actions.join(' '),
          resource: request.resource_server.audience,
          ...traceOf(by),
          details: { mandate_id: mandate.id },
        },
        new Date(nowMs),
      )
    })
    return this.redirect(request.redirect_uri, {
      code,
      ...(request.state !== undefined ? { state: request.state } : {}),
    })
  }

  /** Deletes expired requests, codes (a day after expiry: a late replay still revokes) and refresh tokens. */
  async purge(): Promise<void> {
    await this.deps.store.purge(this.deps.database.db, this.deps.now())
  }

  /** The redirect URL of an error (RFC 6749 §4.1.2.1) with `state` and `iss`. */
  errorRedirect(request: Pick<AuthorizationRequest, 'redirect_uri' | 'state'>, error: OAuthError): string {
    return this.redirect(request.redirect_uri, {
      error: error.code,
      error_description: error.message,
      ...(request.state !== undefined ? { state: request.state } : {}),
    })
  }

  /** The redirect URL of a refusal raised while validating. */
  redirectedError(error: RedirectedError): string {
    return this.errorRedirect({ redirect_uri: error.redirectUri, state: error.state }, error.error)
  }

  // RFC 9207 §2: iss on every authorization response, success and error; parameters in the query (OAuth 2.1 §4.1.2).
  private redirect(redirectUri: string, params: Record<string, string>): string {
    const url = new URL(redirectUri)
    for (const [name, value] of Object.entries({ ...params, iss: this.deps.issuer() }))
      url.searchParams.append(name, value)
    return url.toString()
  }
}

/** What a code is bound to, besides its client, human and mandate (stored with it). */
export interface CodeGrant {
  redirect_uri: string
  redirect_uri_sent: boolean
  code_challenge: string
  scope: string[]
  /** The resource server's audience. */
  resource: string
  authorization_details?: Array<Record<string, unknown>>
}

// The human can only take away: actions and detail types among those asked, a shorter duration, a lower budget.
function narrow(
  request: AuthorizationRequest,
  decision: ConsentDecision,
): { actions: string[]; detailTypes: string[]; durationSeconds: number; maxCalls?: number } | undefined {
  const actions = request.scope.filter((a) => decision.actions.includes(a))
  const asked = [...new Set((request.authorization_details ?? []).map((d) => String(d.type)))]
  const detailTypes = asked.filter((t) => decision.detailTypes.includes(t))
  if (actions.length === 0 && detailTypes.length === 0) return undefined
  const durationSeconds = Math.min(
    Math.max(60, Math.floor(decision.durationSeconds)),
    request.duration_seconds,
  )
  const maxCalls =
    request.max_calls === undefined
      ? decision.maxCalls
      : Math.min(decision.maxCalls ?? request.max_calls, request.max_calls)
  return {
    // A mandate names at least one action: a grant of detail types alone carries them as its actions.
    actions: actions.length > 0 ? actions : detailTypes,
    detailTypes,
    durationSeconds,
    ...(maxCalls !== undefined ? { maxCalls: Math.max(1, Math.floor(maxCalls)) } : {}),
  }
}

function traceOf(by: ChangeContext) {
  return {
    ...(by.requestId ? { requestId: by.requestId } : {}),
    ...(by.traceparent ? { traceparent: by.traceparent } : {}),
  }
}

// At PAR, every refusal is a JSON error (RFC 9126 §2.3): there is no redirect.
function asOAuth(error: unknown): unknown {
  if (error instanceof UnsafeAuthorizationRequest)
    return error.code === 'invalid_request_uri'
      ? new InvalidRequestUri(error.message)
      : new InvalidRequest(error.message)
  if (error instanceof RedirectedError) return error.error
  return error
}
