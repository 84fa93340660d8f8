// The grants the token endpoint serves, by grant_type. Metadata lists exactly these.
import { ciba } from './ciba.ts'
import { clientCredentials } from './client-credentials.ts'
import type { Grant } from './grant.ts'
import { jwtBearer } from './jwt-bearer.ts'
import { tokenExchange } from './token-exchange.ts'

/** Registered grants, by `grant_type`. */
export const grants: ReadonlyMap<string, Grant> = new Map(
  [clientCredentials, tokenExchange, jwtBearer, ciba].map((grant) => [grant.type, grant]),
)
