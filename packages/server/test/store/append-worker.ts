// A second process appending audit events to the same store, for the concurrent-writer conformance test.
import { AuditLog } from '../../src/audit/audit-log.ts'
import { openDatabase, type StoreLocation } from '../../src/store/database.ts'

const [locationJson, chainKeyHex, countText] = process.argv.slice(2)
const database = await openDatabase(JSON.parse(String(locationJson)) as StoreLocation)
const audit = new AuditLog(Buffer.from(String(chainKeyHex), 'hex'))
await Promise.all(
  Array.from({ length: Number(countText) }, (_, i) =>
    database.transact((tx) =>
      audit.append(
        tx,
        {
          type: 'test.worker',
          outcome: 'success',
          actors: [{ kind: 'system', id: 'worker' }],
          details: { i },
        },
        new Date(),
      ),
    ),
  ),
)
await database.close()
process.stdout.write('done\n')
