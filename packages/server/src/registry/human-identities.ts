// Which human a human IdP's token names: the human bound to exactly its issuer and subject; failing that, where the
// issuer allows it, the one human with the token's verified email, who is then bound (durably, audited) so that the
// next token is matched by its subject. A subject's value alone never names a human, so no IdP asserts another's users.
import type { Directory } from './directory.ts'
import { mayBindByEmail } from './identity-rules.ts'
import type { Human, Stored, TrustedIssuer } from './model.ts'
import type { Registry } from './registry.ts'

/** Why a verified human IdP token names no human that may be acted for. */
export class HumanNotBound extends Error {}

/** The claims of a verified human IdP token that name its human. */
export interface HumanClaims {
  sub: string
  email?: unknown
  email_verified?: unknown
}

/** The request a token came with, for the audit record of a binding. */
export interface Trace {
  requestId?: string | undefined
  traceparent?: string | undefined
}

/** Resolves verified human IdP tokens to registered humans; created by the wiring. */
export class HumanIdentities {
  constructor(private readonly deps: { directory: Directory; registry: Registry }) {}

  /**
   * The active human that a token of `issuer` (verified already) names. Throws HumanNotBound otherwise: no binding
   * for its issuer and subject, and no email match the issuer allows; or the human is inactive. `trace` names the
   * request in the audit record of a binding.
   */
  async resolve(
    issuer: Stored<TrustedIssuer>,
    claims: HumanClaims,
    trace: Trace = {},
  ): Promise<Stored<Human>> {
    const human =
      this.deps.directory.humanByIdentity(issuer.issuer, claims.sub) ??
      (await this.bindByEmail(issuer, claims, trace))
    if (human.status !== 'active') throw new HumanNotBound('the human it names is not active')
    return human
  }

  private async bindByEmail(
    issuer: Stored<TrustedIssuer>,
    claims: HumanClaims,
    trace: Trace,
  ): Promise<Stored<Human>> {
    const notBound = new HumanNotBound(
      'its subject is not bound to a registered human at this identity provider',
    )
    // Matching by email is the issuer's opt-in, and only for an email the IdP says it verified: `email_verified` is a
    // boolean (OpenID Connect Core §5.1), so the string "true" is not a verification.
    if (issuer.match_email !== true || claims.email_verified !== true || typeof claims.email !== 'string')
      throw notBound
    const identity = { issuer: issuer.issuer, subject: claims.sub }
    const human = this.deps.directory.humanByEmail(claims.email)
    if (!human) throw notBound
    if (human.status !== 'active') throw new HumanNotBound('the human it names is not active')
    if (!mayBindByEmail(human, identity, claims.email)) throw notBound
    const bound = await this.deps.registry.bindIdentityByEmail(human.id, identity, claims.email, issuer.id, {
      requestId: trace.requestId,
      traceparent: trace.traceparent,
    })
    if (!bound) throw notBound
    return bound
  }
}
