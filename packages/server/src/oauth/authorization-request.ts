// An authorization request (OAuth 2.1 §4.1.1) checked as an ordered list of steps, shared by the authorization
// endpoint and PAR (RFC 9126 §2.1: a pushed request is validated like any other). The first steps decide whether an
// error may be sent to the redirect URI at all: a bad client_id or redirect_uri never redirects (OAuth 2.1 §4.1.2.1).
import { findUnstorable } from '../audit/storable.ts'
import { InvalidRequest, InvalidScope, OAuthError, UnsupportedResponseType } from '../errors/oauth-error.ts'
import type { Client, Directory } from '../registry/directory.ts'
import { beyondCeiling, lifecycleBlock } from '../registry/gates.ts'
import type { Agent, Stored } from '../registry/model.ts'
import { matchRedirectUri } from '../registry/redirect-uris.ts'
import { parseAuthorizationDetails, parseScope, resolveTarget } from './target.ts'

/** RFC 9126 §2.2: the URN prefix of a pushed request's reference. */
export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:'

/** A mandate asked without `duration` lasts a day (the human may shorten it). */
export const DEFAULT_DURATION_SECONDS = 86_400

/** A validated authorization request: what the consent page shows and the code is bound to. */
export interface AuthorizationRequest {
  client_id: string
  /** The redirect URI the response goes to, exactly as requested (or the only registered one). */
  redirect_uri: string
  /** Whether `redirect_uri` was in the request: the token request must then repeat it (RFC 6749 §4.1.3). */
  redirect_uri_sent: boolean
  state?: string
  /** PKCE (RFC 7636 §4.2), always S256. */
  code_challenge: string
  scope: string[]
  /** The resource server's id and audience (RFC 8707). */
  resource_server: { id: string; audience: string }
  authorization_details?: Array<Record<string, unknown>>
  /** Mandate's extension parameters: the mandate's lifetime asked for, and a call budget. */
  duration_seconds: number
  max_calls?: number
}

/**
 * Refused before a redirect URI is trusted (unknown or unfit client, redirect URI not registered): shown as a 400 page
 * to the human, never redirected.
 */
export class UnsafeAuthorizationRequest extends Error {
  constructor(
    message: string,
    /** The OAuth error code the page names. */
    readonly code: 'invalid_request' | 'invalid_request_uri' | 'invalid_client' = 'invalid_request',
  ) {
    super(message)
  }
}

/** A refusal that goes back to the client's redirect URI, with `state` and `iss`. */
export class RedirectedError extends Error {
  constructor(
    readonly error: OAuthError,
    readonly redirectUri: string,
    readonly state: string | undefined,
  ) {
    super(error.message)
  }
}

export interface AuthorizationRequestContext {
  directory: Directory
  now: () => number
  /** The longest mandate a request may ask for (seconds). */
  maxDurationSeconds: number
}

// OAuth 2.1 §4.1.1 and RFC 8707 §2: each parameter once, except resource.
const REPEATABLE = new Set(['resource'])
// RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters.
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/

/** Step 1: single-valued parameters; repeats of single-valued ones, NUL and lone surrogates refused. */
export function parseAuthorizationParams(query: Readonly<Record<string, string | string[] | undefined>>): {
  params: Record<string, string>
  resources: string[]
} {
  const params: Record<string, string> = {}
  const resources: string[] = []
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined) continue
    const values = Array.isArray(value) ? value : [value]
    for (const v of values) {
      const bad = findUnstorable(v)
      if (bad || v.length > 8192) throw new UnsafeAuthorizationRequest(`${name} is not acceptable`)
    }
    if (REPEATABLE.has(name)) resources.push(...values)
    else if (values.length > 1) throw new UnsafeAuthorizationRequest(`${name} must not be repeated`)
    else params[name] = values[0] as string
  }
  return { params, resources }
}

/** Step 2: the client, an active agent that may act for humans and has redirect URIs. */
export function findAuthorizingAgent(
  directory: Directory,
  clientId: string | undefined,
  now: number,
): Stored<Agent> {
  if (!clientId) throw new UnsafeAuthorizationRequest('client_id is required')
  const client: Client | undefined = directory.client(clientId)
  if (client?.kind !== 'agent')
    throw new UnsafeAuthorizationRequest('client_id names no agent', 'invalid_client')
  const agent = client.principal
  if (!agent.redirect_uris || agent.redirect_uris.length === 0)
    throw new UnsafeAuthorizationRequest(`agent ${clientId} has no registered redirect_uris`)
  if (agent.classification === 'autonomous')
    throw new UnsafeAuthorizationRequest(`agent ${clientId} is autonomous: it does not act for a human`)
  if (lifecycleBlock(directory, client, new Date(now)))
    throw new UnsafeAuthorizationRequest(`agent ${clientId} cannot be authorized now`)
  return agent
}

