// The authorization code and refresh token grants over HTTP: what a consent's code redeems for (sub the human, act the
// agent, mandate_id), PKCE and redirect URI checks, single use with revocation on a valid replay, and refresh token
// rotation with reuse detection that revokes the family; a refresh never outlives or exceeds its mandate.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { decodeJwt } from 'jose'
import { startTestNode, storeKinds, type TestStore } from '../support/harness.ts'
import { type ConsentFixture, REDIRECT, startConsentFixture } from './consent-fixture.ts'
import { dpopKey, dpopProof } from './oauth-fixture.ts'

for (const kind of storeKinds) {
  describe(`authorization code and refresh token grants (${kind.name})`, () => {
    let store: TestStore
    let f: ConsentFixture
    let offset = 0

    before(async () => {
      store = kind.create()
      f = await startConsentFixture(store, { now: () => Date.now() + offset })
      const registered = await f.node.call('PATCH', '/api/v1/resource-servers/tickets', {
        body: { introspection_clients: ['secret-bot'] },
        headers: { 'content-type': 'application/merge-patch+json' },
      })
      assert.equal(registered.status, 200, registered.text)
    })
    after(async () => {
      await f.close()
      await store.drop()
    })

    const scribe = () => ({
      authorization: `Basic ${Buffer.from(`scribe:${f.scribeSecret}`).toString('base64')}`,
    })
    const introspect = async (token: string) => {
      const res = await fetch(`${f.issuer}/oauth/introspect`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`secret-bot:${f.secrets['secret-bot']}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token }),
      })
      return (await res.json()) as Record<string, unknown>
    }
    // A fresh consent: the code and the verifier it needs.
    const codeFor = async (overrides: Record<string, string | undefined> = {}, decision = {}) => {
      const { params, verifier } = f.request(overrides)
      const url = await f.consent(params, decision)
      return { code: url.searchParams.get('code') as string, verifier, url }
    }
    const redeem = (
      code: string,
      verifier: string | undefined,
      extra: Record<string, string> = {},
      headers: Record<string, string> = scribe(),
    ) =>
      f.token(
        {
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT,
          ...(verifier !== undefined ? { code_verifier: verifier } : {}),
          ...extra,
        },
        headers,
      )
    const refresh = (
      token: string,
      headers: Record<string, string> = scribe(),
      extra: Record<string, string> = {},
    ) => f.token({ grant_type: 'refresh_token', refresh_token: token, ...extra }, headers)

    it('OAuth 2.1 §4.1.2: approval answers code, state and iss (RFC 9207) at the redirect URI', async () => {
      const { url } = await codeFor()
      assert.equal(`${url.origin}${url.pathname}`, REDIRECT)
      assert.match(url.searchParams.get('code') ?? '', /^[A-Za-z0-9_-]{43}$/)
      assert.equal(url.searchParams.get('state'), 'st-123')
      assert.equal(url.searchParams.get('iss'), f.issuer)
    })

    it('a denial answers access_denied with state and iss, and grants no mandate', async () => {
      const before = await f.node.call('GET', '/api/v1/mandates?agent=scribe')
      const { params } = f.request()
      const url = await f.consent(params, { approve: false })
      assert.equal(url.searchParams.get('error'), 'access_denied')
      assert.equal(url.searchParams.get('state'), 'st-123')
      assert.equal(url.searchParams.get('iss'), f.issuer)
      assert.equal(url.searchParams.get('code'), null)
      const afterwards = await f.node.call('GET', '/api/v1/mandates?agent=scribe')
      assert.equal(JSON.stringify(afterwards.json), JSON.stringify(before.json))
    })

    it('the code redeems for a delegated token (sub the human, act the agent, mandate_id) and a refresh token', async () => {
      const { code, verifier } = await codeFor()
      const res = await redeem(code, verifier)
      assert.equal(res.status, 200, JSON.stringify(res.json))
      assert.equal(res.json.token_type, 'Bearer')
      assert.match(String(res.json.refresh_token), /^mnd_rt_[A-Za-z0-9_-]{43}$/)
      assert.equal(res.headers.get('cache-control'), 'no-store')
      const claims = decodeJwt(String(res.json.access_token))
      assert.equal(claims.sub, 'alice@example.com')
      assert.deepEqual(claims.act, { sub: 'scribe' })
      assert.equal(claims.client_id, 'scribe')
      assert.equal(claims.aud, 'https://tickets.example.com/')
      assert.equal(claims.scope, 'tickets:read tickets:write')
      assert.equal(typeof claims.mandate_id, 'string')
      const mandate = await f.node.call('GET', `/api/v1/mandates/${claims.mandate_id}`)
      assert.equal(mandate.status, 200)
      assert.equal(mandate.json.human, 'alice@example.com')
      assert.equal(mandate.json.agent, 'scribe')
      assert.equal(mandate.json.source, 'consent')
    })

    it('what the human narrowed is what the mandate holds and what the token carries', async () => {
      const { code, verifier } = await codeFor(
        {},
        { actions: ['tickets:read'], maxCalls: 2, durationSeconds: 3600 },
      )
      const res = await redeem(code, verifier)
      assert.equal(res.status, 200, JSON.stringify(res.json))
      const claims = decodeJwt(String(res.json.access_token))
      assert.equal(claims.scope, 'tickets:read')
      const mandate = (await f.node.call('GET', `/api/v1/mandates/${claims.mandate_id}`)).json
      assert.deepEqual(mandate.actions, ['tickets:read'])
      assert.equal(mandate.budget.calls, 2)
      const lifetime = Date.parse(mandate.expires_at) - Date.now() - offset
      assert.ok(lifetime > 3500_000 && lifetime <= 3600_000, `lifetime ${lifetime}`)
      // The human can only narrow: a budget above the one asked is kept at the one asked.
      const wider = await codeFor({}, { maxCalls: 1000, durationSeconds: 10 ** 9 })
      const widerClaims = decodeJwt(String((await redeem(wider.code, wider.verifier)).json.access_token))
      const widerMandate = (await f.node.call('GET', `/api/v1/mandates/${widerClaims.mandate_id}`)).json
      assert.equal(widerMandate.budget.calls, 5)
      assert.ok(Date.parse(widerMandate.expires_at) - Date.now() - offset <= 86_400_000)
    })

    it('RFC 7636 §4.6: a missing, malformed or wrong code_verifier is invalid_grant', async () => {
      const { code, verifier } = await codeFor()
      // The last character changed (to one it is not: a verifier ending in A gets B).
      const wrong = `${verifier.slice(0, -1)}${verifier.endsWith('A') ? 'B' : 'A'}`
      for (const bad of [undefined, 'short', wrong, 'A'.repeat(43)]) {
        const res = await redeem(code, bad)
        assert.equal(res.status, 400, String(bad))
        assert.equal(res.json.error, 'invalid_grant')
        assert.equal(res.json.access_token, undefined)
      }
      // Refusals for wrong parameters do not spend the code (nor could they revoke anything).
      assert.equal((await redeem(code, verifier)).status, 200)
    })

    it('RFC 6749 §4.1.3: redirect_uri must repeat the authorization request exactly when sent', async () => {
      const { code, verifier } = await codeFor()
      const other = await redeem(code, verifier, { redirect_uri: `${REDIRECT}/x` })
      assert.equal(other.json.error, 'invalid_grant')
      const missing = await f.token(
        { grant_type: 'authorization_code', code, code_verifier: verifier },
        scribe(),
      )
      assert.equal(missing.json.error, 'invalid_request')
      assert.equal((await redeem(code, verifier)).status, 200)
    })

    it('a code is bound to its client: another client is refused, and so is no client authentication', async () => {
      const { code, verifier } = await codeFor()
      const other = await redeem(
        code,
        verifier,
        {},
        {
          authorization: `Basic ${Buffer.from(`secret-bot:${f.secrets['secret-bot']}`).toString('base64')}`,
        },
      )
      assert.equal(other.json.error, 'invalid_grant')
      const none = await redeem(code, verifier, { client_id: 'scribe' }, {})
      assert.equal(none.status, 401)
      assert.equal(none.json.error, 'invalid_client')
    })

    it('OAuth 2.1 §4.1.3: a reused code is refused and revokes the tokens its first redemption issued', async () => {
      const { code, verifier } = await codeFor()
      const first = await redeem(code, verifier)
      assert.equal(first.status, 200)
      assert.equal((await introspect(String(first.json.access_token))).active, true)
      const again = await redeem(code, verifier)
      assert.equal(again.status, 400)
      assert.equal(again.json.error, 'invalid_grant')
      assert.deepEqual(await introspect(String(first.json.access_token)), { active: false })
      const refreshed = await refresh(String(first.json.refresh_token))
      assert.equal(refreshed.json.error, 'invalid_grant')
    })

    it('OAuth 2.1 §7.5.3: a replay with wrong parameters is refused without revoking anything', async () => {
      const { code, verifier } = await codeFor()
      const first = await redeem(code, verifier)
      const wrong = await redeem(code, 'B'.repeat(43))
      assert.equal(wrong.json.error, 'invalid_grant')
      assert.equal((await introspect(String(first.json.access_token))).active, true)
    })

    it('a code lives 60 seconds', async () => {
      const { code, verifier } = await codeFor()
      offset += 61_000
      try {
        const res = await redeem(code, verifier)
        assert.equal(res.json.error, 'invalid_grant')
      } finally {
        offset -= 61_000
      }
    })

    it('OAuth 2.1 §4.3.1: refresh rotates the refresh token; the new access token keeps sub, act and mandate_id', async () => {
      const { code, verifier } = await codeFor()
      const first = await redeem(code, verifier)
      const second = await refresh(String(first.json.refresh_token))
      assert.equal(second.status, 200, JSON.stringify(second.json))
      assert.notEqual(second.json.refresh_token, first.json.refresh_token)
      const a = decodeJwt(String(first.json.access_token))
      const b = decodeJwt(String(second.json.access_token))
      assert.equal(b.sub, a.sub)
      assert.deepEqual(b.act, a.act)
      assert.equal(b.mandate_id, a.mandate_id)
      assert.equal(b.scope, a.scope)
      // A narrower scope may be asked for this access token; a wider one may not.
      const narrower = await refresh(String(second.json.refresh_token), scribe(), { scope: 'tickets:read' })
      assert.equal(decodeJwt(String(narrower.json.access_token)).scope, 'tickets:read')
      const wider = await refresh(String(narrower.json.refresh_token), scribe(), { scope: 'tickets:delete' })
      assert.equal(wider.json.error, 'invalid_scope')
      // Another client cannot use it.
      const stolen = await refresh(String(narrower.json.refresh_token), {
        authorization: `Basic ${Buffer.from(`secret-bot:${f.secrets['secret-bot']}`).toString('base64')}`,
      })
      assert.equal(stolen.json.error, 'invalid_grant')
    })

    it('RFC 9700 §4.14.2: a reused refresh token revokes the whole family and the access tokens it issued', async () => {
      const { code, verifier } = await codeFor()
      const first = await redeem(code, verifier)
      const second = await refresh(String(first.json.refresh_token))
      assert.equal(second.status, 200)
      const replay = await refresh(String(first.json.refresh_token))
      assert.equal(replay.status, 400)
      assert.equal(replay.json.error, 'invalid_grant')
      // The newest refresh token of the family is dead too, and so are the access tokens.
      assert.equal((await refresh(String(second.json.refresh_token))).json.error, 'invalid_grant')
      assert.deepEqual(await introspect(String(second.json.access_token)), { active: false })
      assert.deepEqual(await introspect(String(first.json.access_token)), { active: false })
    })

    it('concurrent uses of one refresh token: at most one rotates, and nothing of the family survives', async () => {
      const { code, verifier } = await codeFor({ max_calls: '50' })
      const first = await redeem(code, verifier)
      const results = await Promise.all(
        Array.from({ length: 5 }, () => refresh(String(first.json.refresh_token))),
      )
      const won = results.filter((r) => r.status === 200)
      assert.ok(won.length <= 1, `${won.length} rotations of one refresh token`)
      for (const lost of results.filter((r) => r.status !== 200))
        assert.equal(lost.json.error, 'invalid_grant')
      // A replay was seen: whatever the winner got is revoked with the family.
      for (const winner of won) {
        assert.deepEqual(await introspect(String(winner.json.access_token)), { active: false })
        assert.equal((await refresh(String(winner.json.refresh_token))).json.error, 'invalid_grant')
      }
      assert.deepEqual(await introspect(String(first.json.access_token)), { active: false })
    })

    it('a refresh fails once the mandate is revoked, and spends the mandate budget until it is exhausted', async () => {
      const { code, verifier } = await codeFor({ max_calls: '2' })
      const first = await redeem(code, verifier)
      const mandateId = String(decodeJwt(String(first.json.access_token)).mandate_id)
      const second = await refresh(String(first.json.refresh_token))
      assert.equal(second.status, 200)
      const third = await refresh(String(second.json.refresh_token))
      assert.equal(third.json.error, 'mandate_exhausted')

      const other = await codeFor()
      const tokens = await redeem(other.code, other.verifier)
      const otherMandate = String(decodeJwt(String(tokens.json.access_token)).mandate_id)
      const revoked = await f.node.call('POST', `/api/v1/mandates/${otherMandate}/revoke`, { body: {} })
      assert.equal(revoked.status, 200, revoked.text)
      const after = await refresh(String(tokens.json.refresh_token))
      assert.equal(after.json.error, 'mandate_revoked')
      assert.ok(mandateId)
    })

    it('a refresh token never outlives its mandate', async () => {
      const { code, verifier } = await codeFor({}, { durationSeconds: 120 })
      const first = await redeem(code, verifier)
      assert.ok(Number(first.json.expires_in) <= 120)
      offset += 121_000
      try {
        const res = await refresh(String(first.json.refresh_token))
        assert.equal(res.json.error, 'invalid_grant')
      } finally {
        offset -= 121_000
      }
    })

    it('RFC 9449: a code redeemed with a DPoP proof gives a DPoP-bound family; a refresh must prove the same key', async () => {
      const key = dpopKey()
      const { code, verifier } = await codeFor()
      const first = await redeem(
        code,
        verifier,
        {},
        { ...scribe(), dpop: await dpopProof(key, f.tokenEndpoint) },
      )
      assert.equal(first.status, 200, JSON.stringify(first.json))
      assert.equal(first.json.token_type, 'DPoP')
      const claims = decodeJwt(String(first.json.access_token)) as { cnf?: { jkt?: string } }
      assert.ok(claims.cnf?.jkt)
      const bare = await refresh(String(first.json.refresh_token))
      assert.equal(bare.json.error, 'invalid_request')
      const otherKey = await refresh(String(first.json.refresh_token), {
        ...scribe(),
        dpop: await dpopProof(dpopKey(), f.tokenEndpoint),
      })
      assert.equal(otherKey.json.error, 'invalid_request')
      const ok = await refresh(String(first.json.refresh_token), {
        ...scribe(),
        dpop: await dpopProof(key, f.tokenEndpoint),
      })
      assert.equal(ok.status, 200, JSON.stringify(ok.json))
      assert.equal(ok.json.token_type, 'DPoP')
      assert.deepEqual((decodeJwt(String(ok.json.access_token)) as { cnf?: unknown }).cnf, claims.cnf)
    })

    it('a second node: a code from one node redeems once on another, and a replay on the first revokes it', async () => {
      const second = await startTestNode(store, {
        masterKey: f.node.config.masterKey,
        bootstrapToken: f.node.config.bootstrapToken,
        issuer: f.issuer,
      })
      try {
        const { code, verifier } = await codeFor()
        const onSecond = await fetch(`${second.node.url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...scribe() },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            code_verifier: verifier,
            redirect_uri: REDIRECT,
          }),
        })
        const tokens = (await onSecond.json()) as Record<string, unknown>
        assert.equal(onSecond.status, 200, JSON.stringify(tokens))
        const replay = await redeem(code, verifier)
        assert.equal(replay.json.error, 'invalid_grant')
        assert.deepEqual(await introspect(String(tokens.access_token)), { active: false })
        // A request pushed to one node is used once at the other.
        const pushed = await f.par(f.request().params, scribe())
        const used = await fetch(
          `${second.node.url}/oauth/authorize?${new URLSearchParams({ client_id: 'scribe', request_uri: String(pushed.json.request_uri) })}`,
          { redirect: 'manual' },
        )
        assert.equal(used.status, 303)
        const reused = await f.authorize({
          client_id: 'scribe',
          request_uri: String(pushed.json.request_uri),
        })
        assert.equal(reused.status, 400)
      } finally {
        await second.close()
      }
    })

    it('an agent suspended before the human decides: the decision answers invalid_request and grants nothing', async () => {
      const quill = await f.node.call('PUT', '/api/v1/agents/quill', {
        body: {
          sponsor: 'alice@example.com',
          classification: 'delegated',
          ceiling: ['tickets:read'],
          redirect_uris: [REDIRECT],
          credentials: [{ type: 'client_secret' }],
        },
      })
      assert.equal(quill.status, 201, quill.text)
      const res = await f.authorize(f.request({ client_id: 'quill', scope: 'tickets:read' }).params)
      const ref = new URL(res.location as string, f.issuer).searchParams.get('request') as string
      const suspended = await f.node.call('PATCH', '/api/v1/agents/quill', {
        body: { status: 'suspended' },
        headers: { 'content-type': 'application/merge-patch+json' },
      })
      assert.equal(suspended.status, 200, suspended.text)
      const target = await f.node.node.authorizationEndpoint.decide(ref, 'alice@example.com', {
        approve: true,
        actions: ['tickets:read'],
        detailTypes: [],
        durationSeconds: 600,
      })
      const params = new URL(target as string).searchParams
      assert.equal(params.get('error'), 'invalid_request')
      assert.equal(params.get('iss'), f.issuer)
      assert.equal(params.get('code'), null)
      const mandates = await f.node.call('GET', '/api/v1/mandates?agent=quill')
      assert.deepEqual(mandates.json.items ?? mandates.json, [])
    })
  })
}
