// A Mandate node as the resource servers that trust it see it: its issuer identifier, its signing keys (found at the
// jwks_uri of its metadata, fetched when needed and again for an unknown kid) and the clock settings of verification.
// Created once by the application and passed to every verifyAccessToken call: the key set and the memory of DPoP
// proofs live in it, never in module state.

import { createRemoteJWKSet, customFetch, errors, type JWTVerifyGetKey } from 'jose'
import { checkIssuer, discoverMetadata } from '../metadata.js'
import { MandateOAuthError } from '../oauth-errors.js'
import { isHttpUrl, networkReason } from '../oauth-http.js'
import { type DpopReplayStore, MemoryDpopReplayStore } from './dpop-replay.js'

/**
 * Options of a {@link MandateIssuer}.
 * @example
 * const options: MandateIssuerOptions = { jwksUri: 'https://mandate.example.com/.well-known/jwks.json', clockToleranceSeconds: 10 }
 */
export interface MandateIssuerOptions {
  /**
   * The issuer's JWKS URL. Default: the `jwks_uri` of its RFC 8414 metadata, discovered at the first verification.
   */
  jwksUri?: string
  /** Custom fetch for discovery and keys, e.g. for a proxy. Default: the global fetch. */
  fetch?: typeof fetch
  /** Seconds of clock difference tolerated when checking `exp`, `iat` and `nbf`. Default 30, as on a Mandate node. */
  clockToleranceSeconds?: number
  /**
   * Seconds a DPoP proof stays acceptable after (or before) its `iat` (RFC 9449 §11.1), on top of the clock tolerance.
   * Default 60.
   */
  dpopProofWindowSeconds?: number
  /** Where accepted DPoP proofs are remembered against replay. Default: a {@link MemoryDpopReplayStore}. */
  dpopReplay?: DpopReplayStore
  /** How long keys are kept before they are fetched again, in seconds. Default 600. */
  keysMaxAgeSeconds?: number
}

/**
 * The key set could not be fetched or read: the issuer is unreachable or misconfigured, so the token could be
 * neither accepted nor refused.
 */
class KeySetUnavailable extends Error {
  constructor(readonly reason: unknown) {
    super('the issuer keys are unavailable')
  }
}

/**
 * A Mandate node whose access tokens a resource server accepts. Create one per issuer when the application starts
 * and pass it to {@link verifyAccessToken}; it keeps the issuer's keys (refetched once on an unknown `kid`, with a
 * cooldown) and the DPoP proofs already seen.
 * @example
 * const issuer = new MandateIssuer('https://mandate.example.com')
 * const token = await verifyAccessToken(request, { issuer, audience: 'https://tickets.example.com/', scopes: 'tickets:read' })
 */
export class MandateIssuer {
  /** The issuer identifier tokens must carry in `iss`, as given. */
  readonly issuer: string
  /** @internal */
  readonly clockToleranceSeconds: number
  /** @internal */
  readonly dpopWindowSeconds: number
  /** @internal */
  readonly dpopReplay: DpopReplayStore
  readonly #fetch: typeof fetch
  readonly #jwksUri: string | undefined
  readonly #maxAgeMs: number
  #keys: Promise<JWTVerifyGetKey> | undefined

  constructor(issuer: string, options: MandateIssuerOptions = {}) {
    this.issuer = checkIssuer(issuer, 'issuer')
    if (options.jwksUri !== undefined && (typeof options.jwksUri !== 'string' || !isHttpUrl(options.jwksUri)))
      throw new TypeError('jwksUri must be an http(s) URL')
    this.#jwksUri = options.jwksUri
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
    this.clockToleranceSeconds = nonNegative(options.clockToleranceSeconds, 30, 'clockToleranceSeconds')
    this.dpopWindowSeconds =
      nonNegative(options.dpopProofWindowSeconds, 60, 'dpopProofWindowSeconds') + this.clockToleranceSeconds
    this.#maxAgeMs = nonNegative(options.keysMaxAgeSeconds, 600, 'keysMaxAgeSeconds') * 1000
    this.dpopReplay = options.dpopReplay ?? new MemoryDpopReplayStore()
    if (typeof this.dpopReplay.claim !== 'function')
      throw new TypeError('dpopReplay must have a claim method')
  }

  /**
   * The key set for jose's `jwtVerify`. Failures to discover or fetch keys are MandateOAuthError (`network_error`,
   * `invalid_response`); an unknown key is jose's own error.
   * @internal
   */
  keySet(): Promise<JWTVerifyGetKey> {
    if (!this.#keys) {
      const keys = this.#createKeySet()
      this.#keys = keys
      keys.catch(() => {
        if (this.#keys === keys) this.#keys = undefined
      })
    }
    return this.#keys
  }

  /**
   * Turns a failure to get keys into the MandateOAuthError it stands for; anything else is returned as it is.
   * @internal
   */
  static unavailable(error: unknown): unknown {
    if (!(error instanceof KeySetUnavailable)) return error
    const reason = error.reason
    if (reason instanceof MandateOAuthError) return reason
    if (reason instanceof errors.JWKSTimeout)
      return new MandateOAuthError('network_error', 'the issuer keys did not arrive in time', 0)
    if (reason instanceof errors.JOSEError)
      return new MandateOAuthError('invalid_response', `the issuer keys are unusable: ${reason.message}`, 0)
    return new MandateOAuthError('network_error', `cannot fetch the issuer keys: ${networkReason(reason)}`, 0)
  }

  async #createKeySet(): Promise<JWTVerifyGetKey> {
    let uri = this.#jwksUri
    if (uri === undefined) {
      const metadata = await discoverMetadata(this.issuer, this.#fetch).catch((error: unknown) => {
        throw new KeySetUnavailable(error)
      })
      if (!metadata.jwksUri)
        throw new KeySetUnavailable(
          new MandateOAuthError('invalid_response', `the metadata of ${this.issuer} has no jwks_uri`, 200),
        )
      uri = metadata.jwksUri
    }
    const remote = createRemoteJWKSet(new URL(uri), {
      cacheMaxAge: this.#maxAgeMs,
      [customFetch]: (url: string, init: RequestInit) => this.#fetch(url, init),
    })
    // A key the set does not have is the token's fault; a set that cannot be had is not.
    return async (header, token) => {
      try {
        return await remote(header, token)
      } catch (error) {
        if (
          error instanceof errors.JWKSNoMatchingKey ||
          error instanceof errors.JWKSMultipleMatchingKeys ||
          error instanceof errors.JOSENotSupported
        )
          throw error
        throw new KeySetUnavailable(error)
      }
    }
  }
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new TypeError(`${name} must be a non-negative number of seconds`)
  return value
}
