// Callers of Mandate's own resource endpoints (AuthZEN PEPs, later the gateway) present an access token Mandate
// issued. This checks it as RFC 6750 and RFC 9449 §7 ask of a resource server: signature, issuer, expiry, audience,
// revocation, and the token's binding: a DPoP-bound token only with the DPoP scheme and a proof of its key, an
// mTLS-bound token only over a connection with its certificate.
import { InvalidDpopProof, InvalidToken, UseDpopNonce } from '../errors/oauth-error.ts'
import type { Directory } from '../registry/directory.ts'
import { lifecycleBlock } from '../registry/gates.ts'
import { DPOP_ALGORITHMS, type DpopContext, type DpopNonces, verifyDpopProof } from '../tokens/dpop.ts'
import type { Revocations } from '../tokens/revocations.ts'
import { type MandateTokenClaims, TokenRejected, type TokenVerifier } from '../tokens/token-verifier.ts'
import type { ClientCertificate } from './client-authentication.ts'
import { certificateThumbprint } from './methods/tls-client-auth.ts'

/** What a request presents: its Authorization header, every DPoP header, and where it was sent. */
export interface PresentedToken {
  authorization?: string | undefined
  /** Every `DPoP` header value; empty when there is none. */
  dpop: readonly string[]
  method: string
  /** The request URL as the client addressed it (the proof's `htu` must name it). */
  url: string
  certificate?: ClientCertificate | undefined
}

export interface AccessTokenDeps {
  verifier: TokenVerifier
  revocations: Revocations
  dpop: DpopContext & { nonces?: DpopNonces | undefined }
  /**
   * The registry: a token whose client is no longer registered, or may not act (suspended, retired, expired, without
   * an active sponsor, under an inactive parent agent), is refused as its client would be at the token endpoint.
   */
  directory?: Directory
  now?: () => number
}

/** A caller that proved it holds a valid token for the endpoint. */
export interface AuthenticatedCaller {
  token: string
  claims: MandateTokenClaims
  /** How the token was bound: `dpop` and `mtls` tokens were checked against their key. */
  binding: 'bearer' | 'dpop' | 'mtls'
}

const REALM = 'mandate'

/** Checks access tokens presented to Mandate's own resource endpoints. */
export class AccessTokenAuthenticator {
  constructor(private readonly deps: AccessTokenDeps) {}

  /**
   * Authenticates a request for an endpoint whose tokens carry `audience`; throws InvalidToken (401 with a
   * `WWW-Authenticate` challenge for both schemes) when it cannot.
   * @example
   * const caller = await accessTokens.authenticate(
   *   { authorization: request.headers.authorization, dpop, method: 'POST', url: `${issuer}/access/v1/evaluation` },
   *   `${issuer}/access/v1`,
   * )
   */
  async authenticate(presented: PresentedToken, audience: string): Promise<AuthenticatedCaller> {
    const { scheme, token } = parseAuthorization(presented.authorization)
    let claims: MandateTokenClaims
    try {
      claims = await this.deps.verifier.verify(token)
    } catch (error) {
      if (error instanceof TokenRejected) throw invalidToken(error.message)
      throw error
    }
    if (claims.aud !== audience) throw invalidToken('the access token is for another audience')
    if (await this.deps.revocations.isRevoked(claims)) throw invalidToken('the access token was revoked')
    const { directory } = this.deps
    if (directory) {
      const client = directory.client(claims.client_id)
      if (!client) throw invalidToken(`the access token's client ${claims.client_id} is not registered`)
      const block = lifecycleBlock(directory, client, new Date((this.deps.now ?? Date.now)()))
      if (block) throw invalidToken(`the access token's client may not act: ${block.message}`)
    }

    const jkt = claims.cnf?.jkt
    if (jkt !== undefined) {
      // RFC 9449 §7.1: a DPoP-bound token is only ever accepted with its proof; presented as Bearer it is refused,
      // or anyone who saw it could use it.
      if (scheme !== 'dpop')
        throw invalidToken('the access token is DPoP-bound: present it with the DPoP scheme and a proof')
      await this.checkProof(presented, token, jkt)
      return { token, claims, binding: 'dpop' }
    }
    if (scheme === 'dpop')
      throw invalidToken('the access token is not DPoP-bound: present it with the Bearer scheme')
    if (presented.dpop.length > 0) throw invalidToken('a DPoP proof came with a Bearer token')
    const x5t = claims.cnf?.['x5t#S256']
    if (x5t !== undefined) {
      // RFC 8705 §3: the connection must present the certificate the token is bound to.
      if (!presented.certificate || certificateThumbprint(presented.certificate) !== x5t)
        throw invalidToken(
          'the access token is bound to a client certificate this connection did not present',
        )
      return { token, claims, binding: 'mtls' }
    }
    return { token, claims, binding: 'bearer' }
  }

  // RFC 9449 §7.1 and §4.3: a proof for this request, with `ath` of this token, by the key the token is bound to.
  private async checkProof(presented: PresentedToken, token: string, jkt: string): Promise<void> {
    const { nonces, ...ctx } = this.deps.dpop
    try {
      const proof = await verifyDpopProof(
        {
          proofs: presented.dpop,
          method: presented.method,
          url: presented.url,
          accessToken: token,
          ...(nonces ? { nonce: nonces } : {}),
        },
        ctx,
      )
      if (proof.jkt !== jkt)
        throw new InvalidDpopProof('the DPoP proof is signed by a key the token is not bound to')
    } catch (error) {
      if (error instanceof UseDpopNonce) {
        const challenge = new InvalidToken(
          error.message,
          dpopChallenge('use_dpop_nonce', error.message),
          'use_dpop_nonce',
        )
        challenge.headers['dpop-nonce'] = error.headers['dpop-nonce'] ?? ''
        throw challenge
      }
      if (error instanceof InvalidDpopProof)
        throw new InvalidToken(
          error.message,
          dpopChallenge('invalid_dpop_proof', error.message),
          'invalid_dpop_proof',
        )
      throw error
    }
  }
}

// RFC 6750 §2.1 / RFC 9449 §7.1: `Bearer <token>` or `DPoP <token>`, scheme case-insensitive, token68 syntax.
function parseAuthorization(header: string | undefined): { scheme: 'bearer' | 'dpop'; token: string } {
  if (header === undefined || header.trim() === '') {
    const description = 'an access token is required'
    throw new InvalidToken(description, `${bearerChallenge()}, ${dpopChallenge()}`)
  }
  const match = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header)
  if (!match?.[1] || !match[2])
    throw invalidToken('the Authorization header must be "Bearer <token>" or "DPoP <token>"')
  return { scheme: match[1].toLowerCase() as 'bearer' | 'dpop', token: match[2] }
}

function invalidToken(description: string): InvalidToken {
  return new InvalidToken(
    description,
    `${bearerChallenge('invalid_token', description)}, ${dpopChallenge('invalid_token', description)}`,
  )
}

function bearerChallenge(error?: string, description?: string): string {
  return `Bearer realm="${REALM}"${errorParams(error, description)}`
}

function dpopChallenge(error?: string, description?: string): string {
  return `DPoP realm="${REALM}"${errorParams(error, description)}, algs="${DPOP_ALGORITHMS.join(' ')}"`
}

// RFC 6750 §3: error_description holds printable ASCII without `"` and `\`.
function errorParams(error: string | undefined, description: string | undefined): string {
  if (!error) return ''
  const safe = (description ?? '').replace(/[^\x20-\x7e]|["\\]/g, '')
  return `, error="${error}"${safe ? `, error_description="${safe}"` : ''}`
}
