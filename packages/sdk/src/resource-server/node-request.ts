// The request of a Node.js HTTP server (node:http, node:https, Express, Fastify's `request.raw`) as verifyAccessToken
// takes it: method, the URL the client addressed, headers and the TLS client certificate.

import type { IncomingMessage } from 'node:http'
import { TLSSocket } from 'node:tls'
import type { ProtectedResourceRequest } from './verify-access-token.js'

/**
 * Options of {@link requestFromNode}.
 * @example
 * const options: NodeRequestOptions = { baseUrl: 'https://tickets.example.com' }
 */
export interface NodeRequestOptions {
  /**
   * The public origin (and path prefix, if the application is mounted under one) that clients address, e.g.
   * `https://tickets.example.com`. Recommended, and required behind a proxy: DPoP proofs name the URL the client
   * used, which the server cannot know for sure. Default: the request's scheme and `Host` header.
   */
  baseUrl?: string
}

/**
 * Describes a Node.js HTTP request for {@link verifyAccessToken}. The path is the request's own (Express's
 * `originalUrl` when there is one, so routers mounted on a path see the full URL); the client certificate is the TLS
 * connection's, when the server asked for one (`requestCert: true`). Behind a TLS-terminating proxy, set
 * `clientCertificate` from what the proxy forwards instead.
 * @example
 * // node:http or Express
 * const token = await verifyAccessToken(requestFromNode(req, { baseUrl: 'https://tickets.example.com' }), options)
 * // Fastify
 * const token = await verifyAccessToken(requestFromNode(request.raw, { baseUrl: 'https://tickets.example.com' }), options)
 */
export function requestFromNode(
  request: IncomingMessage,
  options: NodeRequestOptions = {},
): ProtectedResourceRequest {
  const socket = request.socket
  const tls = socket instanceof TLSSocket
  const path = (request as IncomingMessage & { originalUrl?: unknown }).originalUrl
  const target = typeof path === 'string' ? path : (request.url ?? '/')
  let base: URL
  if (options.baseUrl !== undefined) {
    base = new URL(options.baseUrl)
    if (base.protocol !== 'https:' && base.protocol !== 'http:')
      throw new TypeError('baseUrl must be an http(s) URL')
  } else {
    base = new URL(`${tls ? 'https' : 'http'}://${request.headers.host ?? 'localhost'}`)
  }
  // Only the path and query of the request line count: an absolute-form target must not choose the host.
  const relative = target.startsWith('/') ? target : new URL(target, base).pathname
  const prefix = base.pathname.replace(/\/+$/, '')
  const url = new URL(`${prefix}${relative}`, base.origin)
  const certificate = tls ? socket.getPeerX509Certificate() : undefined
  return {
    method: request.method ?? 'GET',
    url,
    headers: request.headers,
    ...(certificate ? { clientCertificate: certificate } : {}),
  }
}
