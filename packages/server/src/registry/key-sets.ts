// The registered key sets of clients and trusted issuers (inline JWKS and `jwks_uri` documents) as key resolvers for
// jose: one object per node, created by the wiring and passed to every verifier. A fetched document is used until it
// is `maxAgeSeconds` old; a token naming a key it lacks makes the node fetch it again at once (at most once per
// cooldown), so a rotated key works immediately; a failed fetch is remembered with a growing backoff, so requests
// naming a client cannot make the node fetch on every call.
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose'
import { JwksFetchError, type JwksFetcher } from './jwks-fetcher.ts'

/** The keys one registration names: keys written inline, and documents to fetch. */
export interface KeySource {
  inline: readonly JWK[]
  uris: readonly string[]
}

/** Options for {@link KeySets}. */
export interface KeySetsOptions {
  /** How long a fetched document is used before it is fetched again; 0 fetches for every token. */
  maxAgeSeconds: number
  /** The least time between two fetches of a document caused by a token naming a key it lacks. */
  refetchCooldownSeconds: number
  /** The longest wait before a document that failed is tried again (the first wait is 5 s, then it doubles). */
  failureBackoffMaxSeconds: number
  /** Clock in epoch milliseconds, for tests. Default Date.now. */
  now?: () => number
  /** The most documents remembered; the oldest goes first. Default 10000. */
  maxDocuments?: number
}

/** Why a registration's keys are not available now: a `jwks_uri` could not be fetched (or is backing off). */
export class KeySetUnavailable extends Error {
  /** The fetcher's reason for the last failure. */
  readonly code: JwksFetchError['code'] | 'jwks_unavailable'

  constructor(message: string, code: KeySetUnavailable['code']) {
    super(message)
    this.name = 'KeySetUnavailable'
    this.code = code
  }
}

const FIRST_BACKOFF_MS = 5000

/** What is known of one `jwks_uri`. */
interface RemoteDocument {
  /** The last document fetched, while it may be used. */
  keys: JSONWebKeySet | undefined
  fetchedAt: number
  /** Moves with every successful fetch, so resolvers know to rebuild. */
  version: number
  failures: number
  lastError: KeySetUnavailable['code']
  /** No fetch before this time (after a failure). */
  retryAt: number
  /** When a token naming an unknown key last caused a fetch. */
  forcedAt: number
  pending: Promise<void> | undefined
}

/** One registration's resolver: its inline keys and documents, and the local key set built from them. */
interface Entry {
  inline: readonly JWK[]
  uris: readonly string[]
  built: { versions: number[]; local: JWTVerifyGetKey } | undefined
}

/** Every registered key set of the node, with the caching, refetching and backoff rules above. */
export class KeySets {
  readonly #fetcher: JwksFetcher
  readonly #maxAgeMs: number
  readonly #cooldownMs: number
  readonly #backoffMaxMs: number
  readonly #now: () => number
  readonly #maxDocuments: number
  readonly #documents = new Map<string, RemoteDocument>()
  // Keyed by the registration object: the Directory replaces it whenever the registration changes, so a changed key
  // set is never served from an old entry, and an entry goes with its registration.
  readonly #entries = new WeakMap<object, Entry>()

