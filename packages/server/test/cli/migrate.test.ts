// `mandate migrate` on an embedded store from before emails were unique (issue 8): it migrates, and warns about the
// humans that share an email instead of failing.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { type Kysely, Migrator } from 'kysely'
import { openDatabase } from '../../src/store/database.ts'
import * as m0001 from '../../src/store/migrations/0001-registry-keys-audit.ts'
import * as m0002 from '../../src/store/migrations/0002-token-service.ts'
import * as m0003 from '../../src/store/migrations/0003-policies.ts'
import { tempDir } from '../support/harness.ts'
import { cliEnv, runCli } from './run-cli.ts'

describe('mandate migrate, issue 8', () => {
  const dir = tempDir()
  after(() => dir.drop())

  it('migrates a store whose humans share an email in different cases, naming them in a warning', async () => {
    const database = await openDatabase({ dialect: 'sqlite', file: join(dir.path, 'mandate.db') })
    try {
      const earlier = {
        '0001-registry-keys-audit': m0001,
        '0002-token-service': m0002,
        '0003-policies': m0003,
      }
      const migrated = await new Migrator({
        db: database.db,
        provider: { getMigrations: async () => earlier },
      }).migrateToLatest()
      assert.equal(migrated.error, undefined)
      const now = new Date().toISOString()
      // biome-ignore lint/suspicious/noExplicitAny: rows as the old schema had them, without today's columns
      await (database.db as unknown as Kysely<any>)
        .insertInto('humans')
        .values(
          ['sam@example.com', 'Sam@Example.com'].map((email, i) => ({
            id: `sam-${i}`,
            doc: JSON.stringify({ id: `sam-${i}`, email, status: 'active' }),
            version: 1,
            created_at: now,
            updated_at: now,
            status: 'active',
          })),
        )
        .execute()
    } finally {
      await database.close()
    }

    const result = await runCli(['migrate'], { env: cliEnv({ MANDATE_DATA_DIR: dir.path }) })
    assert.equal(result.code, 0, result.stderr)
    // Later migrations follow these two.
    assert.match(result.stdout, /^applied 0004-audit-integrity, 0005-human-identities(, \d{4}-[a-z-]+)*$/m)
    assert.match(
      result.stdout,
      /^warning: humans sam-0, sam-1 share the email sam@example\.com: none of them is matched by email at login/m,
    )
    const again = await runCli(['--json', 'migrate'], { env: cliEnv({ MANDATE_DATA_DIR: dir.path }) })
    assert.deepEqual(JSON.parse(again.stdout), {
      applied: [],
      shared_emails: [{ email: 'sam@example.com', humans: ['sam-0', 'sam-1'] }],
    })
  })
})
