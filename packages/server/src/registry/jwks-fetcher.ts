// Fetches agent-supplied JWK Sets (`jwks_uri`) with SSRF protection, size and time limits. Caching, refetching and
// backoff belong to KeySets (key-sets.ts), which every verifier shares.

import type { LookupAddress } from 'node:dns'
import dns from 'node:dns'
import type { ClientRequest, IncomingMessage } from 'node:http'
import http from 'node:http'
import type { RequestOptions } from 'node:https'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import { BlockList, isIP, SocketAddress } from 'node:net'
import type { JSONWebKeySet, JWK } from 'jose'

/** Options for {@link JwksFetcher}. */
export interface JwksFetcherOptions {
  /** Abort the whole request after this many ms. Default 5000. */
  timeoutMs?: number
  /** Refuse bodies larger than this many bytes (count while streaming; also refuse early on a larger Content-Length). Default 262144. */
  maxBytes?: number
  /** Tests only: allow http:// and loopback addresses (127.0.0.0/8, ::1). Default false. */
  allowLoopback?: boolean
}

/**
 * Why a JWK Set could not be fetched.
 *
 * - `jwks_uri_invalid`: not an acceptable URL (scheme, credentials, fragment, unparsable).
 * - `jwks_address_forbidden`: the host is, or resolves to, a private, loopback, link-local or reserved address.
 * - `jwks_fetch_failed`: DNS, connection or TLS failure, a redirect, or a non-2xx status.
 * - `jwks_too_large`: the body exceeds `maxBytes`.
 * - `jwks_timeout`: the request did not complete within `timeoutMs`.
 * - `jwks_invalid`: the body is not a public-key-only JWK Set.
 */
export type JwksFetchErrorCode =
  | 'jwks_uri_invalid'
  | 'jwks_address_forbidden'
  | 'jwks_fetch_failed'
  | 'jwks_too_large'
  | 'jwks_timeout'
  | 'jwks_invalid'

/** Error thrown by {@link JwksFetcher}; `code` is stable, `message` is for humans and never contains response bodies. */
export class JwksFetchError extends Error {
  /** Machine-readable reason. */
  readonly code: JwksFetchErrorCode

  /**
   * @param code - Machine-readable reason.
   * @param message - Human-readable description.
   * @param options - Standard error options (e.g. the underlying `cause`).
   */
  constructor(code: JwksFetchErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'JwksFetchError'
    this.code = code
  }
}

const DEFAULT_TIMEOUT_MS = 5000
const DEFAULT_MAX_BYTES = 262144

/** Private key members of any key type: `oth` (RSA multi-prime) and `priv` (AKP) too, beyond the usual set. */
export const PRIVATE_KEY_MEMBERS: readonly string[] = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth', 'priv']