  /**
   * @param fetcher - The SSRF-protected fetcher every document is fetched with.
   * @param options - Lifetimes and limits; see {@link KeySetsOptions}.
   * @throws RangeError when a duration is negative or not a number.
   */
  constructor(fetcher: JwksFetcher, options: KeySetsOptions) {
    for (const name of ['maxAgeSeconds', 'refetchCooldownSeconds', 'failureBackoffMaxSeconds'] as const) {
      const value = options[name]
      if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a non-negative number`)
    }
    this.#fetcher = fetcher
    this.#maxAgeMs = options.maxAgeSeconds * 1000
    this.#cooldownMs = options.refetchCooldownSeconds * 1000
    this.#backoffMaxMs = options.failureBackoffMaxSeconds * 1000
    this.#now = options.now ?? Date.now
    this.#maxDocuments = options.maxDocuments ?? 10_000
  }

  /**
   * Checks a `jwks_uri` for registration without fetching it (see {@link JwksFetcher.validateUri}).
   * @throws JwksFetchError with code `jwks_uri_invalid` or `jwks_address_forbidden`.
   */
  validateUri(uri: string): URL {
    return this.#fetcher.validateUri(uri)
  }

  /**
   * A key resolver for jose's `jwtVerify` over the keys `owner` (a registration object, replaced when it changes)
   * names in `source`. It throws {@link KeySetUnavailable} when a document cannot be fetched, and jose's
   * `JWKSNoMatchingKey` when no key matches the token, even after the one refetch allowed.
   * @example
   * const { payload } = await jwtVerify(assertion, keySets.resolver(client.principal, { inline: [], uris: [jwksUri] }))
   */
  resolver(owner: object, source: KeySource): JWTVerifyGetKey {
    let entry = this.#entries.get(owner)
    if (!entry) {
      entry = { inline: [...source.inline], uris: [...new Set(source.uris)], built: undefined }
      this.#entries.set(owner, entry)
    }
    const current = entry
    return async (header, token) => {
      const fetched = await this.#load(current, false)
      try {
        return await this.#local(current)(header, token)
      } catch (error) {
        // Only a missing key may be a rotation; anything else (several candidates, a bad key) is jose's to handle.
        if (!(error instanceof errors.JWKSNoMatchingKey) || fetched || current.uris.length === 0) throw error
        if (!(await this.#load(current, true))) throw error
        return this.#local(current)(header, token)
      }
    }
  }

  // Makes every document of the entry usable; `force` asks again for documents outside their cooldown and backoff.
  // Returns whether any fetch was waited for.
  async #load(entry: Entry, force: boolean): Promise<boolean> {
    const fetched = await Promise.all(entry.uris.map((uri) => this.#document(uri, force)))
    return fetched.includes(true)
  }

  async #document(uri: string, force: boolean): Promise<boolean> {
    const doc = this.#remember(uri)
    if (!doc.pending) {
      const now = this.#now()
      const usable = doc.keys !== undefined && now < doc.fetchedAt + this.#maxAgeMs
      if (force) {
        if (now < doc.forcedAt + this.#cooldownMs || now < doc.retryAt) return false
        doc.forcedAt = now
      } else if (usable) {
        return false
      } else if (now < doc.retryAt) {
        throw unavailable(uri, doc)
      }
      const pending = this.#fetch(uri, doc).finally(() => {
        if (doc.pending === pending) doc.pending = undefined
      })
      doc.pending = pending
    }
    await doc.pending
    if (doc.keys === undefined) throw unavailable(uri, doc)
    return true
  }

  async #fetch(uri: string, doc: RemoteDocument): Promise<void> {
    try {
      const keys = await this.#fetcher.fetch(uri)
      doc.keys = keys
      doc.fetchedAt = this.#now()
      doc.version += 1
      doc.failures = 0
      doc.retryAt = 0
    } catch (error) {
      const now = this.#now()
      doc.failures += 1
      doc.lastError = error instanceof JwksFetchError ? error.code : 'jwks_unavailable'
      doc.retryAt = now + Math.min(FIRST_BACKOFF_MS * 2 ** Math.min(doc.failures - 1, 30), this.#backoffMaxMs)
      // Keys past their age are not used once a refresh has failed: fail closed rather than trust stale keys.
      if (doc.keys !== undefined && now >= doc.fetchedAt + this.#maxAgeMs) doc.keys = undefined
    }
  }

  #remember(uri: string): RemoteDocument {
    let doc = this.#documents.get(uri)
    if (doc) return doc
    if (this.#documents.size >= this.#maxDocuments) {
      const oldest = this.#documents.keys().next()
      if (!oldest.done) this.#documents.delete(oldest.value)
    }
    doc = {
      keys: undefined,
      fetchedAt: 0,
      version: 0,
      failures: 0,
      lastError: 'jwks_unavailable',
      retryAt: 0,
      forcedAt: Number.NEGATIVE_INFINITY,
      pending: undefined,
    }
    this.#documents.set(uri, doc)
    return doc
  }

  // The local key set of the entry, rebuilt only when one of its documents changed.
  #local(entry: Entry): JWTVerifyGetKey {
    const docs = entry.uris.map((uri) => this.#documents.get(uri))
    const versions = docs.map((doc) => doc?.version ?? -1)
    const built = entry.built
    if (built?.versions.every((version, i) => version === versions[i])) return built.local
    const keys = [...entry.inline, ...docs.flatMap((doc) => doc?.keys?.keys ?? [])]
    const local = createLocalJWKSet({ keys })
    entry.built = { versions, local }
    return local
  }
}

function unavailable(uri: string, doc: RemoteDocument): KeySetUnavailable {
  let host = uri
  try {
    host = new URL(uri).host
  } catch {
    // validateUri refused it before any fetch; the message names what was registered.
  }
  return new KeySetUnavailable(`the keys at ${host} cannot be fetched now`, doc.lastError)
}
