// One log line per request, written when the response is finished: the request id (the logger's `reqId`), method,
// path, route, status and duration. Never headers, bodies or the query string: they carry tokens and secrets.
import { type FastifyBaseLogger, type FastifyReply, type FastifyRequest, LogController } from 'fastify'
import type { Logger } from 'pino'
import { requestPath } from './request-path.ts'

/** What a request's log line holds. */
export interface RequestLine {
  method: string
  /** The path without its query string. */
  url: string
  /** The route pattern, e.g. `/api/v1/agents/:id`; absent when nothing matched. */
  route?: string | undefined
  status: number
  /** Milliseconds from the request's arrival to the end of the response. */
  ms: number
}

/**
 * Fastify's request logging, reduced to one line per request (Fastify's default writes two, each with the headers).
 * The line is at `info`; below that level it costs a level check.
 */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const level = error ? 'warn' : 'info'
    if (!isLevelEnabled(reply.log, level)) return
    const line: RequestLine = {
      method: request.method,
      url: requestPath(request.url),
      route: request.routeOptions.url,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
    }
    // A connection that failed mid-response: say so, with the error's code and not its message.
    if (error)
      reply.log.warn(
        { ...line, error: (error as NodeJS.ErrnoException).code ?? error.name },
        'request failed',
      )
    else reply.log.info(line, 'request')
  }
}

// pino loggers answer; Fastify's stand-in when logging is off does not, and logs nothing.
function isLevelEnabled(log: FastifyBaseLogger, level: string): boolean {
  return (log as Partial<Pick<Logger, 'isLevelEnabled'>>).isLevelEnabled?.(level) ?? false
}
