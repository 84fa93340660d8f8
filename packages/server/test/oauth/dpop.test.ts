// DPoP at the token endpoint (RFC 9449): sender-constrained tokens bound to the client's key with cnf.jkt.
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { calculateJwkThumbprint, createRemoteJWKSet, type JWK, jwtVerify, SignJWT } from 'jose'
import * as client from 'openid-client'
import { sqliteStore, type TestStore } from '../support/harness.ts'
import { type OAuthFixture, RESOURCE, startOAuthFixture } from './oauth-fixture.ts'

function dpopKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return { privateKey, jwk: publicKey.export({ format: 'jwk' }) as JWK }
}

async function proof(key: ReturnType<typeof dpopKey>, htu: string, claims: Record<string, unknown> = {}) {
  return new SignJWT({ jti: randomUUID(), htm: 'POST', htu, iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
    .sign(key.privateKey)
}

describe('DPoP at the token endpoint', () => {
  let store: TestStore
  let f: OAuthFixture
  const form = (f: OAuthFixture, id = 'secret-bot') => ({
    grant_type: 'client_credentials',
    scope: 'tickets:read',
    resource: RESOURCE,
    client_id: id,
    client_secret: f.secrets[id] ?? '',
  })

  before(async () => {
    store = sqliteStore()
    f = await startOAuthFixture(store)
  })
  after(async () => {
    await f.close()
    await store.drop()
  })

  it('RFC 8414: metadata lists the DPoP algorithms', async () => {
    const metadata = (await f.node.call('GET', '/.well-known/oauth-authorization-server', { token: null }))
      .json
    assert.ok(metadata.dpop_signing_alg_values_supported.includes('ES256'))
    assert.ok(!metadata.dpop_signing_alg_values_supported.includes('HS256'))
  })

  it('RFC 9449 §5, §6.1: binds the token to the proof key (openid-client DPoP handle)', async () => {
    const config = await client.discovery(
      new URL(f.issuer),
      'secret-bot',
      undefined,
      client.ClientSecretBasic(f.secrets['secret-bot']),
      { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
    )
    const keyPair = await client.randomDPoPKeyPair('ES256')
    const tokens = await client.clientCredentialsGrant(
      config,
      { scope: 'tickets:read', resource: RESOURCE },
      { DPoP: client.getDPoPHandle(config, keyPair) },
    )
    assert.equal(tokens.token_type.toLowerCase(), 'dpop')
    const { payload } = await jwtVerify(
      tokens.access_token,
      createRemoteJWKSet(new URL(`${f.issuer}/.well-known/jwks.json`)),
      { audience: RESOURCE },
    )
    const { subtle } = globalThis.crypto
    const jwk = (await subtle.exportKey('jwk', keyPair.publicKey)) as JWK
    assert.deepEqual(payload.cnf, { jkt: await calculateJwkThumbprint(jwk) })
  })

  it('RFC 9449 §4.3: a replayed proof is invalid_dpop_proof', async () => {
    const key = dpopKey()
    const header = await proof(key, f.tokenEndpoint)
    assert.equal((await f.token(form(f), { dpop: header })).status, 200)
    const replay = await f.token(form(f), { dpop: header })
    assert.equal(replay.json.error, 'invalid_dpop_proof')
    assert.equal(replay.json.access_token, undefined)
  })

  it('RFC 9449 §4.3: wrong htm, wrong htu, stale iat, symmetric alg and a private key in the header are invalid_dpop_proof', async () => {
    const key = dpopKey()
    const cases = [
      await proof(key, f.tokenEndpoint, { htm: 'GET' }),
      await proof(key, `${f.issuer}/elsewhere`),
      await proof(key, f.tokenEndpoint, { iat: Math.floor(Date.now() / 1000) - 3600 }),
      await new SignJWT({
        jti: randomUUID(),
        htm: 'POST',
        htu: f.tokenEndpoint,
        iat: Math.floor(Date.now() / 1000),
      })
        .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: key.jwk })
        .sign(Buffer.alloc(32, 1)),
      await new SignJWT({
        jti: randomUUID(),
        htm: 'POST',
        htu: f.tokenEndpoint,
        iat: Math.floor(Date.now() / 1000),
      })
        .setProtectedHeader({
          alg: 'ES256',
          typ: 'dpop+jwt',
          jwk: key.privateKey.export({ format: 'jwk' }) as JWK,
        })
        .sign(key.privateKey),
    ]
    for (const header of cases) {
      const res = await f.token(form(f), { dpop: header })
      assert.equal(res.json.error, 'invalid_dpop_proof', JSON.stringify(res.json))
    }
  })

  it('RFC 9449 §4.3: two DPoP headers are invalid_dpop_proof', async () => {
    const key = dpopKey()
    const body = new URLSearchParams(form(f))
    const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded' })
    headers.append('dpop', await proof(key, f.tokenEndpoint))
    headers.append('dpop', await proof(key, f.tokenEndpoint))
    const res = await fetch(f.tokenEndpoint, { method: 'POST', headers, body })
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_dpop_proof')
  })

  it('RFC 9449 §8: with nonces required, the first proof gets use_dpop_nonce and a DPoP-Nonce header, the retry a token', async () => {
    const other = sqliteStore()
    const g = await startOAuthFixture(other, { dpopRequireNonce: true })
    try {
      const key = dpopKey()
      const first = await g.token(form(g), { dpop: await proof(key, g.tokenEndpoint) })
      assert.equal(first.json.error, 'use_dpop_nonce')
      const nonce = first.headers.get('dpop-nonce')
      assert.ok(nonce)
      const retry = await g.token(form(g), { dpop: await proof(key, g.tokenEndpoint, { nonce }) })
      assert.equal(retry.status, 200, JSON.stringify(retry.json))
      assert.equal(retry.json.token_type, 'DPoP')
      // The challenge comes before client authentication, so a one-time client assertion survives it.
      const assertionForm = {
        grant_type: 'client_credentials',
        scope: 'tickets:read',
        resource: RESOURCE,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await g.assertion('bot'),
      }
      assert.equal(
        (await g.token(assertionForm, { dpop: await proof(key, g.tokenEndpoint) })).json.error,
        'use_dpop_nonce',
      )
      const again = await g.token(assertionForm, { dpop: await proof(key, g.tokenEndpoint, { nonce }) })
      assert.equal(again.status, 200, JSON.stringify(again.json))
      const refusals = (await g.node.call('GET', '/api/v1/audit/events?type=token.refuse')).json.items
      assert.equal(refusals.length, 0, 'a nonce challenge is not recorded as a refusal')
    } finally {
      await g.close()
      await other.drop()
    }
  })
})
