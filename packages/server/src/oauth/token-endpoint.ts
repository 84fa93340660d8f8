// The token endpoint (RFC 6749 §3.2) as an ordered list of steps: parse, pick the grant, authenticate the client,
// check its lifecycle, run the grant, record the issuance durably, answer. Every refusal is recorded too.
import type { AuditRecorder } from '../audit/audit-batcher.ts'
import type { AuditEventInput } from '../audit/event.ts'
import type { RefusalAggregator } from '../audit/refusal-aggregator.ts'
import {
  type AuthenticatedClient,
  authenticateClient,
  type ClientAuthContext,
  type ClientCertificate,
  carriesClientCredentials,
  checkClientLifecycle,
} from '../authn/client-authentication.ts'
import { type FailureLimiter, failureSource } from '../authn/failure-limiter.ts'
import { certificateThumbprint } from '../authn/methods/tls-client-auth.ts'
import {
  InvalidRequest,
  OAuthError,
  RateLimited,
  UnsupportedGrantType,
  UseDpopNonce,
} from '../errors/oauth-error.ts'
import type { RecordedDecision } from '../policy/pdp.ts'
import { type DpopContext, type DpopNonces, verifyDpopProof } from '../tokens/dpop.ts'
import type { Grant, GrantContext, TokenRequest, TokenResponse } from './grants/grant.ts'
import { grants } from './grants/index.ts'

/** A token request as the HTTP layer hands it over. */
export interface TokenEndpointInput {
  /** Form parameters; repeated parameters arrive as arrays. */
  form: Readonly<Record<string, string | string[] | undefined>>
  authorization?: string | undefined
  certificate?: ClientCertificate | undefined
  /** Every `DPoP` header value (RFC 9449); empty when there is none. */
  dpop: readonly string[]
  requestId?: string | undefined
  traceparent?: string | undefined
  /** The client's address as the node sees it (for policies' `context.client_ip`). */
  clientIp?: string | undefined
}

export interface TokenEndpointDeps {
  /** DPoP verification: the replay cache and clock, the token endpoint URL proofs must name, and the nonce policy. */
  dpop: DpopContext & { url: () => string; nonces?: DpopNonces | undefined }
  /** Durable audit records, group-committed. */
  recorder: AuditRecorder
  /** Refusals of callers that proved nothing: the first per source and window in full, the rest counted. */
  refusals: RefusalAggregator
  /** Failed authentications per source: a source over its budget is answered 429 before any work. */
  failures: FailureLimiter
  grant: GrantContext
  clientAuth: ClientAuthContext
  now: () => number
}

// RFC 6749 §3.2 and RFC 8707 §2: parameters may appear once, except resource (and RFC 8693's audience).
const REPEATABLE = new Set(['resource', 'audience'])
// Only well-formed ids are recorded as subjects of a refusal.
const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/

/** Step 1: single-valued parameters, repeatable ones as lists; a repeated single-valued parameter is refused. */
export function parseTokenRequest(form: TokenEndpointInput['form']): TokenRequest {
  const params: Record<string, string | undefined> = {}
  const lists: Record<'resource' | 'audience', string[]> = { resource: [], audience: [] }
  for (const [name, value] of Object.entries(form)) {
    if (value === undefined) continue
    if (REPEATABLE.has(name))
      lists[name as 'resource' | 'audience'].push(...(Array.isArray(value) ? value : [value]))
    else if (Array.isArray(value)) throw new InvalidRequest(`${name} must not be repeated`)
    else params[name] = value
  }
  return { params, resources: lists.resource, audiences: lists.audience }
}

/** Step 2: the grant named by grant_type. */
function selectGrant(request: TokenRequest): Grant {
  const type = request.params.grant_type
  if (!type) throw new InvalidRequest('grant_type is required')
  const grant = grants.get(type)
  if (!grant) throw new UnsupportedGrantType(`grant_type ${type} is not supported`)
  return grant
}

/** Serves token requests. */
export class TokenEndpoint {
  constructor(private readonly deps: TokenEndpointDeps) {}

