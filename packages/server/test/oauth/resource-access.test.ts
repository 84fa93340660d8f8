// Mandate's own resource endpoints accept its access tokens as RFC 6750 and RFC 9449 §7 ask of a resource server:
// a DPoP-bound token only with the DPoP scheme and a proof of its key. A small resource endpoint on loopback uses the
// node's authenticator, as the AuthZEN API and the gateway do.
import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { type JWK, SignJWT } from 'jose'
import { toOAuthErrorResponse } from '../../src/errors/oauth-error.ts'
import { sqliteStore, type TestStore } from '../support/harness.ts'
import { type OAuthFixture, RESOURCE, startOAuthFixture } from './oauth-fixture.ts'

function dpopKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return { privateKey, jwk: publicKey.export({ format: 'jwk' }) as JWK }
}

function proof(
  key: ReturnType<typeof dpopKey>,
  htm: string,
  htu: string,
  claims: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT({ jti: randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
    .sign(key.privateKey)
}

const ath = (token: string) => createHash('sha256').update(token).digest('base64url')

describe('access tokens at a resource endpoint (RFC 6750, RFC 9449 §7)', () => {
  let store: TestStore
  let f: OAuthFixture
  let resource: FastifyInstance
  let url: string

  before(async () => {
    store = sqliteStore()
    f = await startOAuthFixture(store)
    resource = Fastify()
    resource.get('/records', async (request, reply) => {
      try {
        const caller = await f.node.node.accessTokens.authenticate(
          {
            authorization: request.headers.authorization,
            dpop: request.headers.dpop === undefined ? [] : [request.headers.dpop].flat(),
            method: request.method,
            url,
          },
          RESOURCE,
        )
        return { sub: caller.claims.sub, binding: caller.binding }
      } catch (error) {
        const { status, body, headers } = toOAuthErrorResponse(error)
        return reply.status(status).headers(headers).send(body)
      }
    })
    url = `${await resource.listen({ host: '127.0.0.1', port: 0 })}/records`
  })
  after(async () => {
    await resource.close()
    await f.close()
    await store.drop()
  })

  const issue = async (dpop?: ReturnType<typeof dpopKey>) => {
    const res = await f.token(
      {
        grant_type: 'client_credentials',
        scope: 'tickets:read',
        resource: RESOURCE,
        client_id: 'secret-bot',
        client_secret: f.secrets['secret-bot'] ?? '',
      },
      dpop ? { dpop: await proof(dpop, 'POST', f.tokenEndpoint) } : {},
    )
    assert.equal(res.status, 200, JSON.stringify(res.json))
    return String(res.json.access_token)
  }
  const get = async (headers: Record<string, string>) => {
    const res = await fetch(url, { headers })
    return {
      status: res.status,
      json: (await res.json()) as Record<string, string>,
      challenge: res.headers.get('www-authenticate') ?? '',
    }
  }

  it('RFC 9449 §7.1: a DPoP-bound token with its proof (ath of the token) is accepted', async () => {
    const key = dpopKey()
    const token = await issue(key)
    const res = await get({
      authorization: `DPoP ${token}`,
      dpop: await proof(key, 'GET', url, { ath: ath(token) }),
    })
    assert.equal(res.status, 200, JSON.stringify(res.json))
    assert.deepEqual(res.json, { sub: 'secret-bot', binding: 'dpop' })
  })

  it('RFC 9449 §7.1: a DPoP-bound token presented as Bearer is refused (invalid_token, DPoP challenge)', async () => {
    const key = dpopKey()
    const token = await issue(key)
    const res = await get({ authorization: `Bearer ${token}` })
    assert.equal(res.status, 401)
    assert.equal(res.json.error, 'invalid_token')
    assert.match(String(res.json.error_description), /DPoP-bound/)
    assert.match(res.challenge, /DPoP realm="mandate", error="invalid_token"/)
    // With a proof alongside, Bearer is still the wrong scheme.
    const withProof = await get({
      authorization: `Bearer ${token}`,
      dpop: await proof(key, 'GET', url, { ath: ath(token) }),
    })
    assert.equal(withProof.status, 401)
    assert.equal(withProof.json.error, 'invalid_token')
  })

  it('RFC 9449 §4.3 step 10, §7.1: a proof without the ath of this token is invalid_dpop_proof', async () => {
    const key = dpopKey()
    const token = await issue(key)
    for (const claims of [{}, { ath: ath(`${token}x`) }]) {
      const res = await get({ authorization: `DPoP ${token}`, dpop: await proof(key, 'GET', url, claims) })
      assert.equal(res.status, 401)
      assert.equal(res.json.error, 'invalid_dpop_proof')
      assert.match(res.challenge, /^DPoP realm="mandate", error="invalid_dpop_proof".*algs="[^"]*ES256/)
    }
  })

  it('RFC 9449 §7.1: a proof from another key than the one the token is bound to is invalid_dpop_proof', async () => {
    const token = await issue(dpopKey())
    const res = await get({
      authorization: `DPoP ${token}`,
      dpop: await proof(dpopKey(), 'GET', url, { ath: ath(token) }),
    })
    assert.equal(res.status, 401)
    assert.equal(res.json.error, 'invalid_dpop_proof')
    assert.match(String(res.json.error_description), /not bound/)
  })

  it('RFC 9449 §11.1: a replayed proof at the resource is invalid_dpop_proof', async () => {
    const key = dpopKey()
    const token = await issue(key)
    const headers = {
      authorization: `DPoP ${token}`,
      dpop: await proof(key, 'GET', url, { ath: ath(token) }),
    }
    assert.equal((await get(headers)).status, 200)
    const replay = await get(headers)
    assert.equal(replay.status, 401)
    assert.equal(replay.json.error, 'invalid_dpop_proof')
  })

  it('RFC 9449 §4.3 step 8: a proof for another method or URL is invalid_dpop_proof', async () => {
    const key = dpopKey()
    const token = await issue(key)
    for (const [htm, htu] of [
      ['POST', url],
      ['GET', `${url}/other`],
    ] as const) {
      const res = await get({
        authorization: `DPoP ${token}`,
        dpop: await proof(key, htm, htu, { ath: ath(token) }),
      })
      assert.equal(res.json.error, 'invalid_dpop_proof', `${htm} ${htu}`)
    }
  })

  it('RFC 6750 §2.1: an unbound token is accepted as Bearer, and refused with the DPoP scheme', async () => {
    const token = await issue()
    assert.deepEqual((await get({ authorization: `Bearer ${token}` })).json, {
      sub: 'secret-bot',
      binding: 'bearer',
    })
    assert.deepEqual(
      (await get({ authorization: `bearer ${token}` })).json.binding,
      'bearer',
      'scheme is case-insensitive',
    )
    const dpop = await get({
      authorization: `DPoP ${token}`,
      dpop: await proof(dpopKey(), 'GET', url, { ath: ath(token) }),
    })
    assert.equal(dpop.status, 401)
    assert.equal(dpop.json.error, 'invalid_token')
  })

  it('RFC 6750 §3.1: no token is a challenge without an error code; a malformed header or token is invalid_token', async () => {
    const none = await get({})
    assert.equal(none.status, 401)
    assert.doesNotMatch(none.challenge, /error=/)
    assert.match(none.challenge, /^Bearer realm="mandate", DPoP realm="mandate", algs="/)
    for (const authorization of ['Basic Zm9vOmJhcg==', 'Bearer', 'Bearer a b', 'Bearer not-a-jwt']) {
      const res = await get({ authorization })
      assert.equal(res.status, 401, authorization)
      assert.equal(res.json.error, 'invalid_token', authorization)
    }
  })

  it('RFC 6750 §3.1: a token for another audience, and a revoked token, are invalid_token', async () => {
    const token = await issue()
    const other = await f.node.node.accessTokens
      .authenticate(
        { authorization: `Bearer ${token}`, dpop: [], method: 'GET', url },
        'https://other.example/',
      )
      .then(
        () => 'accepted',
        (error: Error & { code?: string }) => error.code,
      )
    assert.equal(other, 'invalid_token')
    const revoke = await fetch(`${f.issuer}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token,
        client_id: 'secret-bot',
        client_secret: f.secrets['secret-bot'] ?? '',
      }),
    })
    assert.equal(revoke.status, 200)
    const res = await get({ authorization: `Bearer ${token}` })
    assert.equal(res.status, 401)
    assert.match(String(res.json.error_description), /revoked/)
  })
})
