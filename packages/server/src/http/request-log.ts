// One log line per request, written when the response is finished: the request id (the logger's `reqId`), method,
// path, route, status and duration. Never headers, bodies or the query string: they carry tokens and secrets.
import { type FastifyBaseLogger, type FastifyReply, type FastifyRequest, LogController } from 'fastify'
import type { Bindings, ChildLoggerOptions, Logger } from 'pino'
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

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

/**
 * Fastify's `childLoggerFactory`: each request's logger (bound to its request id) is made only when the request logs
 * at an enabled level. Most requests log nothing below `info` (the request line is checked with `isLevelEnabled`),
 * and a pino child per request is most of what request logging costs them.
 */
export function lazyChildLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  // A route's own level or serializers make it another logger: made at once, as Fastify makes it.
  if (Object.keys(options).length > 0) return logger.child(bindings, options)
  return new LazyChild(logger, bindings) as unknown as FastifyBaseLogger
}

class LazyChild {
  private made: FastifyBaseLogger | undefined

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
  ) {}

  private logger(): FastifyBaseLogger {
    this.made ??= this.parent.child(this.bindings)
    return this.made
  }

  private write(level: Level, args: unknown[]): void {
    // A logger that cannot say whether a level is on gets every line, as its own child would.
    const log = (this.made ?? this.parent) as Partial<Pick<Logger, 'isLevelEnabled'>>
    if (log.isLevelEnabled && !log.isLevelEnabled(level)) return
    ;(this.logger()[level] as (...a: unknown[]) => void)(...args)
  }

  get level(): string {
    return (this.made ?? this.parent).level
  }
  set level(level: string) {
    this.logger().level = level
  }
  isLevelEnabled(level: string): boolean {
    return isLevelEnabled(this.made ?? this.parent, level)
  }
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger().child(bindings, options)
  }
  fatal(...args: unknown[]): void {
    this.write('fatal', args)
  }
  error(...args: unknown[]): void {
    this.write('error', args)
  }
  warn(...args: unknown[]): void {
    this.write('warn', args)
  }
  info(...args: unknown[]): void {
    this.write('info', args)
  }
  debug(...args: unknown[]): void {
    this.write('debug', args)
  }
  trace(...args: unknown[]): void {
    this.write('trace', args)
  }
  silent(): void {}
}
