// Token introspection (RFC 7662): a resource server (through a client registered to introspect its tokens) or the
// token's own client learns whether a Mandate token is active, with its chain and confirmation key. Anything not
// active, and any token the caller may not introspect, answers exactly {"active": false}.
import {
  authenticateActiveClient,
  type ClientAuthContext,
  type ClientCertificate,
} from '../authn/client-authentication.ts'
import { InvalidRequest } from '../errors/oauth-error.ts'
import type { Directory } from '../registry/directory.ts'
import { lifecycleBlock } from '../registry/gates.ts'
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
  /** Resource servers, for who may introspect their tokens. */
  directory: Directory
  verifier: TokenVerifier
  revocations: Revocations
}

/** RFC 7662 §2.2 answer. */
export type IntrospectionResponse = { active: false } | ({ active: true } & Record<string, unknown>)

/** Serves introspection requests. */
export class IntrospectionEndpoint {
  constructor(private readonly deps: TokenManagementDeps) {}

  /**
   * Answers for one token. The caller must authenticate (RFC 7662 §2.1) and be allowed to learn about this token
   * (RFC 7662 §4: no token scanning): one of the `introspection_clients` of the resource server the token is for, or
   * the client the token was issued to. Anyone else gets `{"active": false}`, as for an unknown token.
   */
  async handle(input: TokenManagementInput): Promise<IntrospectionResponse> {
    const request = parseTokenRequest(input.form)
    const caller = await authenticateActiveClient(
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
    if (!this.mayIntrospect(caller.id, claims)) return { active: false }
    if (await this.deps.revocations.isRevoked(claims)) return { active: false }
    // A token whose client may no longer act (suspended, retired, expired, no active sponsor or parent) is not
    // active either: a suspended agent is stopped on every path, the resource servers that introspect included.
    const client = this.deps.directory.client(claims.client_id)
    if (!client || lifecycleBlock(this.deps.directory, client, new Date()) !== null) return { active: false }
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
      ...(claims.mandate_id ? { mandate_id: claims.mandate_id } : {}),
    }
  }

  private mayIntrospect(callerId: string, claims: { aud: string; client_id: string }): boolean {
    if (claims.client_id === callerId) return true
    return this.deps.directory.resourceServer(claims.aud)?.introspection_clients?.includes(callerId) ?? false
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
