// The layer rule of docs/architecture.md is enforced: the dependency check passes on the tree, and fails on an upward
// import, an import cycle, or a module the table does not place (issue 8: dependencies run one way).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, describe, test } from 'node:test'
import { promisify } from 'node:util'

const root = resolve(import.meta.dirname, '../../../..')
const depcruise = join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs')
const run = promisify(execFile)

async function check(cwd: string): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [depcruise, '--config', '.dependency-cruiser.cjs', 'packages/server/src'],
      { cwd },
    )
    return { ok: true, output: stdout + stderr }
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string }
    return { ok: false, output: stdout + stderr }
  }
}

// A copy of the sources, the table and the check, to break on purpose.
function scratchTree(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mandate-layers-'))
  cpSync(join(root, 'packages/server/src'), join(dir, 'packages/server/src'), { recursive: true })
  cpSync(join(root, 'docs/architecture.md'), join(dir, 'docs/architecture.md'))
  cpSync(join(root, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'))
  return dir
}

function prepend(file: string, line: string): void {
  writeFileSync(file, `${line}\n${readFileSync(file, 'utf8')}`)
}

describe('dependency direction (docs/architecture.md layer table)', () => {
  const dirs: string[] = []
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  test('the tree as it is passes the check', async () => {
    const result = await check(root)
    assert.ok(result.ok, result.output)
  })

  test('an upward import (store importing the registry) fails the check, naming the rule', async () => {
    const dir = scratchTree()
    dirs.push(dir)
    prepend(
      join(dir, 'packages/server/src/store/database.ts'),
      "import type { Directory } from '../registry/directory.ts'\nexport type Upward = Directory",
    )
    const result = await check(dir)
    assert.equal(result.ok, false)
    assert.match(result.output, /layers: store/)
  })

  test('a type-only import cycle inside one module fails the check', async () => {
    const dir = scratchTree()
    dirs.push(dir)
    prepend(
      join(dir, 'packages/server/src/tokens/key-ring.ts'),
      "import type { signJws } from './jws.ts'\nexport type Cycle = typeof signJws",
    )
    const result = await check(dir)
    assert.equal(result.ok, false)
    assert.match(result.output, /no-cycle/)
  })

  test('a module the table does not place fails the check', async () => {
    const dir = scratchTree()
    dirs.push(dir)
    writeFileSync(join(dir, 'packages/server/src/unplaced.ts'), 'export const x = 1\n')
    const result = await check(dir)
    assert.equal(result.ok, false)
    assert.match(result.output, /does not place unplaced\.ts/)
  })
})
