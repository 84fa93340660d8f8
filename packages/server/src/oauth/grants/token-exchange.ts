// RFC 8693 token exchange for delegation: an agent acts for a human (or for the agent that delegated to it). Mandate
// builds the act chain itself, narrows scope and resource along the chain, and never outlives the subject token.
import type { ActorRef } from '../../audit/event.ts'
import { ExternalTokenRejected } from '../../authn/trusted-token.ts'
import {
  InvalidRequest,
  InvalidScope,
  InvalidTarget,
  MandateRevoked,
  UnauthorizedClient,
} from '../../errors/oauth-error.ts'
import type { Client } from '../../registry/directory.ts'
import { beyondCeiling } from '../../registry/gates.ts'
import { HumanNotBound } from '../../registry/human-identities.ts'
import type { Human, Stored } from '../../registry/model.ts'
import type { ActClaim, Confirmation } from '../../tokens/access-token.ts'
import { type MandateTokenClaims, TokenRejected } from '../../tokens/token-verifier.ts'
import { TXN_TOKEN_TYPE } from '../../tokens/txn-token.ts'
import { issueAccessToken, issueTransactionToken } from '../issue.ts'
import { coveringMandate, mandateFacts, spendOn } from '../mandate.ts'
import { proveBinding } from '../sender-constraint.ts'
import { parseAuthorizationDetails, parseScope, required, resolveTarget } from '../target.ts'
import {
  authorizeByPolicy,
  checkDetailsCeiling,
  type Grant,
  type GrantContext,
  type TokenRequest,
} from './grant.ts'
import {
  checkTransactionRequest,
  jsonParameter,
  replaceTransactionToken,
  requestContext,
} from './txn-token.ts'

/** RFC 8693 §2.1 grant type. */
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'

/** RFC 8693 §3 token type identifiers. */
export const TokenType = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
} as const

/** Who the new token is about and what the subject token allows. */
interface Subject {
  human: Stored<Human>
  /** The actors already in the chain, outermost (most recent) first. */
  chain: ActClaim | undefined
  /** Scopes the subject token carries. */
  scopes: string[]
  /** The subject token's expiry, epoch seconds. */
  exp: number
  /** For a Mandate subject token: the resource it is bound to, which the new token may not leave. */
  audience?: string
  /** The binding of a sender-constrained subject token, which this request proved: the new token keeps it. */
  binding?: Confirmation | undefined
  /** For a Mandate subject token: the mandate it was issued under, which the new token keeps (with its limits). */
  mandateId?: string | undefined
}

function scopesOf(claims: Record<string, unknown>): string[] {
  if (typeof claims.scope === 'string') return claims.scope.split(' ').filter(Boolean)
  if (Array.isArray(claims.scp)) return claims.scp.filter((s): s is string => typeof s === 'string')
  return []
}

function chainDepth(act: ActClaim | undefined): number {
  let depth = 0
  for (let a: ActClaim | undefined = act; a; a = a.act) depth++
  return depth
}

function chainActors(act: ActClaim | undefined): string[] {
  const actors: string[] = []
  for (let a: ActClaim | undefined = act; a; a = a.act) actors.push(a.sub)
  return actors
}

const BASE64URL = /^[A-Za-z0-9_+/=-]+$/

// The payload's `iss`, unverified: it only routes the token to its verifier. What jose's decodeJwt accepts (three
// base64url parts whose second is a JSON object), with one decode instead of its several steps.
function unverifiedIssuer(token: string): string | undefined {
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  const payload = first < 0 || second < 0 ? '' : token.slice(first + 1, second)
  if (token.indexOf('.', second + 1) >= 0 || !BASE64URL.test(payload))
    throw new InvalidRequest('subject_token is not a JWT')
  let claims: unknown
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  } catch {
    throw new InvalidRequest('subject_token is not a JWT')
  }
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims))
    throw new InvalidRequest('subject_token is not a JWT')
  const iss = (claims as { iss?: unknown }).iss
  return typeof iss === 'string' ? iss : undefined
}

