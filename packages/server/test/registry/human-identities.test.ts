// Issue 8: humans are bound to the IdPs that may assert them. A human IdP's token names a human only through a binding
// of exactly its issuer and subject, or (where the issuer allows it) through a verified email, which then binds the
// subject once; emails are unique ignoring case. Over HTTP, on both stores.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createRemoteJWKSet, jwtVerify, SignJWT } from 'jose'
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
const PARTNER = 'https://partner-idp.example.com'

for (const kind of storeKinds) {
  describe(`humans bound to their IdPs, issue 8 (${kind.name})`, () => {
    let store: TestStore
    let f: OAuthFixture
    let jwks: ReturnType<typeof createRemoteJWKSet>
    const corpKey = ecKeyPair('corp-1')
    const partnerKey = ecKeyPair('partner-1')

    /** A login token of an IdP, for this node. */
    const idpToken = (issuer: string, key: ReturnType<typeof ecKeyPair>, claims: Record<string, unknown>) => {
      const now = Math.floor(Date.now() / 1000)
      return new SignJWT({ aud: f.issuer, iat: now, exp: now + 600, ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: key.publicJwk.kid })
        .setIssuer(issuer)
        .sign(key.privateKey)
    }
    const corp = (claims: Record<string, unknown>) => idpToken(IDP, corpKey, claims)
    const partner = (claims: Record<string, unknown>) => idpToken(PARTNER, partnerKey, claims)
    const exchange = async (subjectToken: string) =>
      f.token({
        grant_type: EXCHANGE,
        client_id: 'helper',
        client_secret: f.secrets.helper ?? '',
        subject_token: subjectToken,
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
        scope: 'tickets:read',
      })
    /** RFC 8693 §2.2.2: an unacceptable subject token is invalid_request, and no token is issued. */
    const refused = async (subjectToken: string) => {
      const res = await exchange(subjectToken)
      assert.equal(res.status, 400, JSON.stringify(res.json))
      assert.equal(res.json.error, 'invalid_request')
      assert.equal(res.json.access_token, undefined)
      return String(res.json.error_description)
    }
    const subjectOf = async (res: { json: Record<string, unknown> }) =>
      (await jwtVerify(String(res.json.access_token), jwks)).payload.sub
    const human = async (id: string) => (await f.node.call('GET', `/api/v1/humans/${id}`)).json
    const bindEvents = async (id: string) =>
      (
        await f.node.call('GET', `/api/v1/audit/events?type=human.identity.bind&principal=human:${id}`)
      ).json.items.filter((e: { type: string }) => e.type === 'human.identity.bind')
    const put = async (path: string, body: Record<string, unknown>) => {
      const res = await f.node.call('PUT', path, { body })
      assert.ok(res.status < 300, `${path}: ${res.status} ${res.text}`)
    }

    before(async () => {
      store = kind.create()
      f = await startOAuthFixture(store)
      jwks = createRemoteJWKSet(new URL(`${f.issuer}/.well-known/jwks.json`))
      await put('/api/v1/trusted-issuers/corp', {
        issuer: IDP,
        type: 'human_idp',
        jwks: { keys: [corpKey.publicJwk] },
        match_email: true,
      })
      await put('/api/v1/trusted-issuers/partner', {
        issuer: PARTNER,
        type: 'human_idp',
        jwks: { keys: [partnerKey.publicJwk] },
      })
      await put('/api/v1/humans/alice@example.com', {
        email: 'alice@example.com',
        identities: [{ issuer: IDP, subject: 'corp-alice' }],
      })
      for (const id of ['carol', 'dave', 'erin', 'frank', 'gina'])
        await put(`/api/v1/humans/${id}@example.com`, { email: `${id}@example.com` })
      await put('/api/v1/humans/heidi@example.com', { email: 'heidi@example.com', status: 'inactive' })
      // Each active human's mandate for the helper: the exchanges below test who the token names, not what it grants.
      for (const id of ['alice', 'carol', 'dave', 'erin', 'frank', 'gina'])
        await grantMandate(f.node, 'helper', ['tickets:read'], { human: `${id}@example.com` })
    })
    after(async () => {
      await f.close()
      await store.drop()
    })

    it('a partner IdP cannot assert alice: not by her id as subject, nor her verified email, nor her subject at another IdP (RFC 8693 §2.2.2)', async () => {
      for (const claims of [
        { sub: 'alice@example.com' },
        { sub: 'partner-alice', email: 'alice@example.com', email_verified: true },
        { sub: 'corp-alice' },
      ]) {
        const description = await refused(await partner(claims))
        assert.match(description, /not bound to a registered human at this identity provider/)
      }
      assert.deepEqual((await human('alice@example.com')).identities, [
        { issuer: IDP, subject: 'corp-alice' },
      ])
    })

    it('the IdP alice is bound to asserts her by her subject there; her registry id as the subject does not', async () => {
      const ok = await exchange(await corp({ sub: 'corp-alice' }))
      assert.equal(ok.status, 200, JSON.stringify(ok.json))
      assert.equal(await subjectOf(ok), 'alice@example.com')
      await refused(await corp({ sub: 'alice@example.com' }))
    })

    it('an email that is not verified does not match: email_verified missing, false, or the string "true"', async () => {
      for (const verified of [undefined, false, 'true', 1])
        await refused(await corp({ sub: 'corp-carol', email: 'carol@example.com', email_verified: verified }))
      assert.equal((await human('carol@example.com')).identities, undefined)
      assert.deepEqual(await bindEvents('carol@example.com'), [])
    })

    it('an issuer without match_email never matches by email, verified or not', async () => {
      await refused(await partner({ sub: 'partner-carol', email: 'carol@example.com', email_verified: true }))
      assert.equal((await human('carol@example.com')).identities, undefined)
    })

    it('a verified email matches once (ignoring case) and binds the subject, audited; later tokens match by issuer and subject alone', async () => {
      const first = await exchange(
        await corp({ sub: 'corp-carol', email: 'Carol@Example.COM', email_verified: true }),
      )
      assert.equal(first.status, 200, JSON.stringify(first.json))
      assert.equal(await subjectOf(first), 'carol@example.com')
      assert.deepEqual((await human('carol@example.com')).identities, [
        { issuer: IDP, subject: 'corp-carol' },
      ])
      const events = await bindEvents('carol@example.com')
      assert.equal(events.length, 1)
      assert.deepEqual(events[0].actors, [{ kind: 'system', id: 'trusted_issuer:corp' }])
      assert.equal(events[0].resource, 'human:carol@example.com')

      // Matched by (iss, sub) now: no email needed, and no second binding.
      const again = await exchange(await corp({ sub: 'corp-carol' }))
      assert.equal(again.status, 200, JSON.stringify(again.json))
      assert.equal(await subjectOf(again), 'carol@example.com')
      // Carol is bound at this IdP: another subject with her verified email is someone else's account.
      await refused(await corp({ sub: 'corp-carol-2', email: 'carol@example.com', email_verified: true }))
      assert.equal((await bindEvents('carol@example.com')).length, 1)
    })

    it('concurrent first logins bind at most once: one subject wins, the same subject twice binds once', async () => {
      const rivals = await Promise.all(
        ['corp-dave-a', 'corp-dave-b'].map(async (sub) =>
          exchange(await corp({ sub, email: 'dave@example.com', email_verified: true })),
        ),
      )
      assert.deepEqual(
        rivals.map((r) => r.status).sort(),
        [200, 400],
        JSON.stringify(rivals.map((r) => r.json)),
      )
      const identities = (await human('dave@example.com')).identities
      assert.equal(identities.length, 1)
      assert.equal(identities[0].subject, rivals[0]?.status === 200 ? 'corp-dave-a' : 'corp-dave-b')

      const twins = await Promise.all(
        [1, 2].map(async () =>
          exchange(await corp({ sub: 'corp-erin', email: 'erin@example.com', email_verified: true })),
        ),
      )
      assert.deepEqual(
        twins.map((r) => r.status),
        [200, 200],
      )
      assert.equal((await bindEvents('erin@example.com')).length, 1)
      assert.equal((await bindEvents('dave@example.com')).length, 1)
    })

    it('an inactive human is neither asserted nor bound by email', async () => {
      await refused(await corp({ sub: 'corp-heidi', email: 'heidi@example.com', email_verified: true }))
      assert.equal((await human('heidi@example.com')).identities, undefined)
    })

    it("a second human with the same email in another case is refused on create, replace and patch (409); changing the case of one's own email is not", async () => {
      const create = await f.node.call('POST', '/api/v1/humans', {
        body: { id: 'alice-2', email: 'ALICE@example.com' },
      })
      assert.equal(create.status, 409, create.text)
      assert.match(create.json.error_description, /alice@example\.com/)
      const replace = await f.node.call('PUT', '/api/v1/humans/alice-2', {
        body: { email: 'Alice@Example.com' },
      })
      assert.equal(replace.status, 409, replace.text)
      const patch = await f.node.call('PATCH', '/api/v1/humans/frank@example.com', {
        body: { email: 'aLiCe@example.com' },
        headers: { 'content-type': 'application/merge-patch+json' },
      })
      assert.equal(patch.status, 409, patch.text)
      assert.equal((await f.node.call('GET', '/api/v1/humans/alice-2')).status, 404)
      assert.equal((await human('frank@example.com')).email, 'frank@example.com')
      const own = await f.node.call('PATCH', '/api/v1/humans/frank@example.com', {
        body: { email: 'Frank@example.com' },
        headers: { 'content-type': 'application/merge-patch+json' },
      })
      assert.equal(own.status, 200, own.text)
    })

    it('an IdP subject binds at most one human, and a binding names a registered human IdP', async () => {
      const taken = await f.node.call('PUT', '/api/v1/humans/mallory', {
        body: { identities: [{ issuer: IDP, subject: 'corp-alice' }] },
      })
      assert.equal(taken.status, 409, taken.text)
      assert.match(taken.json.error_description, /already bound to human alice@example\.com/)
      const unknown = await f.node.call('PUT', '/api/v1/humans/mallory', {
        body: { identities: [{ issuer: 'https://unknown-idp.example.com', subject: 'x' }] },
      })
      assert.equal(unknown.status, 400, unknown.text)
      assert.equal(unknown.json.fields[0].path, '/identities/0/issuer')
      await put('/api/v1/trusted-issuers/ci', {
        issuer: 'https://ci.example.com',
        type: 'workload',
        jwks: { keys: [ecKeyPair().publicJwk] },
      })
      const workloadIssuer = await f.node.call('PUT', '/api/v1/humans/mallory', {
        body: { identities: [{ issuer: 'https://ci.example.com', subject: 'x' }] },
      })
      assert.equal(workloadIssuer.status, 400, workloadIssuer.text)
      const matchOnWorkload = await f.node.call('PATCH', '/api/v1/trusted-issuers/ci', {
        body: { match_email: true },
        headers: { 'content-type': 'application/merge-patch+json' },
      })
      assert.equal(matchOnWorkload.status, 400, matchOnWorkload.text)
      assert.equal(matchOnWorkload.json.fields[0].path, '/match_email')
    })

    it('a document that leaves identities out keeps them (apply stays idempotent after a login bound one); [] removes them', async () => {
      const bound = await exchange(
        await corp({ sub: 'corp-gina', email: 'gina@example.com', email_verified: true }),
      )
      assert.equal(bound.status, 200, JSON.stringify(bound.json))
      const same = await f.node.call('PUT', '/api/v1/humans/gina@example.com', {
        body: { email: 'gina@example.com' },
      })
      assert.equal(same.json.change, 'unchanged')
      assert.deepEqual(same.json.object.identities, [{ issuer: IDP, subject: 'corp-gina' }])
      const cleared = await f.node.call('PUT', '/api/v1/humans/gina@example.com', {
        body: { email: 'gina@example.com', identities: [] },
      })
      assert.equal(cleared.json.change, 'updated')
      await refused(await corp({ sub: 'corp-gina' }))
    })

    it('an issuer that humans are bound to can be neither deleted nor turned into another issuer (409)', async () => {
      const deleted = await f.node.call('DELETE', '/api/v1/trusted-issuers/corp')
      assert.equal(deleted.status, 409, deleted.text)
      assert.match(deleted.json.error_description, /human alice@example\.com/)
      const moved = await f.node.call('PATCH', '/api/v1/trusted-issuers/corp', {
        body: { issuer: 'https://elsewhere.example.com' },
        headers: { 'content-type': 'application/merge-patch+json' },
      })
      assert.equal(moved.status, 409, moved.text)
    })
  })
}