  /** Handles one request; throws OAuthError for anything the client should be told. */
  async handle(input: TokenEndpointInput): Promise<TokenResponse> {
    let client: AuthenticatedClient | undefined
    let grantType: string | undefined
    let request: TokenRequest | undefined
    try {
      const wait = this.deps.failures.retryAfter(sourceOf(input))
      if (wait > 0)
        throw new RateLimited(`too many failed requests from this address; retry in ${wait} s`, wait)
      request = parseTokenRequest(input.form)
      request.clientIp = input.clientIp
      request.requestId = input.requestId
      request.traceparent = input.traceparent
      if (input.certificate) request.certificateThumbprint = certificateThumbprint(input.certificate)
      grantType = request.params.grant_type
      const grant = selectGrant(request)
      // DPoP before client authentication: a nonce challenge must not use up a one-time client assertion.
      if (input.dpop.length > 0) request.dpopJkt = await this.checkDpop(input)
      client = await this.authenticate(grant, request, input)
      if (client) checkClientLifecycle(client, this.deps.clientAuth)
      const result = await grant.handle(request, client, this.deps.grant)
      // One durable write per token: the issuance's record carries the policy decisions it was issued on.
      const audit = withDecisions(result.audit, request.decisions)
      await this.deps.recorder.record({ ...audit, ...trace(input) }, result.effect)
      return result.response
    } catch (error) {
      // A nonce challenge is a protocol round-trip (RFC 9449 §8), not a refusal worth a record.
      if (error instanceof OAuthError && !(error instanceof UseDpopNonce))
        await this.recordRefusal(error, client, grantType, input, request?.decisions)
      throw error
    }
  }

  /** Step 4: client authentication, required or forbidden by the grant, then its lifecycle. */
  private async authenticate(
    grant: Grant,
    request: TokenRequest,
    input: TokenEndpointInput,
  ): Promise<AuthenticatedClient | undefined> {
    const authRequest = {
      params: request.params,
      authorization: input.authorization,
      certificate: input.certificate,
    }
    if (grant.clientAuthentication === 'none') {
      if (carriesClientCredentials(authRequest))
        throw new InvalidRequest(`${grant.type} takes no client authentication besides its assertion`)
      return undefined
    }
    return authenticateClient(authRequest, this.deps.clientAuth)
  }

  /** Step 3: a DPoP proof (RFC 9449 §4.3), when the client sent one; the issued token will be bound to its key. */
  private async checkDpop(input: TokenEndpointInput): Promise<string> {
    const { url, nonces, ...ctx } = this.deps.dpop
    const proof = await verifyDpopProof(
      { proofs: input.dpop, method: 'POST', url: url(), ...(nonces ? { nonce: nonces } : {}) },
      ctx,
    )
    return proof.jkt
  }

  private async record(event: AuditEventInput): Promise<void> {
    await this.deps.recorder.record(event)
  }

  private async recordRefusal(
    error: OAuthError,
    client: AuthenticatedClient | undefined,
    grantType: string | undefined,
    input: TokenEndpointInput,
    decisions: RecordedDecision[] | undefined,
  ): Promise<void> {
    const claimed = typeof input.form.client_id === 'string' ? input.form.client_id : undefined
    const event: AuditEventInput = withDecisions(
      {
        type: 'token.refuse',
        outcome: 'failure',
        actors: client ? [{ kind: client.client.kind, id: client.id }] : [],
        reason: `${error.code}: ${error.message}`,
        ...(claimed && !client && CLIENT_ID.test(claimed) ? { subjects: [`client:${claimed}`] } : {}),
        details: { grant_type: grantType?.slice(0, 200) ?? null, error: error.code },
        ...trace(input),
      },
      decisions,
    )
    // A refusal after policy decisions is always recorded in full: it is the only record of those decisions.
    if (client || decisions) return this.record(event)
    // Nobody proved who they are: junk is counted, not written one record each, and it drains the source's budget.
    const source = sourceOf(input)
    if (!(error instanceof RateLimited)) this.deps.failures.fail(source)
    await this.deps.refusals.record(source, error instanceof RateLimited ? 'rate_limited' : error.code, event)
  }
}

// Where junk comes from: the address, or its IPv6 /64.
function sourceOf(input: TokenEndpointInput): string {
  return failureSource(input.clientIp ?? 'unknown')
}

// The record of a token's issuance or refusal with the decisions the policies made for it, when they were asked.
function withDecisions(event: AuditEventInput, decisions: RecordedDecision[] | undefined): AuditEventInput {
  if (!decisions || decisions.length === 0) return event
  return { ...event, details: { ...event.details, decisions } }
}

function trace(input: TokenEndpointInput): Pick<AuditEventInput, 'requestId' | 'traceparent'> {
  return {
    ...(input.requestId ? { requestId: input.requestId } : {}),
    ...(input.traceparent ? { traceparent: input.traceparent } : {}),
  }
}
