// The CIBA backchannel authentication endpoint (OpenID CIBA Core 1.0 §7, poll mode) as ordered steps: parse,
// authenticate the client, read the hint, the binding message and the requested expiry, resolve the action (scope,
// RFC 8707 resource, RFC 9396 authorization_details) within the client's ceiling, ask the policies, and open an
// approval request bound to exactly that action. The answer is `auth_req_id`, `expires_in` and `interval` (§7.3).
import { ApprovalRefused } from '../approvals/approvals.ts'
import type { AuditRecorder } from '../audit/audit-batcher.ts'
import type { ActorRef, AuditEventInput } from '../audit/event.ts'
import type { RefusalAggregator } from '../audit/refusal-aggregator.ts'
import {
  type AuthenticatedClient,
  authenticateClient,
  type ClientAuthContext,
  type ClientCertificate,
  checkClientLifecycle,
} from '../authn/client-authentication.ts'
import { failureSource } from '../authn/failure-limiter.ts'
import {
  AccessDenied,
  InvalidBindingMessage,
  InvalidRequest,
  InvalidScope,
  OAuthError,
  UnknownUserId,
} from '../errors/oauth-error.ts'
import { beyondCeiling } from '../registry/gates.ts'
import type { Human, Stored } from '../registry/model.ts'
import { checkDetailsCeiling, type GrantContext } from './grants/grant.ts'
import { parseAuthorizationDetails, parseScope, resolveTarget } from './target.ts'
import { parseTokenRequest } from './token-endpoint.ts'

/** A backchannel request as the HTTP layer hands it over. */
export interface BackchannelInput {
  form: Readonly<Record<string, string | string[] | undefined>>
  authorization?: string | undefined
  certificate?: ClientCertificate | undefined
  clientIp?: string | undefined
  requestId?: string | undefined
  traceparent?: string | undefined
}

/** CIBA §7.3 acknowledgement. */
export interface BackchannelResponse {
  auth_req_id: string
  expires_in: number
  interval: number
}

export type BackchannelDeps = Pick<
  GrantContext,
  'directory' | 'policy' | 'approvals' | 'pollIntervalSeconds' | 'now'
> & {
  clientAuth: ClientAuthContext
  /** Refusals of authenticated clients, recorded durably. */
  recorder: AuditRecorder
  /** Refusals of callers that proved nothing: the first per source and window in full, the rest counted. */
  refusals: Pick<RefusalAggregator, 'record'>
}

// CIBA §7.1: a short plain-text message; control characters could forge lines on the approver's screen.
const BINDING_MESSAGE = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]{1,100}$/u
const REQUESTED_EXPIRY = /^[1-9][0-9]{0,6}$/

/** Step: the human a `login_hint` names (registry id or email), or none; CIBA §7.1 allows exactly one hint. */
function hintedHuman(params: Readonly<Record<string, string | undefined>>, deps: BackchannelDeps) {
  const hints = ['login_hint', 'id_token_hint', 'login_hint_token'].filter((h) => params[h] !== undefined)
  if (hints.length > 1) throw new InvalidRequest('at most one of login_hint, id_token_hint, login_hint_token')
  if (hints[0] !== undefined && hints[0] !== 'login_hint')
    throw new InvalidRequest(`${hints[0]} is not supported; name the human with login_hint`)
  const hint = params.login_hint
  if (hint === undefined) return undefined
  const human: Stored<Human> | undefined =
    deps.directory.human(hint) ?? (hint.includes('@') ? deps.directory.humanByEmail(hint) : undefined)
  if (human?.status !== 'active') throw new UnknownUserId('login_hint names no active registered human')
  return human
}

/** Step: the mode, as the platform decides it from the client's classification and the hint. */
function modeOf(client: AuthenticatedClient, human: Stored<Human> | undefined): 'autonomous' | 'delegated' {
  const classification =
    client.client.kind === 'agent' ? client.client.principal.classification : 'autonomous'
  if (classification === 'autonomous' && human)
    throw new InvalidRequest(
      `${client.client.kind} ${client.id} is autonomous: it acts for nobody (no login_hint)`,
    )
  if (classification === 'delegated' && !human)
    throw new InvalidRequest(`agent ${client.id} is delegated: login_hint must name the human it acts for`)
  return human ? 'delegated' : 'autonomous'
}

/** Serves backchannel authentication requests. */
export class BackchannelEndpoint {
  constructor(private readonly deps: BackchannelDeps) {}

