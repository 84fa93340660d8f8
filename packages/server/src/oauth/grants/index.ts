// The grants the token endpoint serves, by grant_type. Metadata lists exactly these.
import { authorizationCode } from './authorization-code.ts'
import { ciba } from './ciba.ts'
import { clientCredentials } from './client-credentials.ts'
import type { Grant } from './grant.ts'
import { jwtBearer } from './jwt-bearer.ts'
import { refreshToken } from './refresh-token.ts'
import { tokenExchange } from './token-exchange.ts'

/** Registered grants, by `grant_type`. */
export const grants: ReadonlyMap<string, Grant> = new Map(
  [clientCredentials, tokenExchange, jwtBearer, authorizationCode, refreshToken, ciba].map((grant) => [
    grant.type,
    grant,
  ]),
)
