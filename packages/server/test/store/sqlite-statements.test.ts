// The SQLite handle keeps prepared statements for reuse; reused and evicted statements must answer like fresh ones.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { sql } from 'kysely'
import { openDatabase } from '../../src/store/database.ts'

const dir = mkdtempSync(join(tmpdir(), 'mandate-statements-'))
after(() => rmSync(dir, { recursive: true, force: true }))

test('statements reused from the cache and prepared again after eviction bind their new parameters', async () => {
  const database = await openDatabase({ dialect: 'sqlite', file: join(dir, 'mandate.db') })
  try {
    await database.migrate()
    const select = (id: string) =>
      database.db.selectFrom('meta').select('value').where('key', '=', id).executeTakeFirst()
    await database.db.insertInto('meta').values({ key: 'a', value: '1' }).execute()
    await database.db.insertInto('meta').values({ key: 'b', value: '2' }).execute()
    assert.equal((await select('a'))?.value, '1')
    assert.equal((await select('b'))?.value, '2', 'the cached statement binds the new parameter')
    // More distinct statements than the cache holds push the first ones out.
    for (let i = 0; i < 400; i++) {
      const { rows } = await sql<{ n: number }>`select ${sql.raw(String(i))} as n`.execute(database.db)
      assert.equal(rows[0]?.n, i)
    }
    await database.db.updateTable('meta').set({ value: '3' }).where('key', '=', 'a').execute()
    assert.equal((await select('a'))?.value, '3', 'a statement prepared again sees the current data')
  } finally {
    await database.close()
  }
})