/** RFC 8693 §4.1: keep only `sub` and nested `act` from a chain we issued ourselves. */
function sanitizeChain(value: unknown, depth = 0): ActClaim | undefined {
  if (depth > 16 || value === null || typeof value !== 'object') return undefined
  const { sub, act } = value as { sub?: unknown; act?: unknown }
  if (typeof sub !== 'string') return undefined
  const inner = sanitizeChain(act, depth + 1)
  return inner ? { sub, act: inner } : { sub }
}

/** Step: the subject token, a human's token from the company IdP or one Mandate issued. */
async function verifySubject(
  request: TokenRequest,
  actor: Client & { id: string },
  ctx: GrantContext,
): Promise<Subject> {
  const token = required(request.params, 'subject_token')
  const type = required(request.params, 'subject_token_type')
  if (!Object.values(TokenType).includes(type as (typeof TokenType)[keyof typeof TokenType])) {
    throw new InvalidRequest(`subject_token_type ${type} is not supported`)
  }
  // The issuer claim routes the token to the right verifier; each verifier then checks it for real.
  if (unverifiedIssuer(token) === ctx.issuer()) {
    const mandateToken = await ctx.verifier.verify(token).catch((error: unknown) => {
      if (error instanceof TokenRejected)
        throw new InvalidRequest('subject_token is not a valid, unexpired token from this server')
      throw error
    })
    if (await ctx.revocations.isRevoked(mandateToken)) {
      // Revoked with its mandate: say so, as an exchange under a revoked mandate answers.
      const mandateId = mandateToken.mandate_id
      const mandate =
        typeof mandateId === 'string' ? await ctx.mandates.get(mandateId).catch(() => undefined) : undefined
      if (mandate?.status === 'revoked')
        throw new MandateRevoked(
          `mandate ${mandate.id} has been revoked: subject_token is no longer valid`,
          mandate.id,
        )
      throw new InvalidRequest('subject_token has been revoked')
    }
    // A sender-constrained token is no bearer token for whoever exchanges it, its own client or a sub-agent alike.
    const binding = proveBinding(mandateToken.cnf, request, 'subject_token')
    return { ...fromMandateToken(mandateToken, actor, ctx), binding }
  }
  try {
    const { issuer, claims } = await ctx.trustedTokens.verify(token, 'human_idp')
    // A token already delegated elsewhere is not a human's own grant: its act chain is not ours to extend.
    if ('act' in claims) throw new InvalidRequest('subject_token already carries an act claim')
    checkMayAct(claims.may_act, actor.id)
    const binding = proveBinding(claims.cnf, request, 'subject_token')
    const human = await ctx.humans.resolve(issuer, claims, request)
    // The mandate, not a `scope` claim of the IdP's token, says what the agent may do for the human.
    return { human, chain: undefined, scopes: [], exp: claims.exp, binding }
  } catch (error) {
    if (error instanceof ExternalTokenRejected || error instanceof HumanNotBound)
      throw new InvalidRequest(`subject_token is not acceptable: ${error.message}`)
    throw error
  }
}

// A Mandate token can be exchanged by the client it was issued to, by the actor it names in may_act, or by a
// sub-agent of the agent currently acting in it (delegation down the agent tree).
function fromMandateToken(
  claims: MandateTokenClaims,
  actor: Client & { id: string },
  ctx: GrantContext,
): Subject {
  const chain = sanitizeChain(claims.act)
  if (!chain) throw new InvalidRequest('subject_token is not a delegated token')
  const currentActor = chain.sub
  const parent = actor.kind === 'agent' ? actor.principal.parent : undefined
  const allowed = claims.client_id === actor.id || claims.may_act?.sub === actor.id || parent === currentActor
  if (!allowed)
    throw new InvalidRequest(
      'subject_token was issued to another client, which did not allow this actor (may_act)',
    )
  const human = findHuman(ctx, claims.sub)
  return {
    human,
    chain,
    scopes: scopesOf(claims),
    exp: claims.exp,
    audience: claims.aud,
    mandateId: claims.mandate_id,
  }
}

