// The path of a request as routing sees it. A request target may be in absolute form (`GET http://host/api/v1/agents`,
// RFC 9112 §3.2.2), which Fastify routes like its path: whatever decides by path, or logs one, must use the path too.

/** The path of a request target, without scheme, host, userinfo or query string. */
export function requestPath(target: string): string {
  if (target.startsWith('/')) return target.split('?', 1)[0] ?? '/'
  try {
    return new URL(target).pathname
  } catch {
    // Not a URL: it matched no route either; log and compare nothing of it beyond this.
    return '/'
  }
}