  /** Handles one request; throws OAuthError for anything the client should be told, after recording it. */
  async handle(input: BackchannelInput): Promise<BackchannelResponse> {
    let client: AuthenticatedClient | undefined
    try {
      const request = parseTokenRequest(input.form)
      client = await authenticateClient(
        { params: request.params, authorization: input.authorization, certificate: input.certificate },
        this.deps.clientAuth,
      )
      checkClientLifecycle(client, this.deps.clientAuth)
      return await this.open(request, client, input)
    } catch (error) {
      if (error instanceof OAuthError) await this.recordRefusal(error, client, input)
      throw error
    }
  }

  private async recordRefusal(
    error: OAuthError,
    client: AuthenticatedClient | undefined,
    input: BackchannelInput,
  ): Promise<void> {
    const event: AuditEventInput = {
      type: 'approval.refuse',
      outcome: 'failure',
      actors: client ? [{ kind: client.client.kind, id: client.id }] : [],
      reason: `${error.code}: ${error.message}`,
      details: { error: error.code },
      ...(input.requestId ? { requestId: input.requestId } : {}),
      ...(input.traceparent ? { traceparent: input.traceparent } : {}),
    }
    if (client) await this.deps.recorder.record(event)
    else await this.deps.refusals.record(failureSource(input.clientIp ?? 'unknown'), error.code, event)
  }

  // Steps after client authentication: the hint, the mode, the action, the policies, the stored request.
  private async open(
    request: ReturnType<typeof parseTokenRequest>,
    client: AuthenticatedClient,
    input: BackchannelInput,
  ): Promise<BackchannelResponse> {
    const { deps } = this
    const { params } = request
    // Poll mode only, no signed requests, no user codes (metadata says so).
    for (const name of ['request', 'request_uri', 'user_code', 'client_notification_token'])
      if (params[name] !== undefined) throw new InvalidRequest(`${name} is not supported`)
    if (request.audiences.length > 0) throw new InvalidRequest('audience is not supported; use resource')
    const human = hintedHuman(params, deps)
    const mode = modeOf(client, human)
    const message = params.binding_message
    if (message !== undefined && !BINDING_MESSAGE.test(message))
      throw new InvalidBindingMessage('binding_message must be 1 to 100 characters of plain text on one line')
    const expiry = params.requested_expiry
    if (expiry !== undefined && !REQUESTED_EXPIRY.test(expiry))
      throw new InvalidRequest('requested_expiry must be a positive whole number of seconds')

    // `openid` asks for an ID token, which an agent's action has no use for: it is accepted and not granted.
    const scopes = parseScope(params.scope).filter((s) => s !== 'openid')
    const target = resolveTarget(deps.directory, request.resources, scopes)
    const details = parseAuthorizationDetails(params.authorization_details, target) ?? []
    if (scopes.length === 0 && details.length === 0)
      throw new InvalidScope('scope or authorization_details must name the action to approve')
    const beyond = beyondCeiling(client.client.principal, scopes, target)
    if (beyond.length > 0) throw new InvalidScope(`beyond the ceiling of ${client.id}: ${beyond.join(' ')}`)
    checkDetailsCeiling(client, details, target)

    const agent = { kind: client.client.kind, id: client.id }
    const chain: ActorRef[] = human ? [{ kind: 'human', id: human.id }, agent] : [agent]
    const decided = await deps.policy.authorize({
      client: agent,
      mode,
      delegator: human?.id,
      chain,
      resourceServer: target,
      scopes,
      details,
      clientIp: input.clientIp,
      requestId: input.requestId,
      traceparent: input.traceparent,
    })
    // An approval binds the whole action: nothing a policy denies can be approved, and nothing is silently dropped.
    if (decided.denied.length > 0) throw new AccessDenied(`denied by policy: ${decided.denied.join(' ')}`)
    const opened = await deps.approvals
      .open({
        origin: 'backchannel',
        client: { ...client.client, id: client.id },
        mode,
        delegator: human?.id,
        chain,
        resourceServer: target,
        scopes,
        details,
        for: decided.approval?.for ?? [...scopes, ...details.map((d) => String(d.type))],
        rule: decided.approval?.approver,
        bindingMessage: message,
        maxTtlSeconds: decided.maxTtlSeconds,
        expiresInSeconds: expiry === undefined ? undefined : Number(expiry),
        requestId: input.requestId,
        traceparent: input.traceparent,
      })
      .catch((error: unknown) => {
        if (error instanceof ApprovalRefused) throw new AccessDenied(error.message)
        throw error
      })
    return {
      auth_req_id: opened.id,
      expires_in: Math.max(1, Math.round((Date.parse(opened.expires_at) - deps.now()) / 1000)),
      interval: deps.pollIntervalSeconds,
    }
  }
}