const FORBIDDEN = new BlockList()
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
  ['255.255.255.255', 32],
] as const) {
  FORBIDDEN.addSubnet(network, prefix, 'ipv4')
}
for (const [network, prefix] of [
  ['::', 128],
  // IPv4-compatible (deprecated), NAT64, 6to4 and Teredo addresses embed IPv4 addresses that may be private:
  // refused whole rather than decoded.
  ['::', 96],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['2002::', 16],
  ['2001::', 32],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fec0::', 10],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  FORBIDDEN.addSubnet(network, prefix, 'ipv6')
}

// Kept apart from FORBIDDEN so that allowLoopback can lift exactly these ranges.
const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

// Only ever checked with IPv6 input: BlockList also matches plain IPv4 addresses against this subnet.
const IPV4_MAPPED = new BlockList()
IPV4_MAPPED.addSubnet('::ffff:0:0', 96, 'ipv6')

type AddressClass = 'public' | 'loopback' | 'forbidden'

function classifyAddress(address: string): AddressClass {
  const family = isIP(address)
  // Zone ids only make sense for link-local targets; anything unparsable fails closed.
  if (family === 0 || address.includes('%')) return 'forbidden'
  if (family === 4) return classifyFamily(address, 'ipv4')
  if (IPV4_MAPPED.check(address, 'ipv6')) {
    // SocketAddress renders mapped addresses in dotted form (::ffff:a.b.c.d), whatever the input spelling.
    const canonical = new SocketAddress({ address, family: 'ipv6' }).address
    const embedded = canonical.slice(canonical.lastIndexOf(':') + 1)
    return isIP(embedded) === 4 ? classifyFamily(embedded, 'ipv4') : 'forbidden'
  }
  return classifyFamily(address, 'ipv6')
}

function classifyFamily(address: string, family: 'ipv4' | 'ipv6'): AddressClass {
  if (LOOPBACK.check(address, family)) return 'loopback'
  if (FORBIDDEN.check(address, family)) return 'forbidden'
  return 'public'
}

/** URL hostname without the brackets WHATWG keeps around IPv6 literals. */
function bareHostname(url: URL): string {
  const { hostname } = url
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Returns only the already-validated addresses, so the socket cannot reach anything DNS says later. */
function pinnedLookup(addresses: readonly LookupAddress[]): LookupFunction {
  return (hostname, options, callback) => {
    const wanted = options.family === 4 || options.family === 6 ? options.family : 0
    const candidates = addresses.filter((entry) => wanted === 0 || entry.family === wanted)
    const first = candidates[0]
    if (first === undefined) {
      const error: NodeJS.ErrnoException = new Error(`no validated address for ${hostname}`)
      error.code = 'ENOTFOUND'
      callback(error, '', 0)
      return
    }
    if (options.all === true) {
      callback(
        null,
        candidates.map((entry) => ({ address: entry.address, family: entry.family })),
      )
    } else {
      callback(null, first.address, first.family)
    }
  }
}

function parseJwkSet(body: Buffer, host: string): JSONWebKeySet {
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body))
  } catch {
    // The parser's message quotes the body, which must not leak into errors.
    throw new JwksFetchError('jwks_invalid', `JWK Set from ${host} is not valid UTF-8 JSON`)
  }
  if (!isRecord(parsed) || !Array.isArray(parsed.keys)) {
    throw new JwksFetchError('jwks_invalid', `JWK Set from ${host} must be a JSON object with a "keys" array`)
  }
  const keys: JWK[] = []
  for (const [index, key] of parsed.keys.entries()) {
    if (!isRecord(key) || typeof key.kty !== 'string') {
      throw new JwksFetchError(
        'jwks_invalid',
        `JWK Set from ${host}: key ${index} must be an object with a string "kty"`,
      )
    }
    const privateMember = PRIVATE_KEY_MEMBERS.find((member) => Object.hasOwn(key, member))
    if (privateMember !== undefined) {
      throw new JwksFetchError(
        'jwks_invalid',
        `JWK Set from ${host}: key ${index} contains private key member "${privateMember}"; only public keys are allowed`,
      )
    }
    keys.push(key as JWK)
  }
  return { keys }
}

/**
 * Fetches JWK Sets from agent-supplied `jwks_uri`s without letting them reach internal networks.
 *
 * Only `https:` URLs are accepted; every resolved address is checked against private, loopback, link-local
 * and reserved ranges, and the connection is pinned to the checked addresses so DNS rebinding cannot
 * redirect it. Redirects are not followed. Every call goes to the network: {@link KeySets} decides when to call.
 */
export class JwksFetcher {
  readonly #timeoutMs: number
  readonly #maxBytes: number
  readonly #allowLoopback: boolean

