// Transaction tokens through token exchange (IETF OAuth Transaction Tokens draft): `requested_token_type` txn_token
// yields a `txntoken+jwt` for exactly one action, for the trust domain named in `audience`; a transaction token
// presented as the subject token can only be replaced by one for the same transaction, never widened or revived.
import { findUnstorable } from '../../audit/storable.ts'
import type { AuthenticatedClient } from '../../authn/client-authentication.ts'
import {
  InvalidRequest,
  InvalidScope,
  InvalidTarget,
  MandateExpired,
  MandateRevoked,
} from '../../errors/oauth-error.ts'
import type { ActClaim } from '../../tokens/access-token.ts'
import { TokenRejected } from '../../tokens/token-verifier.ts'
import { TXN_TOKEN_TYPE } from '../../tokens/txn-token.ts'
import { issueTransactionToken } from '../issue.ts'
import { proveBinding } from '../sender-constraint.ts'
import { parseScope } from '../target.ts'
import type { GrantContext, GrantResult, TokenRequest } from './grant.ts'

const MAX_JSON_PARAMETER = 4096

function actorsOf(act: ActClaim | undefined): string[] {
  const actors: string[] = []
  for (let a = act; a && actors.length < 16; a = a.act) actors.push(a.sub)
  return actors
}

/** Checks a transaction token request's own parameters: the trust domain, and exactly one scope. */
export function checkTransactionRequest(request: TokenRequest, ctx: GrantContext): string {
  const domain = ctx.txn.trustDomain()
  if (!request.audiences.includes(domain))
    throw new InvalidTarget(`a transaction token is for the trust domain: audience must be ${domain}`)
  const scopes = parseScope(request.params.scope)
  if (scopes.length !== 1 || !scopes[0])
    throw new InvalidScope('a transaction token is for exactly one action: request one scope')
  return scopes[0]
}

/** Parses `request_context` or `request_details`: a JSON object, small. */
export function jsonParameter(request: TokenRequest, name: string): Record<string, unknown> | undefined {
  const text = request.params[name]
  if (text === undefined) return undefined
  if (text.length > MAX_JSON_PARAMETER) throw new InvalidRequest(`${name} is too large`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new InvalidRequest(`${name} is not JSON`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new InvalidRequest(`${name} must be a JSON object`)
  const unstorable = findUnstorable(value)
  if (unstorable) throw new InvalidRequest(`${name}${unstorable.path} ${unstorable.message}`)
  return value as Record<string, unknown>
}

/** The request environment of a transaction token: what the client says, and the address Mandate saw. */
export function requestContext(request: TokenRequest): Record<string, unknown> {
  return {
    ...jsonParameter(request, 'request_context'),
    ...(request.clientIp ? { req_ip: request.clientIp } : {}),
  }
}

/**
 * Replaces a transaction token for a party of the transaction: same transaction, subject, trust domain, details and
 * action (never another or a wider one); never beyond the original's expiry.
 */
export async function replaceTransactionToken(
  request: TokenRequest,
  client: AuthenticatedClient,
  ctx: GrantContext,
  subjectToken: string,
): Promise<GrantResult> {
  if (request.params.requested_token_type !== TXN_TOKEN_TYPE)
    throw new InvalidRequest('a transaction token can only be replaced by a transaction token')
  const original = await ctx.verifier.verifyTransactionToken(subjectToken).catch((error: unknown) => {
    if (error instanceof TokenRejected)
      throw new InvalidRequest('subject_token is not a valid, unexpired transaction token')
    throw error
  })
  const scope = checkTransactionRequest(request, ctx)
  if (original.aud !== ctx.txn.trustDomain())
    throw new InvalidRequest('subject_token is for another trust domain')
  // Only a party of the transaction replaces its token: the workload that asked for it, or an actor in its chain.
  if (original.req_wl !== client.id && !actorsOf(original.act).includes(client.id))
    throw new InvalidRequest('subject_token belongs to another workload of the transaction')
  const principal = client.client.principal
  if (
    !principal.ceiling.some((entry) => (typeof entry === 'string' ? entry : entry.action) === original.scope)
  )
    throw new InvalidScope(`beyond the ceiling of ${client.id}: ${original.scope}`)
  if (ctx.directory.human(original.sub)?.status !== 'active')
    throw new InvalidRequest('the subject is not an active registered human')
  if (scope !== original.scope)
    throw new InvalidScope(
      `a replacement transaction token cannot widen or change its action (${original.scope})`,
    )
  // A transaction token issued from a sender-constrained token keeps its binding: replacing it needs the same proof.
  const inherited = proveBinding(original.cnf, request, 'subject_token')
  // Issued under a mandate: replaced only while the mandate stands (its budget was spent for the transaction already).
  if (original.mandate_id !== undefined) await checkMandateStands(ctx, original.mandate_id)
  return issueTransactionToken(ctx, {
    client,
    subject: original.sub,
    scope,
    act: original.act,
    actors: [
      { kind: 'human', id: original.sub },
      { kind: client.client.kind, id: client.id },
    ],
    notAfter: original.exp,
    tctx: original.tctx,
    rctx: requestContext(request),
    txn: original.txn,
    inherited,
    mandateId: original.mandate_id,
  })
}

async function checkMandateStands(ctx: GrantContext, id: string): Promise<void> {
  const mandate = await ctx.mandates.get(id).catch(() => undefined)
  if (!mandate || mandate.status === 'revoked') throw new MandateRevoked(`mandate ${id} has been revoked`, id)
  if (Date.parse(mandate.expires_at) <= ctx.now()) throw new MandateExpired(`mandate ${id} has expired`, id)
}
