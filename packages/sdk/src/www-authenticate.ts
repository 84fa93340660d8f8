// The WWW-Authenticate header (RFC 9110 §11.6.1) with the Bearer (RFC 6750 §3) and DPoP (RFC 9449 §7.1) schemes:
// read by the agent client to tell a nonce request or an invalid token from other refusals, written by resource
// servers to say why a token was refused.

/** One challenge: its scheme (as sent) and its auth-params (names in lower case). */
export interface Challenge {
  scheme: string
  params: Record<string, string>
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]/
const TOKEN68 = /[A-Za-z0-9._~+/-]/

/**
 * Parses a WWW-Authenticate value into its challenges. Tolerant: what cannot be read ends the parse, keeping the
 * challenges read so far.
 * @example
 * parseChallenges('DPoP error="use_dpop_nonce", algs="ES256", Bearer realm="api"')
 * // [{ scheme: 'DPoP', params: { error: 'use_dpop_nonce', algs: 'ES256' } }, { scheme: 'Bearer', params: { realm: 'api' } }]
 */
export function parseChallenges(header: string | null | undefined): Challenge[] {
  const text = header ?? ''
  const challenges: Challenge[] = []
  let i = 0
  const skip = (chars: RegExp) => {
    while (i < text.length && chars.test(text.charAt(i))) i++
  }
  const read = (chars: RegExp): string => {
    const start = i
    skip(chars)
    return text.slice(start, i)
  }
  skip(/[\s,]/)
  while (i < text.length) {
    const scheme = read(TOKEN)
    if (!scheme) break
    const challenge: Challenge = { scheme, params: {} }
    challenges.push(challenge)
    skip(/[ \t]/)
    let first = true
    for (;;) {
      const start = i
      const name = read(TOKEN)
      skip(/[ \t]/)
      // `name=value` is a parameter; right after the scheme, `abc=` at the end or before a comma is a token68.
      const token68End = first && /^=+\s*(,|$)/.test(text.slice(i))
      if (name && text.charAt(i) === '=' && !token68End) {
        i++
        skip(/[ \t]/)
        challenge.params[name.toLowerCase()] = text.charAt(i) === '"' ? readQuoted() : read(TOKEN)
      } else if (first && name) {
        // A token68 credential-like value (RFC 9110 §11.2); nothing we read, but it must be stepped over.
        i = start
        read(TOKEN68)
        skip(/=/)
      } else {
        i = start
        break
      }
      first = false
      skip(/[ \t]/)
      if (text.charAt(i) !== ',') break
      skip(/[\s,]/)
      // A token not followed by `=` starts the next challenge.
      const lookahead = i
      read(TOKEN)
      skip(/[ \t]/)
      const startsChallenge = text.charAt(i) !== '='
      i = lookahead
      if (startsChallenge) break
    }
    skip(/[\s,]/)
  }
  return challenges

  function readQuoted(): string {
    let value = ''
    i++
    while (i < text.length && text.charAt(i) !== '"') {
      if (text.charAt(i) === '\\') i++
      value += text.charAt(i)
      i++
    }
    i++
    return value
  }
}

/**
 * The `error` a response's challenges name for `scheme` (case-insensitive), or for any scheme when none is given.
 * @example
 * challengeError('DPoP error="use_dpop_nonce"', 'dpop') // 'use_dpop_nonce'
 */
export function challengeError(header: string | null | undefined, scheme?: string): string | undefined {
  for (const challenge of parseChallenges(header))
    if (scheme === undefined || challenge.scheme.toLowerCase() === scheme.toLowerCase())
      if (challenge.params.error !== undefined) return challenge.params.error
  return undefined
}

/**
 * Writes one challenge. Values are quoted strings; RFC 6750 §3 allows only printable ASCII without `"` and `\` in
 * `error_description` and `scope`, so anything else is dropped from every value.
 * @example
 * formatChallenge('Bearer', { realm: 'tickets', error: 'insufficient_scope', scope: 'tickets:write' })
 * // 'Bearer realm="tickets", error="insufficient_scope", scope="tickets:write"'
 */
export function formatChallenge(scheme: string, params: Record<string, string | undefined>): string {
  const parts = Object.entries(params)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => `${name}="${value.replace(/[^\x20-\x7e]|["\\]/g, '')}"`)
  return parts.length > 0 ? `${scheme} ${parts.join(', ')}` : scheme
}