  /**
   * @param options - Limits and test hooks; see {@link JwksFetcherOptions}.
   * @throws RangeError when a numeric option is not a positive number.
   */
  constructor(options: JwksFetcherOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
    if (!Number.isFinite(this.#timeoutMs) || this.#timeoutMs <= 0) {
      throw new RangeError('timeoutMs must be a positive number')
    }
    if (!Number.isSafeInteger(this.#maxBytes) || this.#maxBytes <= 0) {
      throw new RangeError('maxBytes must be a positive integer')
    }
    this.#allowLoopback = options.allowLoopback ?? false
  }

  /**
   * Validates a `jwks_uri` without fetching it: scheme, no credentials, no fragment, and literal IP hosts
   * outside the forbidden ranges. Host names are only checked when {@link JwksFetcher.fetch} resolves them.
   *
   * @param uri - The candidate `jwks_uri`.
   * @returns The parsed URL.
   * @throws JwksFetchError with code `jwks_uri_invalid` or `jwks_address_forbidden`.
   */
  validateUri(uri: string): URL {
    let url: URL
    try {
      url = new URL(uri)
    } catch {
      throw new JwksFetchError('jwks_uri_invalid', 'jwks_uri must be an absolute URL')
    }
    if (url.username !== '' || url.password !== '') {
      throw new JwksFetchError('jwks_uri_invalid', 'jwks_uri must not contain credentials')
    }
    // url.hash is '' for a bare trailing '#', so look at the input too.
    if (url.hash !== '' || uri.includes('#')) {
      throw new JwksFetchError('jwks_uri_invalid', 'jwks_uri must not contain a fragment')
    }
    const host = bareHostname(url)
    const literal = isIP(host) !== 0
    if (url.protocol === 'http:') {
      const loopbackHost = host === 'localhost' || (literal && classifyAddress(host) === 'loopback')
      if (!this.#allowLoopback || !loopbackHost) {
        throw new JwksFetchError('jwks_uri_invalid', 'jwks_uri must use https')
      }
    } else if (url.protocol !== 'https:') {
      throw new JwksFetchError('jwks_uri_invalid', 'jwks_uri must use https')
    }
    if (host === '') {
      throw new JwksFetchError('jwks_uri_invalid', 'jwks_uri must have a host')
    }
    if (literal && !this.#isAllowed(host)) {
      throw new JwksFetchError(
        'jwks_address_forbidden',
        `jwks_uri host ${url.hostname} is a forbidden address`,
      )
    }
    return url
  }

  /**
   * Fetches the JWK Set at `uri`.
   *
   * @param uri - The `jwks_uri` to fetch.
   * @returns The JWK Set, containing public keys only.
   * @throws JwksFetchError describing why the set could not be fetched.
   */
  async fetch(uri: string): Promise<JSONWebKeySet> {
    return this.#load(this.validateUri(uri))
  }

  #isAllowed(address: string): boolean {
    const verdict = classifyAddress(address)
    return verdict === 'public' || (verdict === 'loopback' && this.#allowLoopback)
  }

  async #load(url: URL): Promise<JSONWebKeySet> {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), this.#timeoutMs)
    try {
      const addresses = await this.#withDeadline(this.#resolve(url), url, controller.signal)
      const body = await this.#download(url, addresses, controller.signal)
      return parseJwkSet(body, url.hostname)
    } finally {
      clearTimeout(timer)
    }
  }

  #timeoutError(url: URL): JwksFetchError {
    return new JwksFetchError(
      'jwks_timeout',
      `JWK Set request to ${url.hostname} timed out after ${this.#timeoutMs} ms`,
    )
  }

