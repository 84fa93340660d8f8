// Redirect URIs of agents (OAuth clients of the authorization endpoint): what may be registered, and how a requested
// one is matched against them (OAuth 2.1 §2.3.1, §8.4.2; RFC 9700 §2.1 and §4.1).
import type { FieldError } from '../errors/mandate-error.ts'

// Loopback IP literals: OAuth 2.1 §8.4.2 recommends them over `localhost`, whose resolution the AS cannot vouch for.
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]'])

/**
 * What is wrong with a redirect URI as a registration, or undefined when it is acceptable: an absolute `https` URL,
 * or `http` on a loopback IP literal (native agents); no fragment (OAuth 2.1 §2.3.1), no user info, no `localhost`.
 * @example
 * redirectUriProblem('https://agent.example.com/callback') // undefined
 * redirectUriProblem('http://agent.example.com/callback') // 'must use https (http only on 127.0.0.1 or [::1])'
 */
export function redirectUriProblem(value: string): string | undefined {
  if (value.includes('#')) return 'must not contain a fragment'
  // Spaces and control characters (U+0000 to U+0020, U+007F) have no place in a URI and could hide a difference.
  for (const char of value)
    if ((char.codePointAt(0) ?? 0) <= 0x20 || char === '\u007f')
      return 'must not contain spaces or control characters'
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return 'must be an absolute URL'
  }
  if (url.username || url.password) return 'must not contain user information'
  if (url.protocol === 'https:') return undefined
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return undefined
  return 'must use https (http only on 127.0.0.1 or [::1])'
}

/** Field errors for an agent's `redirect_uris`. */
export function checkRedirectUris(uris: readonly string[] | undefined): FieldError[] {
  return (uris ?? []).flatMap((uri, i) => {
    const problem = redirectUriProblem(uri)
    return problem ? [{ path: `/redirect_uris/${i}`, message: problem }] : []
  })
}

/**
 * The registered URI a requested redirect URI names, or undefined. Simple string comparison (OAuth 2.1 §2.3.1, RFC
 * 9700 §4.1.3), except that a registered `http` loopback IP URI matches any port (OAuth 2.1 §8.4.2: native apps get an
 * ephemeral port from the OS); everything else about it (host, path, query) must still be identical.
 * @example
 * matchRedirectUri(['http://127.0.0.1/cb'], 'http://127.0.0.1:53124/cb') // 'http://127.0.0.1/cb'
 * matchRedirectUri(['https://a.example/cb'], 'https://a.example/cb/') // undefined
 */
export function matchRedirectUri(registered: readonly string[], requested: string): string | undefined {
  if (registered.includes(requested)) return requested
  const loose = withoutLoopbackPort(requested)
  if (loose === undefined) return undefined
  return registered.find((uri) => withoutLoopbackPort(uri) === loose)
}

// The URI with its port taken out, when it is http on a loopback IP; compared as text so nothing is normalized.
function withoutLoopbackPort(uri: string): string | undefined {
  const match = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?([/?].*)?$/.exec(uri)
  if (!match) return undefined
  // A port is 1 to 65535: anything else is no URL a browser could be sent to.
  if (match[2] !== undefined && !(Number(match[2]) >= 1 && Number(match[2]) <= 65535)) return undefined
  return `http://${match[1]}${match[3] ?? ''}`
}
