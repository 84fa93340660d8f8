// Reads the files commands are given, and says plainly when one cannot be read: a wrong path is a usage error.
import { readFileSync } from 'node:fs'
import { CliFailure, ExitCode } from './output.ts'

const REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
}

/** The text of `file` (`-` is standard input); a file that cannot be read is a usage error naming it and why. */
export function readText(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? ''
    throw new CliFailure(`cannot read ${file}: ${REASONS[code] ?? (code || 'error')}`, ExitCode.usage)
  }
}
