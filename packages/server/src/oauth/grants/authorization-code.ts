// authorization_code (OAuth 2.1 §4.1.3): the code the consent page issued, redeemed once by the client it was issued
// to, with the PKCE verifier of its challenge, for a delegated access token under the mandate and a refresh token.
import { createHash, timingSafeEqual } from 'node:crypto'
import { InvalidGrant, InvalidRequest, UnauthorizedClient } from '../../errors/oauth-error.ts'
import { secretHash } from '../../store/authorization-store.ts'
import type { CodeGrant } from '../authorization-endpoint.ts'
import { issueUnderMandate, newFamily, revokeFamily } from '../refresh-family.ts'
import { required } from '../target.ts'
import type { Grant } from './grant.ts'

// RFC 7636 §4.1: 43 to 128 unreserved characters.
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/

export const authorizationCode: Grant = {
  type: 'authorization_code',
  clientAuthentication: 'required',
  async handle(request, client, ctx) {
    if (!client) throw new UnauthorizedClient('client authentication is required')
    if (client.client.kind !== 'agent') throw new UnauthorizedClient("only agents act on a user's behalf")
    const code = required(request.params, 'code')
    const verifier = request.params.code_verifier
    const { database, store } = ctx.codeFlow
    const hash = secretHash(code)
    const row = await store.getCode(database.db, hash)
    // Every check before the code is spent: a replay with wrong parameters is refused without revoking anything (OAuth
    // 2.1 §4.1.3 and §7.5.3: else a stolen code would be a lever to revoke the victim's tokens).
    if (!row || row.client_id !== client.id)
      throw new InvalidGrant('code is unknown or was issued to another client')
    const grant = JSON.parse(row.doc) as CodeGrant
    // RFC 9700 §4.8.2: no verifier, no token (and a code always has a challenge here: PKCE is required).
    if (verifier === undefined) throw new InvalidGrant('code_verifier is required (PKCE)')
    if (!VERIFIER.test(verifier)) throw new InvalidGrant('code_verifier is malformed')
    const computed = Buffer.from(createHash('sha256').update(verifier).digest('base64url'))
    const expected = Buffer.from(grant.code_challenge)
    if (computed.length !== expected.length || !timingSafeEqual(computed, expected))
      throw new InvalidGrant('code_verifier does not match the code_challenge')
    // RFC 6749 §4.1.3: redirect_uri is required when the authorization request had it, and must be identical.
    const redirectUri = request.params.redirect_uri
    if (grant.redirect_uri_sent && redirectUri === undefined)
      throw new InvalidRequest('redirect_uri is required: the authorization request named one')
    if (redirectUri !== undefined && redirectUri !== grant.redirect_uri)
      throw new InvalidGrant('redirect_uri differs from the authorization request')
    if (row.expires_at <= ctx.now()) throw new InvalidGrant('code has expired')
    // OAuth 2.1 §4.1.3: a second valid redemption is refused and what the first one issued is revoked.
    const replayed = async () => {
      const spent = await store.getCode(database.db, hash)
      if (spent?.family_id) await revokeFamily(ctx, spent.family_id, 'authorization code replayed')
      return new InvalidGrant('code has already been used; the tokens issued for it are revoked')
    }
    if (row.used_at !== null) throw await replayed()
    const familyId = newFamily()
    const claim = async () => {
      if (await store.spendCode(database.db, hash, ctx.now(), familyId)) return
      throw await replayed()
    }
    return issueUnderMandate(request, ctx, {
      grantType: 'authorization_code',
      client,
      human: row.human_id,
      mandateId: row.mandate_id,
      grant: {
        scope: grant.scope,
        resource: grant.resource,
        ...(grant.authorization_details ? { authorization_details: grant.authorization_details } : {}),
      },
      familyId,
      claim,
    })
  },
}
