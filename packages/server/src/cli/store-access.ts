// Commands that work on a node's store directly (`admin token`, `audit recover`, `demo idp-token`) open the store the
// node uses, never a new one: a typo in MANDATE_DATA_DIR must not create an empty store with a fresh master key and
// print a credential that works nowhere.
import { existsSync } from 'node:fs'
import type { Config } from '../config/schema.ts'
import { type Core, openCore } from '../main.ts'
import { storeLocation } from '../store/database.ts'
import { CliFailure, ExitCode } from './output.ts'

/** Opens the node's existing store; an embedded store that is not there is a clear failure. */
export async function openExistingStore(config: Config): Promise<Core> {
  const location = storeLocation(config)
  if (location.dialect === 'sqlite' && !existsSync(location.file))
    throw new CliFailure(
      `there is no Mandate store at ${location.file}: run this where the node keeps its data, or set MANDATE_DATA_DIR (or DATABASE_URL) to the node's store`,
      ExitCode.failed,
    )
  return openCore(config)
}