/** Step 3: the redirect URI, matched exactly against the registered ones; required when several are registered. */
export function chooseRedirectUri(agent: Agent, requested: string | undefined): string {
  const registered = agent.redirect_uris ?? []
  if (requested === undefined) {
    if (registered.length === 1) return registered[0] as string
    throw new UnsafeAuthorizationRequest('redirect_uri is required: the agent registered several')
  }
  if (!matchRedirectUri(registered, requested))
    throw new UnsafeAuthorizationRequest('redirect_uri is not one the agent registered')
  return requested
}

/**
 * Validates a request's parameters (already single-valued) into an AuthorizationRequest. Throws
 * UnsafeAuthorizationRequest before the redirect URI is trusted, RedirectedError after.
 */
export function validateAuthorizationRequest(
  params: Readonly<Record<string, string>>,
  resources: readonly string[],
  ctx: AuthorizationRequestContext,
): AuthorizationRequest {
  const agent = findAuthorizingAgent(ctx.directory, params.client_id, ctx.now())
  const redirectUri = chooseRedirectUri(agent, params.redirect_uri)
  const state = params.state
  try {
    return {
      client_id: agent.id,
      redirect_uri: redirectUri,
      redirect_uri_sent: params.redirect_uri !== undefined,
      ...(state !== undefined ? { state } : {}),
      ...checkRest(agent, params, resources, ctx),
    }
  } catch (error) {
    if (error instanceof OAuthError) throw new RedirectedError(error, redirectUri, state)
    throw error
  }
}

// Steps 4 on: response type, PKCE, what is asked (scope, resource, authorization details, duration, budget).
function checkRest(
  agent: Agent,
  params: Readonly<Record<string, string>>,
  resources: readonly string[],
  ctx: AuthorizationRequestContext,
): Omit<AuthorizationRequest, 'client_id' | 'redirect_uri' | 'redirect_uri_sent' | 'state'> {
  if (params.request !== undefined) throw new InvalidRequest('request objects are not supported; use PAR')
  if (params.response_type === undefined) throw new InvalidRequest('response_type is required')
  // OAuth 2.1 §4.1.1: the code flow only; no implicit, no hybrid.
  if (params.response_type !== 'code')
    throw new UnsupportedResponseType(`response_type ${params.response_type} is not supported; use code`)
  checkPkce(params)
  const scope = parseScope(params.scope)
  const target = resolveTarget(ctx.directory, resources, scope)
  const details = parseAuthorizationDetails(params.authorization_details, target)
  if (scope.length === 0 && !details) throw new InvalidScope('scope or authorization_details is required')
  const beyond = beyondCeiling(agent, [...scope, ...(details ?? []).map((d) => String(d.type))], target)
  if (beyond.length > 0) throw new InvalidScope(`beyond the ceiling of ${agent.id}: ${beyond.join(' ')}`)
  return {
    code_challenge: params.code_challenge as string,
    scope,
    resource_server: { id: target.id, audience: target.audience },
    ...(details ? { authorization_details: details } : {}),
    duration_seconds:
      integerParam(params, 'duration', 60, ctx.maxDurationSeconds) ??
      Math.min(DEFAULT_DURATION_SECONDS, ctx.maxDurationSeconds),
    ...optional('max_calls', integerParam(params, 'max_calls', 1, 1_000_000_000)),
  }
}

// OAuth 2.1 -16 §4.1.1: code_challenge_method is required and only S256 is accepted; `plain` is prohibited.
function checkPkce(params: Readonly<Record<string, string>>): void {
  if (params.code_challenge === undefined) throw new InvalidRequest('code_challenge is required (PKCE)')
  if (params.code_challenge_method === undefined)
    throw new InvalidRequest('code_challenge_method is required; use S256')
  if (params.code_challenge_method !== 'S256')
    throw new InvalidRequest(
      `code_challenge_method ${params.code_challenge_method} is not supported; use S256`,
    )
  if (!S256_CHALLENGE.test(params.code_challenge))
    throw new InvalidRequest('code_challenge must be 43 base64url characters (S256)')
}

function integerParam(
  params: Readonly<Record<string, string>>,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const text = params[name]
  if (text === undefined) return undefined
  if (!/^[0-9]{1,10}$/.test(text) || Number(text) < min || Number(text) > max)
    throw new InvalidRequest(`${name} must be an integer from ${min} to ${max}`)
  return Number(text)
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V }
}
