// refresh_token (OAuth 2.1 §4.3): a new delegated access token under the same mandate, and a new refresh token; the
// one presented is spent (rotation). Presenting a spent one again revokes the whole family and the access tokens it
// issued (§4.3.1, RFC 9700 §4.14.2). A refresh never carries more than the grant nor outlives the mandate.
import { InvalidGrant, InvalidScope, UnauthorizedClient } from '../../errors/oauth-error.ts'
import { secretHash } from '../../store/authorization-store.ts'
import {
  checkFamilyKey,
  issueUnderMandate,
  REFRESH_TOKEN_PREFIX,
  type RefreshGrant,
  revokeFamily,
} from '../refresh-family.ts'
import { parseScope, required } from '../target.ts'
import type { Grant } from './grant.ts'

export const refreshToken: Grant = {
  type: 'refresh_token',
  clientAuthentication: 'required',
  async handle(request, client, ctx) {
    if (!client) throw new UnauthorizedClient('client authentication is required')
    const token = required(request.params, 'refresh_token')
    if (!token.startsWith(REFRESH_TOKEN_PREFIX) || token.length > 200)
      throw new InvalidGrant('refresh_token is not one this server issued')
    const { database, store } = ctx.codeFlow
    const hash = secretHash(token)
    const row = await store.getRefresh(database.db, hash)
    if (!row || row.client_id !== client.id)
      throw new InvalidGrant('refresh_token is unknown or was issued to another client')
    if (row.revoked_at !== null) throw new InvalidGrant('refresh_token has been revoked')
    if (row.expires_at <= ctx.now()) throw new InvalidGrant('refresh_token has expired')
    const grant = JSON.parse(row.doc) as RefreshGrant
    // OAuth 2.1 §4.3.1: a narrower scope may be asked, never a wider one.
    const asked = parseScope(request.params.scope)
    const beyond = asked.filter((s) => !grant.scope.includes(s))
    if (beyond.length > 0) throw new InvalidScope(`beyond the original grant: ${beyond.join(' ')}`)
    checkFamilyKey(request, grant)
    const replayed = async () => {
      await revokeFamily(ctx, row.family_id, 'refresh token replayed')
      return new InvalidGrant('refresh_token has already been used; its family is revoked')
    }
    if (row.used_at !== null) throw await replayed()
    const claim = async () => {
      if (await store.spendRefresh(database.db, hash, ctx.now())) return
      throw await replayed()
    }
    return issueUnderMandate(request, ctx, {
      grantType: 'refresh_token',
      client,
      human: row.human_id,
      mandateId: row.mandate_id,
      // The new refresh token keeps the original grant (§4.3.3: identical scope); only this access token is narrower.
      grant,
      narrowTo: asked.length > 0 ? asked : undefined,
      familyId: row.family_id,
      claim,
    })
  },
}
