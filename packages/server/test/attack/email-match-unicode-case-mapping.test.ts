// Attack finding: emails are matched "ignoring case" with JavaScript's toLowerCase, which maps non-ASCII letters onto
// ASCII ones: the Kelvin sign U+212A lowercases to "k". An IdP with `match_email` that verified the mailbox
// "\u212Aate@example.com" (another mailbox: mail servers do not fold U+212A to "k") thereby names, and binds for good,
// the human kate@example.com. docs/security.md: "Matching by email ... only when exactly one human has that email";
// an address that is not hers is not her email.
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
const KELVIN_KATE = '\u212Aate@example.com'

for (const kind of storeKinds) {
  describe(`email matching at login and Unicode case mapping (${kind.name})`, () => {
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

    before(async () => {
      store = kind.create()
      f = await startOAuthFixture(store)
      for (const [path, body] of [
        [
          '/api/v1/trusted-issuers/corp',
          { issuer: IDP, type: 'human_idp', jwks: { keys: [corpKey.publicJwk] }, match_email: true },
        ],
        ['/api/v1/humans/kate', { email: 'kate@example.com' }],
      ] as const) {
        const res = await f.node.call('PUT', path, { body })
        assert.ok(res.status < 300, `${path}: ${res.status} ${res.text}`)
      }
      // A mandate each, so that only who the token names can stop the exchange.
      for (const human of ['kate']) await grantMandate(f.node, 'helper', ['tickets:read'], { human })
    })
    after(async () => {
      await f?.close()
      await store?.drop()
    })

    it('a verified email "\\u212Aate@example.com" (Kelvin sign) does not name, nor bind, kate@example.com', async () => {
      const res = await f.token({
        grant_type: EXCHANGE,
        client_id: 'helper',
        client_secret: f.secrets.helper ?? '',
        subject_token: await loginToken({ sub: 'someone-else', email: KELVIN_KATE, email_verified: true }),
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
        scope: 'tickets:read',
      })
      assert.equal(res.status, 400, `a token for kate was issued: ${JSON.stringify(res.json)}`)
      assert.equal(res.json.error, 'invalid_request')
      const kate = (await f.node.call('GET', '/api/v1/humans/kate')).json
      assert.deepEqual(kate.identities ?? [], [], 'no binding of another mailbox to kate')
    })
  })
}
