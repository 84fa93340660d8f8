// @mandate/sdk's client side of consent against a real node: the authorization URL with PKCE (S256) and PAR, the
// redirect read back with the RFC 9207 iss and state checks, code redemption, and refresh with rotation.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AgentClient, MandateOAuthError, type PendingAuthorization } from '@mandate/sdk'
import { decodeJwt } from 'jose'
import { type ConsentFixture, REDIRECT, startConsentFixture } from '../oauth/consent-fixture.ts'
import { sqliteStore, type TestStore } from '../support/harness.ts'

describe('agent client: consent (authorization code with PKCE and PAR, refresh)', () => {
  let store: TestStore
  let f: ConsentFixture
  let agent: AgentClient

  before(async () => {
    store = sqliteStore()
    f = await startConsentFixture(store)
    agent = new AgentClient({
      issuer: f.issuer,
      clientId: 'scribe',
      credential: { type: 'client_secret', secret: f.scribeSecret },
    })
  })
  after(async () => {
    await f.close()
    await store.drop()
  })

  // The human's side, as a browser would do it: follow the URL to the consent page, and decide there.
  async function humanDecides(pending: PendingAuthorization, approve = true): Promise<string> {
    const res = await fetch(pending.url, { redirect: 'manual' })
    assert.equal(res.status, 303, await res.text())
    const ref = new URL(res.headers.get('location') as string, f.issuer).searchParams.get('request') as string
    const target = await f.node.node.authorizationEndpoint.decide(ref, 'alice@example.com', {
      approve,
      actions: ['tickets:read'],
      detailTypes: [],
      durationSeconds: 3600,
      maxCalls: 10,
    })
    assert.ok(target)
    return target
  }

  it('authorizationUrl pushes the request (PAR) and answers a URL with client_id and request_uri only', async () => {
    const pending = await agent.authorizationUrl({
      redirectUri: REDIRECT,
      resource: 'https://tickets.example.com/',
      scope: ['tickets:read', 'tickets:write'],
      maxCalls: 10,
      durationSeconds: 7200,
    })
    const url = new URL(pending.url)
    assert.equal(`${url.origin}${url.pathname}`, `${f.issuer}/oauth/authorize`)
    assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri'])
    assert.match(url.searchParams.get('request_uri') ?? '', /^urn:ietf:params:oauth:request_uri:/)
    assert.equal(pending.issuer, f.issuer)
    assert.match(pending.codeVerifier, /^[A-Za-z0-9_-]{43}$/)
    assert.ok(pending.state.length >= 32)
    assert.ok(pending.expiresAt > Date.now())
  })

  it('redeemAuthorization returns the delegated token with its refresh token and mandate; refresh rotates it', async () => {
    const pending = await agent.authorizationUrl({
      redirectUri: REDIRECT,
      resource: 'https://tickets.example.com/',
      scope: 'tickets:read tickets:write',
    })
    const token = await agent.redeemAuthorization(await humanDecides(pending), pending)
    const claims = decodeJwt(token.accessToken)
    assert.equal(claims.sub, 'alice@example.com')
    assert.deepEqual(claims.act, { sub: 'scribe' })
    assert.equal(token.scope, 'tickets:read')
    assert.equal(token.mandateId, claims.mandate_id)
    assert.ok(token.refreshToken)
    const next = await agent.refresh(token.refreshToken)
    assert.ok(next.refreshToken && next.refreshToken !== token.refreshToken)
    assert.equal(next.mandateId, token.mandateId)
    await assert.rejects(
      agent.refresh(token.refreshToken),
      (e: unknown) => e instanceof MandateOAuthError && e.code === 'invalid_grant',
    )
    // The replay revoked the family: the newest refresh token is refused too.
    await assert.rejects(
      agent.refresh(next.refreshToken),
      (e: unknown) => e instanceof MandateOAuthError && e.code === 'invalid_grant',
    )
  })

  it('RFC 9207: a redirect without iss, or naming another issuer, is refused before its error or code is read', async () => {
    const pending = await agent.authorizationUrl({
      redirectUri: REDIRECT,
      resource: 'https://tickets.example.com/',
      scope: 'tickets:read',
    })
    const back = new URL(await humanDecides(pending))
    const withoutIss = new URL(back)
    withoutIss.searchParams.delete('iss')
    await assert.rejects(
      agent.redeemAuthorization(withoutIss, pending),
      (e: unknown) =>
        e instanceof MandateOAuthError && e.code === 'invalid_response' && /iss/.test(e.message),
    )
    const otherIss = new URL(back)
    otherIss.searchParams.set('iss', 'https://evil.example.com')
    await assert.rejects(agent.redeemAuthorization(otherIss, pending), /iss/)
    const otherState = new URL(back)
    otherState.searchParams.set('state', 'forged')
    await assert.rejects(agent.redeemAuthorization(otherState, pending), /state/)
    // The real redirect still works: nothing above reached the node.
    const token = await agent.redeemAuthorization(back, pending)
    assert.ok(token.refreshToken)
  })

  it('a denial is MandateOAuthError access_denied', async () => {
    const pending = await agent.authorizationUrl({
      redirectUri: REDIRECT,
      resource: 'https://tickets.example.com/',
      scope: 'tickets:read',
    })
    await assert.rejects(
      agent.redeemAuthorization(await humanDecides(pending, false), pending),
      (e: unknown) => e instanceof MandateOAuthError && e.code === 'access_denied',
    )
  })

  it('PAR errors are typed: a redirect URI the agent did not register is invalid_request', async () => {
    await assert.rejects(
      agent.authorizationUrl({
        redirectUri: `${REDIRECT}/other`,
        resource: 'https://tickets.example.com/',
        scope: 'tickets:read',
      }),
      (e: unknown) => e instanceof MandateOAuthError && e.code === 'invalid_request',
    )
  })

  it('with DPoP, the consent gives a DPoP-bound token and refresh keeps the binding', async () => {
    const bound = new AgentClient({
      issuer: f.issuer,
      clientId: 'scribe',
      credential: { type: 'client_secret', secret: f.scribeSecret },
      dpop: true,
    })
    const pending = await bound.authorizationUrl({
      redirectUri: REDIRECT,
      resource: 'https://tickets.example.com/',
      scope: 'tickets:read',
    })
    const token = await bound.redeemAuthorization(await humanDecides(pending), pending)
    assert.equal(token.tokenType, 'DPoP')
    const next = await bound.refresh(token.refreshToken as string)
    assert.equal(next.tokenType, 'DPoP')
    assert.deepEqual(decodeJwt(next.accessToken).cnf, decodeJwt(token.accessToken).cnf)
  })
})
