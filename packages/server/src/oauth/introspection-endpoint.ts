// Token introspection (RFC 7662): authenticated clients learn whether a Mandate token is active, with its chain
// and confirmation key. Anything not active answers exactly {"active": false}.
import {
  authenticateActiveClient,
  type ClientAuthContext,
  type ClientCertificate,
} from '../authn/client-authentication.ts'
import { InvalidRequest } from '../errors/oauth-error.ts'
import type { Revocations } from '../tokens/revocations.ts'
import { TokenRejected, type TokenVerifier } from '../tokens/token-verifier.ts'
import { parseTokenRequest } from './token-endpoint.ts'

/** An introspection or revocation request as the HTTP layer hands it over. */
export interface TokenManagementInput {
  form: Readonly<Record<string, string | string[] | undefined>>
  authorization?: string | undefined
  certificate?: ClientCertificate | undefined
  requestId?: string | undefined
}

export interface TokenManagementDeps {
  clientAuth: ClientAuthContext
  verifier: TokenVerifier
  revocations: Revocations
}

/** RFC 7662 §2.2 answer. */
export type IntrospectionResponse = { active: false } | ({ active: true } & Record<string, unknown>)

/** Serves introspection requests. */
export class IntrospectionEndpoint {
  constructor(private readonly deps: TokenManagementDeps) {}

  /** Answers for one token; the caller must authenticate (RFC 7662 §2.1: no token scanning by strangers). */
  async handle(input: TokenManagementInput): Promise<IntrospectionResponse> {
    const request = parseTokenRequest(input.form)
    await authenticateActiveClient(
      { params: request.params, authorization: input.authorization, certificate: input.certificate },
      this.deps.clientAuth,
    )
    const token = request.params.token
    if (!token) throw new InvalidRequest('token is required')
    let claims: Awaited<ReturnType<TokenVerifier['verify']>>
    try {
      claims = await this.deps.verifier.verify(token)
    } catch (error) {
      if (error instanceof TokenRejected) return { active: false }
      throw error
    }
    if (await this.deps.revocations.isRevoked(claims)) return { active: false }
    return {
      active: true,
      iss: claims.iss,
      sub: claims.sub,
      aud: claims.aud,
      client_id: claims.client_id,
      iat: claims.iat,
      exp: claims.exp,
      jti: claims.jti,
      token_type: claims.cnf && 'jkt' in claims.cnf ? 'DPoP' : 'Bearer',
      ...(claims.scope ? { scope: claims.scope } : {}),
      ...(claims.act ? { act: claims.act } : {}),
      ...(claims.cnf ? { cnf: claims.cnf } : {}),
      ...(claims.authorization_details ? { authorization_details: claims.authorization_details } : {}),
    }
  }
}

/** Serves revocation requests (RFC 7009): a client revokes tokens issued to it; anything else is silently ignored. */
export class RevocationEndpoint {
  constructor(private readonly deps: TokenManagementDeps) {}

  async handle(input: TokenManagementInput): Promise<void> {
    const request = parseTokenRequest(input.form)
    const client = await authenticateActiveClient(
      { params: request.params, authorization: input.authorization, certificate: input.certificate },
      this.deps.clientAuth,
    )
    const token = request.params.token
    if (!token) throw new InvalidRequest('token is required')
    let claims: Awaited<ReturnType<TokenVerifier['verify']>>
    try {
      claims = await this.deps.verifier.verify(token)
    } catch (error) {
      // RFC 7009 §2.2: an invalid token is answered 200 like a revoked one.
      if (error instanceof TokenRejected) return
      throw error
    }
    if (claims.client_id !== client.id) return
    await this.deps.revocations.revoke(
      { kind: 'token', jti: claims.jti, exp: claims.exp },
      {
        actor: { kind: client.client.kind, id: client.id },
        reason: 'revoked by its client',
        requestId: input.requestId,
      },
    )
  }
}