function checkMayAct(mayAct: unknown, actorId: string): void {
  if (mayAct === undefined) return
  // RFC 8693 §4.4: only the named party may act for the subject.
  if (mayAct === null || typeof mayAct !== 'object' || (mayAct as { sub?: unknown }).sub !== actorId) {
    throw new InvalidRequest('the subject token does not allow this actor (may_act)')
  }
}

// A Mandate token names the human by registry id.
function findHuman(ctx: GrantContext, sub: string): Stored<Human> {
  const human = ctx.directory.human(sub)
  if (human?.status !== 'active') throw new InvalidRequest('the subject is not an active registered human')
  return human
}

export const tokenExchange: Grant = {
  type: TOKEN_EXCHANGE,
  clientAuthentication: 'required',
  async handle(request, client, ctx) {
    if (!client) throw new UnauthorizedClient('client authentication is required')
    const actor = client.client
    if (actor.kind !== 'agent') throw new UnauthorizedClient("only agents act on a user's behalf")
    // The platform decides the mode: an autonomous agent never acts for a human.
    if (actor.principal.classification === 'autonomous')
      throw new UnauthorizedClient(`agent ${client.id} is autonomous: it does not act on a user's behalf`)
    // RFC 8693 §2.1: actor_token_type is required exactly when actor_token is present.
    if ((request.params.actor_token === undefined) !== (request.params.actor_token_type === undefined)) {
      throw new InvalidRequest('actor_token and actor_token_type go together')
    }
    if (request.params.actor_token !== undefined) {
      const actorClaims = await ctx.verifier.verify(request.params.actor_token).catch(() => {
        throw new InvalidRequest('actor_token is not acceptable')
      })
      if (actorClaims.sub !== client.id)
        throw new InvalidRequest('actor_token does not name the authenticated client')
      if (await ctx.revocations.isRevoked(actorClaims))
        throw new InvalidRequest('actor_token has been revoked')
      proveBinding(actorClaims.cnf, request, 'actor_token')
    }
    const requestedType = request.params.requested_token_type ?? TokenType.accessToken
    if (requestedType !== TokenType.accessToken && requestedType !== TXN_TOKEN_TYPE)
      throw new InvalidRequest(`requested_token_type ${requestedType} is not supported`)
    const transaction = requestedType === TXN_TOKEN_TYPE
    // A transaction token as the subject: only ever replaced by one for the same transaction.
    if (request.params.subject_token_type === TXN_TOKEN_TYPE)
      return replaceTransactionToken(request, client, ctx, required(request.params, 'subject_token'))
    const txnScope = transaction ? checkTransactionRequest(request, ctx) : undefined
    const tctx = transaction ? jsonParameter(request, 'request_details') : undefined

    const subject = await verifySubject(request, { ...actor, id: client.id }, ctx)
    // An agent narrowing a token it already acts in stays one actor; anyone else becomes the new outermost actor.
    const act: ActClaim =
      subject.chain?.sub === client.id
        ? subject.chain
        : subject.chain
          ? { sub: client.id, act: subject.chain }
          : { sub: client.id }
    const depth = chainDepth(act)
    if (depth > ctx.maxDelegationDepth)
      throw new InvalidRequest(
        `the delegation chain would be ${depth} deep; at most ${ctx.maxDelegationDepth}`,
      )

    const requested = parseScope(request.params.scope)
    // For a transaction token, `audience` names the trust domain, not a resource server.
    const resources = [
      ...request.resources,
      ...(transaction ? [] : request.audiences.filter((a) => ctx.directory.resourceServer(a))),
    ]
    const target = resolveTarget(ctx.directory, [...new Set(resources)], requested)
    if (subject.audience !== undefined && subject.audience !== target.audience)
      throw new InvalidTarget('a delegated token cannot be exchanged for another resource')
    const details = parseAuthorizationDetails(request.params.authorization_details, target)
    // The mandate that covers the request: the human's grant to this agent, or, for a token issued under a mandate,
    // that same mandate. Without a requested scope, the mandate's actions on this resource (of a Mandate subject
    // token: the token's) are asked.
    const fromMandateToken = subject.chain !== undefined
    if (fromMandateToken && subject.mandateId === undefined)
      throw new InvalidScope('no mandate covers this request: the subject token was issued under none')
    const asked =
      requested.length > 0
        ? requested
        : fromMandateToken
          ? subject.scopes.filter((s) => target.scopes.includes(s))
          : []
    const coverage = await coveringMandate(ctx, {
      human: subject.human.id,
      agent: client.id,
      actions: asked,
      resourceServer: target,
      details: details ?? [],
      mandateId: subject.mandateId,
    })
    const mandate = coverage.mandate
    // Scope narrows along the chain: request ∩ mandate ∩ subject token ∩ the agent's ceiling ∩ policy.
    const scopes =
      asked.length > 0
        ? asked
        : mandate.actions.filter(
            (s) => target.scopes.includes(s) && !beyondCeiling(actor.principal, [s], target).length,
          )
    if (scopes.length === 0 && (details ?? []).length === 0)
      throw new InvalidScope(`scope is required: mandate ${mandate.id} grants none on ${target.audience}`)
    if (fromMandateToken) {
      const beyondSubject = scopes.filter((s) => !subject.scopes.includes(s))
      if (beyondSubject.length > 0)
        throw new InvalidScope(`beyond what the subject token grants: ${beyondSubject.join(' ')}`)
    }
    const beyond = beyondCeiling(actor.principal, scopes, target)
    if (beyond.length > 0) throw new InvalidScope(`beyond the ceiling of ${client.id}: ${beyond.join(' ')}`)
    checkDetailsCeiling(client, details, target)
    // Never beyond the mandate's expiry either.
    const notAfter = Math.min(subject.exp, Math.floor(Date.parse(mandate.expires_at) / 1000))

    // Never longer than the subject token has left (issuance caps the lifetime; this refuses before policies run).
    if (subject.exp <= Math.floor(ctx.now() / 1000)) throw new InvalidRequest('subject_token has expired')
    // The chain, the human first, so agent actions are never mistaken for the human's own.
    const actors: ActorRef[] = [
      { kind: 'human', id: subject.human.id },
      ...chainActors(act)
        .reverse()
        .map((id) => ({ kind: 'agent' as const, id })),
    ]
    // Policies decide each scope for this action: the token carries only what they allow.
    const allowed = await authorizeByPolicy(
      request,
      ctx,
      {
        client: { kind: 'agent', id: client.id },
        mode: 'delegated',
        delegator: subject.human.id,
        chain: actors,
        resourceServer: target,
        scopes,
        details: details ?? [],
        mandate: mandateFacts(mandate),
      },
      { notAfter: subject.exp },
    )
    const effect = spendOn(mandate, coverage.amount)
    if (txnScope !== undefined) {
      if (!allowed.scopes.includes(txnScope)) throw new InvalidScope(`denied by policy: ${txnScope}`)
      return issueTransactionToken(ctx, {
        client,
        subject: subject.human.id,
        scope: txnScope,
        act,
        actors,
        mandateId: mandate.id,
        effect,
        notAfter,
        maxTtlSeconds: allowed.maxTtlSeconds,
        tctx,
        rctx: requestContext(request),
        inherited: subject.binding,
      })
    }
    return issueAccessToken(request, ctx, {
      grantType: TOKEN_EXCHANGE,
      client,
      mode: 'delegated',
      subject: subject.human.id,
      resourceServer: target,
      allowed,
      detailsRequested: details !== undefined,
      act,
      actors,
      mandateId: mandate.id,
      effect,
      notAfter,
      inherited: subject.binding,
      issuedTokenType: TokenType.accessToken,
      auditDetails: { chain_depth: depth },
    })
  },
}
