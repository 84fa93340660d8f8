// How the CLI reports: plain lines for people, `--json` for scripts, and exit codes scripts can rely on.
import { MandateApiError } from '@mandate/sdk'
import { ConfigError } from '../config/load.ts'
import { MasterKeyError } from '../tokens/master-key.ts'

/** Exit codes of every `mandate` command. */
export const ExitCode = {
  ok: 0,
  /** The node refused the request, or a check (policy test, apply) failed. */
  failed: 1,
  /** The command line was wrong. */
  usage: 2,
  /** The node could not be reached. */
  unreachable: 3,
  /** `audit verify` found a broken record. */
  auditBroken: 4,
  /** `apply` sent its documents but no answer came back: they may or may not have been applied. */
  outcomeUnknown: 5,
  /** Invalid configuration or master key (EX_CONFIG). */
  config: 78,
} as const

/** A failure the CLI reports with a given exit code. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message)
  }
}

/** Prints `value` as JSON when asked, else the human text. */
export function print(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`)
}

/** Reports any error on stderr (JSON with `--json`) and returns the exit code to use. Never prints a stack trace. */
export function report(error: unknown, json: boolean): number {
  let exitCode: number = ExitCode.failed
  let body: Record<string, unknown>
  let lines: string[]
  if (error instanceof MandateApiError) {
    exitCode = error.code === 'network_error' ? ExitCode.unreachable : ExitCode.failed
    body = {
      error: error.code,
      error_description: error.message,
      ...(error.fields.length ? { fields: error.fields } : {}),
    }
    lines = [
      `mandate: ${error.message} (${error.code})`,
      ...error.fields.map(
        (f) =>
          `  ${f.path}${f.location ? `:${f.location.line}:${f.location.column}` : ''}${f.location?.policy ? ` ${f.location.policy}` : ''}: ${f.message}${f.help ? ` (${f.help})` : ''}`,
      ),
    ]
  } else if (error instanceof ConfigError) {
    exitCode = ExitCode.config
    body = { error: error.code, problems: error.problems }
    lines = [
      'mandate: invalid configuration',
      // A message of several lines (a YAML error with its excerpt) stays indented under its setting.
      ...error.problems.map((p) =>
        `  ${p.setting}: ${p.message.replaceAll('\n', '\n    ')}`.replace(/ +$/gm, ''),
      ),
    ]
  } else if (error instanceof MasterKeyError) {
    exitCode = ExitCode.config
    body = { error: error.code, error_description: error.message }
    lines = [`mandate: ${error.message}`]
  } else if (error instanceof CliFailure) {
    exitCode = error.exitCode
    body = { error: 'failed', error_description: error.message }
    lines = [`mandate: ${error.message}`]
  } else {
    const code = (error as NodeJS.ErrnoException | null)?.code
    body = { error: 'failed', error_description: (error as Error)?.message ?? String(error) }
    lines = [`mandate: ${(error as Error)?.message ?? String(error)}${code ? ` (${code})` : ''}`]
  }
  process.stderr.write(json ? `${JSON.stringify(body)}\n` : `${lines.join('\n')}\n`)
  return exitCode
}
