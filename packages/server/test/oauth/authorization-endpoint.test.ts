// The authorization endpoint and PAR, black-box over HTTP: what is refused with a 400 page (never a redirect), what
// goes back to the redirect URI with `state` and RFC 9207 `iss`, and pushed requests' binding, expiry and single use.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { storeKinds, type TestStore } from '../support/harness.ts'
import { type ConsentFixture, LOOPBACK_REDIRECT, REDIRECT, startConsentFixture } from './consent-fixture.ts'

const REQUEST_URI = /^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/

for (const kind of storeKinds) {
  describe(`authorization endpoint and PAR (${kind.name})`, () => {
    let store: TestStore
    let f: ConsentFixture
    let offset = 0

    before(async () => {
      store = kind.create()
      f = await startConsentFixture(store, { now: () => Date.now() + offset })
    })
    after(async () => {
      await f.close()
      await store.drop()
    })

    // An error answered at the redirect URI: its parameters, after checking the URI is the registered one.
    function redirectedError(location: string | null, redirect = REDIRECT): URLSearchParams {
      assert.ok(location, 'a Location header')
      const url = new URL(location)
      assert.equal(`${url.origin}${url.pathname}`, redirect)
      return url.searchParams
    }

    it('OAuth 2.1 §2.3.1: redirect_uris must be https or loopback-IP http, absolute, without fragment', async () => {
      for (const bad of [
        'http://scribe.example.com/cb',
        'https://scribe.example.com/cb#frag',
        'http://localhost/cb',
        '/relative/cb',
        'https://user:pw@scribe.example.com/cb',
        'https://scribe.example.com/c b',
        'javascript:alert(1)',
      ]) {
        const res = await f.node.call('PUT', '/api/v1/agents/bad-uris', {
          body: {
            sponsor: 'alice@example.com',
            classification: 'delegated',
            ceiling: ['tickets:read'],
            redirect_uris: [bad],
            credentials: [],
          },
        })
        assert.equal(res.status, 400, bad)
        assert.equal(res.json.error, 'validation_failed')
        assert.ok(
          res.json.fields.some((field: { path: string }) => field.path === '/redirect_uris/0'),
          `${bad}: ${res.text}`,
        )
      }
    })

    it('a valid request goes on to the consent page with 303 (OAuth 2.1 §7.5.4), never cached nor framed', async () => {
      const res = await f.authorize(f.request().params)
      assert.equal(res.status, 303)
      assert.match(res.location ?? '', /^\/consent\?request=[A-Za-z0-9_-]{43}$/)
      const raw = await fetch(`${f.issuer}/oauth/authorize?${new URLSearchParams(f.request().params)}`, {
        redirect: 'manual',
      })
      assert.equal(raw.headers.get('cache-control'), 'no-store')
      assert.match(raw.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/)
      assert.equal(raw.headers.get('access-control-allow-origin'), null)
    })

    it('OAuth 2.1 §4.1.2.1: redirect_uri variants are refused with a 400 page, never redirected', async () => {
      for (const variant of [
        `${REDIRECT}x`, // suffix
        `${REDIRECT}/more`, // extra path
        'https://SCRIBE.example.com/callback', // case of the host
        'https://scribe.example.com/Callback', // case of the path
        'https://scribe.example.com/callback/..;/evil', // path parameter traversal
        'https://scribe.example.com/x/../callback', // dot segments
        'https://scribe.example.com:8443/callback', // other port
        'https://scribe.example.com:443/callback', // explicit default port
        `${REDIRECT}#frag`, // fragment
        `${REDIRECT}?extra=1`, // query
        'http://scribe.example.com/callback', // scheme
        'https://evil.example.com/callback',
        ' https://scribe.example.com/callback',
      ]) {
        const res = await f.authorize(f.request({ redirect_uri: variant }).params)
        assert.equal(res.status, 400, variant)
        assert.equal(res.location, null, variant)
        assert.match(res.text, /invalid_request/)
      }
    })

    it('OAuth 2.1 §8.4.2: a loopback IP redirect URI matches on any port, and only on its path', async () => {
      const ok = await f.authorize(f.request({ redirect_uri: 'http://127.0.0.1:53124/cb' }).params)
      assert.equal(ok.status, 303)
      assert.match(ok.location ?? '', /^\/consent\?/)
      const other = await f.authorize(f.request({ redirect_uri: 'http://127.0.0.1:53124/other' }).params)
      assert.equal(other.status, 400)
      const name = await f.authorize(f.request({ redirect_uri: 'http://localhost:53124/cb' }).params)
      assert.equal(name.status, 400)
      // An error for a loopback request goes back to the port asked for.
      const error = await f.authorize(
        f.request({ redirect_uri: 'http://127.0.0.1:53124/cb', code_challenge_method: 'plain' }).params,
      )
      assert.equal(error.status, 303)
      assert.ok(error.location?.startsWith('http://127.0.0.1:53124/cb?'))
      assert.ok(LOOPBACK_REDIRECT)
    })

    it('a bad client_id is a 400 page: unknown, autonomous, or without redirect URIs', async () => {
      for (const client of ['nobody', 'bot', 'helper', '']) {
        const res = await f.authorize(f.request({ client_id: client }).params)
        assert.equal(res.status, 400, client)
        assert.equal(res.location, null)
      }
      const missing = await f.authorize(f.request({ client_id: undefined }).params)
      assert.equal(missing.status, 400)
    })

    it('OAuth 2.1 -16 §4.1.1: PKCE missing, or plain, or without a method is invalid_request with state and iss (RFC 9207)', async () => {
      for (const overrides of [
        { code_challenge: undefined, code_challenge_method: undefined },
        { code_challenge_method: 'plain' },
        { code_challenge_method: undefined },
        { code_challenge: 'short' },
      ]) {
        const res = await f.authorize(f.request(overrides).params)
        assert.equal(res.status, 303, JSON.stringify(overrides))
        const params = redirectedError(res.location)
        assert.equal(params.get('error'), 'invalid_request')
        assert.equal(params.get('state'), 'st-123')
        assert.equal(params.get('iss'), f.issuer)
        assert.equal(params.get('code'), null)
      }
    })

    it('OAuth 2.1 §4.1.1: response_type other than code is unsupported_response_type, with iss', async () => {
      for (const type of ['token', 'code id_token', 'id_token']) {
        const res = await f.authorize(f.request({ response_type: type }).params)
        const params = redirectedError(res.location)
        assert.equal(params.get('error'), 'unsupported_response_type')
        assert.equal(params.get('iss'), f.issuer)
      }
      const none = redirectedError(
        (await f.authorize(f.request({ response_type: undefined }).params)).location,
      )
      assert.equal(none.get('error'), 'invalid_request')
    })

    it('scope beyond the agent ceiling or the resource server is invalid_scope; unknown resource invalid_target', async () => {
      const beyond = redirectedError(
        (await f.authorize(f.request({ scope: 'tickets:delete' }).params)).location,
      )
      assert.equal(beyond.get('error'), 'invalid_scope')
      assert.equal(beyond.get('iss'), f.issuer)
      const unknown = redirectedError(
        (await f.authorize(f.request({ resource: 'https://nowhere.example.com/' }).params)).location,
      )
      assert.equal(unknown.get('error'), 'invalid_target')
      const details = redirectedError(
        (await f.authorize(f.request({ authorization_details: '[{"type":"unknown_type"}]' }).params))
          .location,
      )
      assert.equal(details.get('error'), 'invalid_authorization_details')
    })

    it('a repeated parameter or NUL is refused without a redirect; the page escapes what it shows', async () => {
      const repeated = await f.authorize({ ...f.request().params, state: ['a', 'b'] })
      assert.equal(repeated.status, 400)
      assert.equal(repeated.location, null)
      const nul = await f.authorize(f.request({ state: 'a\u0000b' }).params)
      assert.equal(nul.status, 400)
      const page = await f.authorize(f.request({ client_id: '<script>alert(1)</script>' }).params)
      assert.doesNotMatch(page.text, /<script>/)
    })

    describe('PAR (RFC 9126)', () => {
      const basic = () => ({
        authorization: `Basic ${Buffer.from(`scribe:${f.scribeSecret}`).toString('base64')}`,
      })

      it('§2.2: 201 with a request_uri URN and expires_in; the authorization endpoint accepts it once', async () => {
        const { params } = f.request()
        const pushed = await f.par(params, basic())
        assert.equal(pushed.status, 201)
        assert.match(String(pushed.json.request_uri), REQUEST_URI)
        assert.equal(pushed.json.expires_in, 60)
        const first = await f.authorize({ client_id: 'scribe', request_uri: String(pushed.json.request_uri) })
        assert.equal(first.status, 303)
        assert.match(first.location ?? '', /^\/consent\?/)
        const again = await f.authorize({ client_id: 'scribe', request_uri: String(pushed.json.request_uri) })
        assert.equal(again.status, 400)
        assert.match(again.text, /invalid_request_uri/)
      })

      it('§2: client authentication as at the token endpoint; none or a wrong secret is invalid_client', async () => {
        const none = await f.par(f.request().params)
        assert.equal(none.status, 401)
        assert.equal(none.json.error, 'invalid_client')
        const wrong = await f.par(f.request().params, {
          authorization: `Basic ${Buffer.from('scribe:wrong').toString('base64')}`,
        })
        assert.equal(wrong.status, 401)
        const post = await f.par({ ...f.request().params, client_secret: f.scribeSecret })
        assert.equal(post.status, 201)
      })

      it('§2.1: a pushed request containing request_uri is refused', async () => {
        const res = await f.par(
          { ...f.request().params, request_uri: 'urn:ietf:params:oauth:request_uri:abc' },
          basic(),
        )
        assert.equal(res.status, 400)
        assert.equal(res.json.error, 'invalid_request')
      })

      it('§2.1: a pushed request is validated like any other: PKCE plain, a bad redirect_uri are JSON errors', async () => {
        const plain = await f.par(f.request({ code_challenge_method: 'plain' }).params, basic())
        assert.equal(plain.status, 400)
        assert.equal(plain.json.error, 'invalid_request')
        const redirect = await f.par(f.request({ redirect_uri: `${REDIRECT}/x` }).params, basic())
        assert.equal(redirect.status, 400)
        assert.equal(redirect.json.error, 'invalid_request')
        // client_id naming another client than the one authenticated.
        const otherClient = await f.par(f.request({ client_id: 'helper' }).params, basic())
        assert.ok(otherClient.status === 400 || otherClient.status === 401)
        assert.ok(['invalid_request', 'invalid_client'].includes(String(otherClient.json.error)))
      })

      it('§2.2: a request_uri is bound to the client that pushed it', async () => {
        const pushed = await f.par(f.request().params, basic())
        const res = await f.authorize({ client_id: 'bot', request_uri: String(pushed.json.request_uri) })
        assert.equal(res.status, 400)
        assert.equal(res.location, null)
        const unknown = await f.authorize({
          client_id: 'scribe',
          request_uri: 'urn:ietf:params:oauth:request_uri:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        })
        assert.equal(unknown.status, 400)
        assert.match(unknown.text, /invalid_request_uri/)
      })

      it('§4: an expired request_uri is refused', async () => {
        const pushed = await f.par(f.request().params, basic())
        offset += 61_000
        try {
          const res = await f.authorize({ client_id: 'scribe', request_uri: String(pushed.json.request_uri) })
          assert.equal(res.status, 400)
          assert.match(res.text, /invalid_request_uri/)
        } finally {
          offset -= 61_000
        }
      })

      it('§2.3: PAR accepts only POST', async () => {
        const res = await fetch(`${f.issuer}/oauth/par`)
        assert.equal(res.status, 405)
        assert.equal(((await res.json()) as { error: string }).error, 'invalid_request')
      })
    })
  })
}
