// Attack finding: strings a store cannot hold exactly (U+0000, a lone UTF-16 surrogate) arrive inside a signed token's
// claims, past the HTTP edge's form-field check: a human IdP's `sub` and `email` on a first login matched by email,
// which Mandate writes into the registry (`identities`) and the audit log (`human.identity.bind`). docs/security.md:
// any such string "is refused at the edge with a 400 ... on the OAuth endpoints"; never a 500. Today SQLite binds both
// subjects, and PostgreSQL binds the lone surrogate (its identity row then holds U+FFFD, the document the escape) and
// answers 500 server_error for U+0000.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { SignJWT } from 'jose'
import {
  ecKeyPair,
  grantMandate,
  IDP,
  type OAuthFixture,
  RESOURCE,
  startOAuthFixture,
} from '../oauth/oauth-fixture.ts'
import { storeKinds, type TestStore } from '../support/harness.ts'

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt'

for (const kind of storeKinds) {
  describe(`unstorable strings inside a human IdP token's claims (${kind.name})`, () => {
    let store: TestStore
    let f: OAuthFixture
    const corpKey = ecKeyPair('corp-1')

    const loginToken = (claims: Record<string, unknown>) => {
      const now = Math.floor(Date.now() / 1000)
      return new SignJWT({ aud: f.issuer, iat: now, exp: now + 600, ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: corpKey.publicJwk.kid })
        .setIssuer(IDP)
        .sign(corpKey.privateKey)
    }
    const exchange = async (claims: Record<string, unknown>) =>
      f.token({
        grant_type: EXCHANGE,
        client_id: 'helper',
        client_secret: f.secrets.helper ?? '',
        subject_token: await loginToken(claims),
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
        scope: 'tickets:read',
      })

    before(async () => {
      store = kind.create()
      f = await startOAuthFixture(store)
      for (const [path, body] of [
        [
          '/api/v1/trusted-issuers/corp',
          { issuer: IDP, type: 'human_idp', jwks: { keys: [corpKey.publicJwk] }, match_email: true },
        ],
        ['/api/v1/humans/kate', { email: 'kate@example.com' }],
        ['/api/v1/humans/lena', { email: 'lena@example.com' }],
      ] as const) {
        const res = await f.node.call('PUT', path, { body })
        assert.ok(res.status < 300, `${path}: ${res.status} ${res.text}`)
      }
      // A mandate each, so that only who the token names can stop the exchange.
      for (const human of ['kate', 'lena']) await grantMandate(f.node, 'helper', ['tickets:read'], { human })
    })
    after(async () => {
      await f?.close()
      await store?.drop()
    })

    for (const [name, sub, email] of [
      ['a subject with U+0000', 'corp-\u0000kate', 'kate@example.com'],
      ['a subject with a lone surrogate', 'corp-\ud800lena', 'lena@example.com'],
    ] as const)
      it(`${name} on a first login matched by email is a 400 invalid_request, not a 500, and binds nothing`, async () => {
        const res = await exchange({ sub, email, email_verified: true })
        assert.equal(res.status, 400, JSON.stringify(res.json))
        assert.equal(res.json.error, 'invalid_request')
        const human = await f.node.call('GET', `/api/v1/humans/${email.split('@')[0]}`)
        assert.deepEqual(human.json.identities ?? [], [], 'the subject was bound')
      })
  })
}
