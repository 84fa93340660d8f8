// RFC 8693 token exchange for delegation: an agent acts for a human (or for the agent that delegated to it). Mandate
// builds the act chain itself, narrows scope and resource along the chain, and never outlives the subject token.
import { decodeJwt } from 'jose'
import type { ActorRef } from '../../audit/event.ts'
import { ExternalTokenRejected, verifyTrustedToken } from '../../authn/trusted-token.ts'
import { InvalidRequest, InvalidScope, InvalidTarget, UnauthorizedClient } from '../../errors/oauth-error.ts'
import { ceilingAllows } from '../../registry/ceiling.ts'
import type { Client } from '../../registry/directory.ts'
import { HumanNotBound } from '../../registry/human-identities.ts'
import type { Human, Stored } from '../../registry/model.ts'
import type { ActClaim } from '../../tokens/access-token.ts'
import { type MandateTokenClaims, TokenRejected } from '../../tokens/token-verifier.ts'
import { TXN_TOKEN_TYPE } from '../../tokens/txn-token.ts'
import { parseAuthorizationDetails, parseScope, required, resolveTarget } from '../target.ts'
import { authorizeByPolicy, boundTo, type Grant, type GrantContext, type TokenRequest } from './grant.ts'
import {
  checkTransactionRequest,
  issueTransactionToken,
  jsonParameter,
  replaceTransactionToken,
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

function unverifiedIssuer(token: string): string | undefined {
  try {
    const iss = decodeJwt(token).iss
    return typeof iss === 'string' ? iss : undefined
  } catch {
    throw new InvalidRequest('subject_token is not a JWT')
  }
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
    if (await ctx.revocations.isRevoked(mandateToken))
      throw new InvalidRequest('subject_token has been revoked')
    return fromMandateToken(mandateToken, actor, ctx)
  }
  try {
    const { issuer, claims } = await verifyTrustedToken(token, 'human_idp', {
      directory: ctx.directory,
      jwks: ctx.jwks,
      defaultAudiences: ctx.audiences(),
      clockSkewSeconds: ctx.clockSkewSeconds,
      now: ctx.now(),
    })
    // A token already delegated elsewhere is not a human's own grant: its act chain is not ours to extend.
    if ('act' in claims) throw new InvalidRequest('subject_token already carries an act claim')
    checkMayAct(claims.may_act, actor.id)
    const human = await ctx.humans.resolve(issuer, claims, request)
    return { human, chain: undefined, scopes: scopesOf(claims), exp: claims.exp }
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
  return { human, chain, scopes: scopesOf(claims), exp: claims.exp, audience: claims.aud }
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
    // Scope narrows along the chain: request ∩ subject token ∩ the agent's ceiling, and never beyond any of them.
    const scopes = requested.length > 0 ? requested : subject.scopes.filter((s) => target.scopes.includes(s))
    if (scopes.length === 0)
      throw new InvalidScope('scope is required: the subject token grants none for this resource')
    const beyondSubject = scopes.filter((s) => !subject.scopes.includes(s))
    if (beyondSubject.length > 0)
      throw new InvalidScope(`beyond what the subject token grants: ${beyondSubject.join(' ')}`)
    const beyondCeiling = scopes.filter((s) => !ceilingAllows(actor.principal.ceiling, s, target.audience))
    if (beyondCeiling.length > 0)
      throw new InvalidScope(`beyond the ceiling of ${client.id}: ${beyondCeiling.join(' ')}`)
    const details = parseAuthorizationDetails(request.params.authorization_details, target)

    // Never longer than the subject token has left.
    const remaining = subject.exp - Math.floor(ctx.now() / 1000)
    if (remaining <= 0) throw new InvalidRequest('subject_token has expired')
    // The chain, the human first, so agent actions are never mistaken for the human's own.
    const actors: ActorRef[] = [
      { kind: 'human', id: subject.human.id },
      ...chainActors(act)
        .reverse()
        .map((id) => ({ kind: 'agent' as const, id })),
    ]
    // Policies decide each scope for this action: the token carries only what they allow.
    const allowed = await authorizeByPolicy(request, ctx, {
      client: { kind: 'agent', id: client.id },
      mode: 'delegated',
      delegator: subject.human.id,
      chain: actors,
      resourceServer: target,
      scopes,
      details: details ?? [],
    })
    const granted = allowed.scopes
    if (txnScope !== undefined) {
      if (!granted.includes(txnScope)) throw new InvalidScope(`denied by policy: ${txnScope}`)
      return issueTransactionToken(request, client, ctx, {
        sub: subject.human.id,
        scope: txnScope,
        act,
        actors,
        remainingSeconds: remaining,
        maxTtlSeconds: allowed.maxTtlSeconds,
        tctx,
      })
    }
    const grantedDetails = details ? allowed.details : undefined
    const lifetimeSeconds = Math.min(
      target.token_lifetime_seconds,
      ctx.maxTokenLifetimeSeconds,
      remaining,
      allowed.maxTtlSeconds ?? Number.POSITIVE_INFINITY,
    )
    const minted = ctx.minter.mint({
      sub: subject.human.id,
      client_id: client.id,
      aud: target.audience,
      scope: granted,
      act,
      ...(grantedDetails?.length ? { authorization_details: grantedDetails } : {}),
      lifetimeSeconds,
      // RFC 9449 §6 or RFC 8705 §3: bound to the DPoP key, else to the certificate the client authenticated with.
      ...boundTo(request, client),
    })
    return {
      response: {
        access_token: minted.token,
        issued_token_type: TokenType.accessToken,
        // RFC 9449 §5: a DPoP-bound token is of type DPoP.
        token_type: request.dpopJkt ? 'DPoP' : 'Bearer',
        expires_in: lifetimeSeconds,
        scope: granted.join(' '),
        ...(grantedDetails?.length ? { authorization_details: grantedDetails } : {}),
      },
      audit: {
        type: 'token.issue',
        outcome: 'success',
        actors,
        mode: 'delegated',
        action: granted.join(' '),
        resource: target.audience,
        details: {
          grant_type: TOKEN_EXCHANGE,
          jti: minted.jti,
          exp: minted.exp,
          client_auth: client.method,
          chain_depth: depth,
          ...(allowed.denied.length > 0 ? { denied_by_policy: allowed.denied } : {}),
        },
      },
    }
  },
}