  // dns.promises.lookup cannot be cancelled, so a slow resolver is cut off by racing it against the deadline.
  #withDeadline<T>(promise: Promise<T>, url: URL, signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(this.#timeoutError(url))
      if (signal.aborted) {
        onAbort()
        return
      }
      signal.addEventListener('abort', onAbort, { once: true })
      promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort)
          resolve(value)
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort)
          reject(error)
        },
      )
    })
  }

  async #resolve(url: URL): Promise<LookupAddress[]> {
    const host = bareHostname(url)
    const family = isIP(host)
    if (family !== 0) {
      // validateUri has already checked the literal address.
      return [{ address: host, family }]
    }
    let addresses: LookupAddress[]
    try {
      addresses = await dns.promises.lookup(host, { all: true })
    } catch (error) {
      throw new JwksFetchError('jwks_fetch_failed', `could not resolve jwks_uri host ${host}`, {
        cause: error,
      })
    }
    if (addresses.length === 0) {
      throw new JwksFetchError('jwks_fetch_failed', `could not resolve jwks_uri host ${host}`)
    }
    // The resolved address stays out of the message: echoing it would let callers map internal DNS.
    if (!addresses.every((entry) => this.#isAllowed(entry.address))) {
      throw new JwksFetchError(
        'jwks_address_forbidden',
        `jwks_uri host ${host} resolves to a forbidden address`,
      )
    }
    if (
      url.protocol === 'http:' &&
      !addresses.every((entry) => classifyAddress(entry.address) === 'loopback')
    ) {
      throw new JwksFetchError(
        'jwks_address_forbidden',
        `plain http is only allowed to loopback, not ${host}`,
      )
    }
    return addresses
  }

  #download(url: URL, addresses: readonly LookupAddress[], signal: AbortSignal): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const host = bareHostname(url)
      const chunks: Buffer[] = []
      let received = 0
      let settled = false
      let request: ClientRequest | undefined

      const tooLarge = (): JwksFetchError =>
        new JwksFetchError('jwks_too_large', `JWK Set from ${url.hostname} exceeds ${this.#maxBytes} bytes`)
      const onAbort = (): void => fail(this.#timeoutError(url))
      const finish = (): boolean => {
        if (settled) return false
        settled = true
        signal.removeEventListener('abort', onAbort)
        return true
      }
      const fail = (error: JwksFetchError): void => {
        if (!finish()) return
        request?.destroy()
        reject(error)
      }
      const failed = (error: NodeJS.ErrnoException): void => {
        const reason = error.code ?? error.message
        fail(
          new JwksFetchError('jwks_fetch_failed', `JWK Set request to ${url.hostname} failed: ${reason}`, {
            cause: error,
          }),
        )
      }

      if (signal.aborted) {
        onAbort()
        return
      }
      signal.addEventListener('abort', onAbort, { once: true })

      const options: RequestOptions = {
        protocol: url.protocol,
        hostname: host,
        port: url.port === '' ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers: { host: url.host, accept: 'application/jwk-set+json, application/json' },
        // Agent pools key sockets by host and port, not by lookup, so a pooled socket could skip the pinned
        // lookup; a fresh socket also never outlives the fetch.
        agent: false,
        lookup: pinnedLookup(addresses),
      }
      if (url.protocol === 'https:' && isIP(host) === 0) {
        options.servername = host
      }
      request = url.protocol === 'https:' ? https.request(options) : http.request(options)

      request.on('error', failed)
      request.on('response', (response: IncomingMessage) => {
        response.on('error', failed)
        const status = response.statusCode ?? 0
        if (status >= 300 && status < 400) {
          fail(
            new JwksFetchError(
              'jwks_fetch_failed',
              `JWK Set request to ${url.hostname} was redirected (HTTP ${status}); redirects are not followed`,
            ),
          )
          return
        }
        if (status < 200 || status >= 300) {
          fail(
            new JwksFetchError(
              'jwks_fetch_failed',
              `JWK Set request to ${url.hostname} returned HTTP ${status}`,
            ),
          )
          return
        }
        const declared = Number(response.headers['content-length'])
        if (Number.isFinite(declared) && declared > this.#maxBytes) {
          fail(tooLarge())
          return
        }
        response.on('data', (chunk: Buffer) => {
          received += chunk.length
          if (received > this.#maxBytes) {
            fail(tooLarge())
            return
          }
          chunks.push(chunk)
        })
        response.on('end', () => {
          if (finish()) resolve(Buffer.concat(chunks, received))
        })
        response.on('close', () => {
          if (!response.complete) {
            fail(
              new JwksFetchError(
                'jwks_fetch_failed',
                `JWK Set response from ${url.hostname} ended prematurely`,
              ),
            )
          }
        })
      })
      request.end()
    })
  }
}
