// @mandate/sdk's verifyAccessToken, as a resource server runs it (issue 8): RFC 9068 §4 checks against an issuer's
// keys served on loopback, DPoP-bound tokens (RFC 9449 §4.3, §7.1, §9), certificate-bound tokens (RFC 8705 §3) over
// real TLS, and the WWW-Authenticate challenges of RFC 6750 §3.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash, generateKeyPairSync, type KeyObject, randomUUID, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  AccessTokenError,
  type AccessTokenErrorCode,
  MandateIssuer,
  MandateOAuthError,
  MemoryDpopReplayStore,
  type ProtectedResourceRequest,
  requestFromNode,
  verifyAccessToken,
} from '@mandate/sdk'
import Fastify from 'fastify'
import { calculateJwkThumbprint, type JWK, SignJWT } from 'jose'
import { tempDir } from '../support/harness.ts'

const AUDIENCE = 'https://tickets.example.com/'
const TICKET_URL = 'https://tickets.example.com/tickets/42'

function ecKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return { privateKey, publicJwk: publicKey.export({ format: 'jwk' }) as JWK }
}

/** An issuer on loopback: RFC 8414 metadata and a JWKS, with a switch to make the JWKS fail. */
async function startIssuer(key: ReturnType<typeof ecKey>) {
  let jwksStatus = 200
  let jwksRequests = 0
  let metadataIssuer: string | undefined
  const server: Server = createServer((req, res) => {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    if (req.url === '/.well-known/oauth-authorization-server') {
      res.setHeader('content-type', 'application/json')
      res.end(
        JSON.stringify({
          issuer: metadataIssuer ?? url,
          jwks_uri: `${url}/jwks`,
          token_endpoint: `${url}/token`,
        }),
      )
    } else if (req.url === '/jwks') {
      jwksRequests++
      res.statusCode = jwksStatus
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ keys: [{ ...key.publicJwk, kid: 'as-1', alg: 'ES256', use: 'sig' }] }))
    } else {
      res.statusCode = 404
      res.end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    jwksRequests: () => jwksRequests,
    setJwksStatus: (status: number) => {
      jwksStatus = status
    },
    setMetadataIssuer: (issuer: string | undefined) => {
      metadataIssuer = issuer
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

// A self-signed certificate made with the openssl command line.
function certificate(dir: string, name: string, subject: string, san?: string) {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`)
  run(
    'req',
    '-x509',
    '-new',
    '-key',
    `${name}.key`,
    '-subj',
    subject,
    '-days',
    '2',
    ...(san ? ['-addext', `subjectAltName=${san}`] : []),
    '-out',
    `${name}.pem`,
  )
  return { cert: readFileSync(join(dir, `${name}.pem`)), key: readFileSync(join(dir, `${name}.key`)) }
}

describe('@mandate/sdk verifyAccessToken (issue 8)', () => {
  const signingKey = ecKey()
  const dpopKey = ecKey()
  let as: Awaited<ReturnType<typeof startIssuer>>
  let issuer: MandateIssuer
  let dpopJkt: string

  /** An access token signed by the issuer, with claims and header overridable (undefined removes a claim). */
  const accessToken = (
    claims: Record<string, unknown> = {},
    header: Record<string, unknown> = {},
    key?: KeyObject,
  ) => {
    const now = Math.floor(Date.now() / 1000)
    const payload: Record<string, unknown> = {
      iss: as.url,
      sub: 'bot',
      aud: AUDIENCE,
      client_id: 'bot',
      scope: 'tickets:read tickets:write',
      iat: now,
      exp: now + 300,
      jti: randomUUID(),
      ...claims,
    }
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name]
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'ES256', kid: 'as-1', typ: 'at+jwt', ...header })
      .sign(key ?? signingKey.privateKey)
  }

  /** A DPoP proof for `token`, with claims and header overridable. */
  const proof = (
    token: string,
    claims: Record<string, unknown> = {},
    header: Record<string, unknown> = {},
    key = dpopKey,
  ) =>
    new SignJWT({
      jti: randomUUID(),
      htm: 'GET',
      htu: TICKET_URL,
      iat: Math.floor(Date.now() / 1000),
      ath: createHash('sha256').update(token).digest('base64url'),
      ...claims,
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk, ...header })
      .sign(key.privateKey)

  const request = (
    headers: ProtectedResourceRequest['headers'],
    extra: Partial<ProtectedResourceRequest> = {},
  ) => ({
    method: 'GET',
    url: TICKET_URL,
    headers,
    ...extra,
  })

  /** Asserts a refusal with `code` and returns it. */
  async function refused(promise: Promise<unknown>, code: AccessTokenErrorCode, description?: RegExp) {
    const error = await promise.then(
      () => assert.fail(`expected ${code}`),
      (e: unknown) => e,
    )
    assert.ok(error instanceof AccessTokenError, String(error))
    assert.equal(error.code, code, error.message)
    assert.equal(error.status, code === 'insufficient_scope' ? 403 : 401)
    if (description) assert.match(error.description, description)
    return error
  }

  before(async () => {
    as = await startIssuer(signingKey)
    issuer = new MandateIssuer(as.url)
    dpopJkt = await calculateJwkThumbprint(dpopKey.publicJwk)
  })
  after(() => as.close())

  describe('RFC 9068 §4: the token', () => {
    it('accepts a bearer token signed with a key from the jwks_uri of the issuer metadata, with its claims and scopes', async () => {
      const token = await accessToken()
      const verified = await verifyAccessToken(request({ authorization: `Bearer ${token}` }), {
        issuer,
        audience: AUDIENCE,
        scopes: 'tickets:read',
      })
      assert.equal(verified.binding, 'bearer')
      assert.equal(verified.token, token)
      assert.equal(verified.claims.sub, 'bot')
      assert.equal(verified.claims.client_id, 'bot')
      assert.deepEqual(verified.scopes, ['tickets:read', 'tickets:write'])
    })

    it('takes Fetch Headers, a lower-case scheme, a jwksUri given directly, and an aud list containing the audience', async () => {
      const direct = new MandateIssuer(as.url, { jwksUri: `${as.url}/jwks` })
      const token = await accessToken({ aud: ['https://other.example.com/', AUDIENCE] })
      const verified = await verifyAccessToken(request(new Headers({ authorization: `bearer ${token}` })), {
        issuer: direct,
        audience: AUDIENCE,
        scopes: ['tickets:write'],
      })
      assert.deepEqual(verified.claims.aud, ['https://other.example.com/', AUDIENCE])
    })

    it('one MandateIssuer fetches the keys once for many verifications', async () => {
      const own = new MandateIssuer(as.url)
      const before = as.jwksRequests()
      for (let i = 0; i < 3; i++)
        await verifyAccessToken(request({ authorization: `Bearer ${await accessToken()}` }), {
          issuer: own,
          audience: AUDIENCE,
        })
      assert.equal(as.jwksRequests() - before, 1)
    })

    it('RFC 6750 §3.1: without a token the challenge names both schemes and no error', async () => {
      for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }]) {
        const error = await refused(
          verifyAccessToken(request(headers), { issuer, audience: AUDIENCE, realm: 'tickets' }),
          'invalid_token',
        )
        assert.equal(
          error.headers['www-authenticate'],
          'Bearer realm="tickets", DPoP realm="tickets", algs="ES256 ES384 ES512 EdDSA Ed25519 RS256 RS384 RS512 PS256 PS384 PS512"',
        )
      }
    })

    const refusals: Array<[string, () => Promise<string>, RegExp]> = [
      ['a header that is not "Bearer <token>"', async () => 'Bearer two words', /must be "Bearer <token>"/],
      [
        'typ JWT (an ID token or other JWT, not an access token)',
        () => accessToken({}, { typ: 'JWT' }),
        /typ/,
      ],
      ['another audience', () => accessToken({ aud: 'https://other.example.com/' }), /another audience/],
      ['another issuer', () => accessToken({ iss: 'https://evil.example.com' }), /another issuer/],
      [
        'an expired token (beyond the 30 s tolerance)',
        () => accessToken({ exp: Math.floor(Date.now() / 1000) - 60 }),
        /expired/,
      ],
      ['no client_id (RFC 9068 §2.2)', () => accessToken({ client_id: undefined }), /client_id/],
      ['no jti', () => accessToken({ jti: undefined }), /jti/],
      ['a key the issuer does not publish', () => accessToken({}, {}, ecKey().privateKey), /signature/],
      ['an unknown kid', () => accessToken({}, { kid: 'other' }), /not signed by a key of the issuer/],
      [
        'HS256 (a public key used as an HMAC secret)',
        () =>
          new SignJWT({ iss: as.url, sub: 'bot', aud: AUDIENCE })
            .setProtectedHeader({ alg: 'HS256', kid: 'as-1', typ: 'at+jwt' })
            .sign(new TextEncoder().encode(JSON.stringify(signingKey.publicJwk))),
        /algorithm/,
      ],
      [
        'alg none',
        async () => {
          const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
          const now = Math.floor(Date.now() / 1000)
          return `${part({ alg: 'none', typ: 'at+jwt' })}.${part({ iss: as.url, sub: 'bot', aud: AUDIENCE, exp: now + 60, iat: now, jti: 'x', client_id: 'bot' })}.`
        },
        /not a valid signed JWT|algorithm/,
      ],
      [
        'a confirmation method it cannot check',
        () => accessToken({ cnf: { 'x5t#S1': 'abc' } }),
        /not supported/,
      ],
      ['a token of 20,000 characters', async () => 'a'.repeat(20_000), /too large/],
    ]
    for (const [name, make, description] of refusals)
      it(`refuses ${name} with invalid_token and a Bearer challenge saying why`, async () => {
        const token = await make()
        const error = await refused(
          verifyAccessToken(request({ authorization: `Bearer ${token}` }), { issuer, audience: AUDIENCE }),
          'invalid_token',
          description,
        )
        assert.match(
          error.headers['www-authenticate'] ?? '',
          /^Bearer error="invalid_token", error_description="[^"]+", DPoP /,
        )
        assert.ok(!error.message.includes(token), 'the token is not quoted')
      })

    it('RFC 6750 §3.1: a valid token without every scope asked for is insufficient_scope (403) naming the scopes', async () => {
      const token = await accessToken({ scope: 'tickets:read' })
      const error = await refused(
        verifyAccessToken(request({ authorization: `Bearer ${token}` }), {
          issuer,
          audience: AUDIENCE,
          scopes: 'tickets:read tickets:delete',
        }),
        'insufficient_scope',
        /tickets:delete/,
      )
      assert.match(
        error.headers['www-authenticate'] ?? '',
        /^Bearer error="insufficient_scope", .*scope="tickets:read tickets:delete"$/,
      )
    })

    it('an issuer whose keys cannot be had is MandateOAuthError, not a refusal: network_error, invalid_response', async () => {
      const token = await accessToken()
      const closed = new MandateIssuer('http://127.0.0.1:9', { clockToleranceSeconds: 0 })
      const unreachable = await verifyAccessToken(request({ authorization: `Bearer ${token}` }), {
        issuer: closed,
        audience: AUDIENCE,
      }).catch((e: unknown) => e)
      assert.ok(unreachable instanceof MandateOAuthError, String(unreachable))
      assert.equal(unreachable.code, 'network_error')

      const failing = new MandateIssuer(as.url)
      as.setJwksStatus(500)
      try {
        const broken = await verifyAccessToken(request({ authorization: `Bearer ${token}` }), {
          issuer: failing,
          audience: AUDIENCE,
        }).catch((e: unknown) => e)
        assert.ok(broken instanceof MandateOAuthError, String(broken))
        assert.equal(broken.code, 'invalid_response')
      } finally {
        as.setJwksStatus(200)
      }
      // The issuer recovers: the same object fetches the keys again.
      const verified = await verifyAccessToken(request({ authorization: `Bearer ${token}` }), {
        issuer: failing,
        audience: AUDIENCE,
      })
      assert.equal(verified.claims.sub, 'bot')
    })

    it('RFC 8414 §3.3: metadata naming another issuer is invalid_response', async () => {
      as.setMetadataIssuer('https://someone-else.example.com')
      try {
        const error = await verifyAccessToken(request({ authorization: `Bearer ${await accessToken()}` }), {
          issuer: new MandateIssuer(as.url),
          audience: AUDIENCE,
        }).catch((e: unknown) => e)
        assert.ok(error instanceof MandateOAuthError)
        assert.equal(error.code, 'invalid_response')
        assert.match(error.description, /another issuer/)
      } finally {
        as.setMetadataIssuer(undefined)
      }
    })
  })

  describe('RFC 9449: DPoP-bound tokens', () => {
    const bound = () => accessToken({ cnf: { jkt: dpopJkt } })
    const verifyDpop = (
      token: string,
      proofs: string | string[] | undefined,
      extra: Partial<ProtectedResourceRequest> = {},
    ) =>
      verifyAccessToken(
        request({ authorization: `DPoP ${token}`, ...(proofs === undefined ? {} : { dpop: proofs }) }, extra),
        { issuer, audience: AUDIENCE, scopes: 'tickets:read' },
      )

    it('§7.1: accepts the token with the DPoP scheme and a proof of its key for this request; query and fragment do not count', async () => {
      const token = await bound()
      const verified = await verifyDpop(token, await proof(token), { url: `${TICKET_URL}?view=full` })
      assert.equal(verified.binding, 'dpop')
      assert.equal(verified.claims.cnf?.jkt, dpopJkt)
    })

    it('§7.2: a DPoP-bound token presented as Bearer is invalid_token', async () => {
      const token = await bound()
      await refused(
        verifyAccessToken(request({ authorization: `Bearer ${token}`, dpop: await proof(token) }), {
          issuer,
          audience: AUDIENCE,
        }),
        'invalid_token',
        /DPoP-bound/,
      )
    })

    it('a token without cnf.jkt presented with the DPoP scheme, or with a DPoP header, is invalid_token', async () => {
      const token = await accessToken()
      await refused(verifyDpop(token, await proof(token)), 'invalid_token', /not DPoP-bound/)
      await refused(
        verifyAccessToken(request({ authorization: `Bearer ${token}`, dpop: await proof(token) }), {
          issuer,
          audience: AUDIENCE,
        }),
        'invalid_token',
        /DPoP proof came with a Bearer token/,
      )
    })

    const proofRefusals: Array<[string, (token: string) => Promise<string | string[] | undefined>, RegExp]> =
      [
        ['§4.3 step 1: no proof', async () => undefined, /required/],
        ['§4.3 step 1: two proofs', async (t) => [await proof(t), await proof(t)], /only one/],
        [
          '§4.3 step 1: two proofs folded into one header',
          async (t) => `${await proof(t)}, ${await proof(t)}`,
          /only one/,
        ],
        ['§4.3 step 4: typ JWT', (t) => proof(t, {}, { typ: 'JWT' }), /typ/],
        [
          '§4.3 step 7: a private key in the header',
          (t) => proof(t, {}, { jwk: dpopKey.privateKey.export({ format: 'jwk' }) }),
          /public key/,
        ],
        ['§4.3 step 8: another method', (t) => proof(t, { htm: 'POST' }), /htm/],
        [
          '§4.3 step 9: another URL',
          (t) => proof(t, { htu: 'https://tickets.example.com/tickets/43' }),
          /htu/,
        ],
        [
          '§4.3 step 11: an iat two minutes old',
          (t) => proof(t, { iat: Math.floor(Date.now() / 1000) - 120 }),
          /too old/,
        ],
        [
          '§4.3 step 11: an iat in the future',
          (t) => proof(t, { iat: Math.floor(Date.now() / 1000) + 120 }),
          /future/,
        ],
        ['§4.3 step 12: ath of another token', (t) => proof(t, { ath: 'x'.repeat(43) }), /ath/],
        [
          '§4.3 step 12: another key than the token is bound to',
          (t) => proof(t, {}, {}, ecKey()),
          /not bound to/,
        ],
        ['§4.3: no jti', (t) => proof(t, { jti: undefined }), /jti/],
      ]
    for (const [name, make, description] of proofRefusals)
      it(`${name} is invalid_dpop_proof with a DPoP challenge`, async () => {
        const token = await bound()
        const error = await refused(verifyDpop(token, await make(token)), 'invalid_dpop_proof', description)
        assert.match(
          error.headers['www-authenticate'] ?? '',
          /^DPoP error="invalid_dpop_proof", error_description="[^"]+", algs="ES256 /,
        )
      })

    it('§11.1: a proof is accepted once; the same proof again is a replay', async () => {
      const token = await bound()
      const once = await proof(token)
      await verifyDpop(token, once)
      await refused(verifyDpop(token, once), 'invalid_dpop_proof', /already used/)
    })

    it('§11.1: a proof refused for another reason can be corrected: the replay check comes last', async () => {
      const token = await bound()
      const jti = randomUUID()
      await refused(verifyDpop(token, await proof(token, { jti, htm: 'POST' })), 'invalid_dpop_proof', /htm/)
      const verified = await verifyDpop(token, await proof(token, { jti }))
      assert.equal(verified.binding, 'dpop')
    })

    it('§9: with nonces required, a proof without one is use_dpop_nonce with a DPoP-Nonce; one with it is accepted', async () => {
      let current = 'nonce-1'
      const dpopNonce = { issue: () => current, accepts: (nonce: string) => nonce === current }
      const token = await bound()
      const options = { issuer, audience: AUDIENCE, dpopNonce }
      const error = await refused(
        verifyAccessToken(request({ authorization: `DPoP ${token}`, dpop: await proof(token) }), options),
        'use_dpop_nonce',
      )
      assert.equal(error.headers['dpop-nonce'], 'nonce-1')
      assert.match(error.challenge, /^DPoP error="use_dpop_nonce", /)
      const verified = await verifyAccessToken(
        request({ authorization: `DPoP ${token}`, dpop: await proof(token, { nonce: 'nonce-1' }) }),
        options,
      )
      assert.equal(verified.binding, 'dpop')
      current = 'nonce-2'
      const stale = await refused(
        verifyAccessToken(
          request({ authorization: `DPoP ${token}`, dpop: await proof(token, { nonce: 'nonce-1' }) }),
          options,
        ),
        'use_dpop_nonce',
      )
      assert.equal(stale.headers['dpop-nonce'], 'nonce-2')
    })

    it('an insufficient scope with DPoP is told in the DPoP scheme', async () => {
      const token = await bound()
      const error = await refused(
        verifyAccessToken(request({ authorization: `DPoP ${token}`, dpop: await proof(token) }), {
          issuer,
          audience: AUDIENCE,
          scopes: 'tickets:admin',
        }),
        'insufficient_scope',
      )
      assert.match(error.challenge, /^DPoP error="insufficient_scope", .*scope="tickets:admin"/)
    })

    it('MemoryDpopReplayStore forgets a proof once its window is over, and refuses new proofs when full rather than forget early', () => {
      let now = 1_000_000
      const store = new MemoryDpopReplayStore(2, () => now)
      assert.equal(store.claim('a', now + 1000), true)
      assert.equal(store.claim('a', now + 1000), false)
      assert.equal(store.claim('b', now + 5000), true)
      assert.equal(store.claim('c', now + 1000), false, 'full: refused')
      now += 1001
      assert.equal(store.claim('c', now + 1000), true, 'a has expired, so there is room')
      assert.equal(store.claim('a', now + 1000), false, 'full again')
    })
  })

  describe('RFC 8705 §3: certificate-bound tokens', () => {
    const dir = tempDir()
    let client: ReturnType<typeof certificate>
    let other: ReturnType<typeof certificate>
    let server: ReturnType<typeof certificate>
    let thumbprint: string

    before(() => {
      client = certificate(dir.path, 'client', '/CN=mtls-bot')
      other = certificate(dir.path, 'other', '/CN=other-bot')
      server = certificate(dir.path, 'server', '/CN=127.0.0.1', 'IP:127.0.0.1')
      thumbprint = createHash('sha256').update(new X509Certificate(client.cert).raw).digest('base64url')
    })
    after(() => dir.drop())

    it('accepts the token with the certificate it is bound to, as X509Certificate, PEM or DER', async () => {
      const token = await accessToken({ cnf: { 'x5t#S256': thumbprint } })
      for (const clientCertificate of [
        new X509Certificate(client.cert),
        client.cert.toString('utf8'),
        new X509Certificate(client.cert).raw,
      ]) {
        const verified = await verifyAccessToken(
          request({ authorization: `Bearer ${token}` }, { clientCertificate }),
          {
            issuer,
            audience: AUDIENCE,
          },
        )
        assert.equal(verified.binding, 'mtls')
      }
    })

    it('refuses it without a certificate or with another one (invalid_token)', async () => {
      const token = await accessToken({ cnf: { 'x5t#S256': thumbprint } })
      for (const clientCertificate of [undefined, new X509Certificate(other.cert), 'not a certificate'])
        await refused(
          verifyAccessToken(request({ authorization: `Bearer ${token}` }, { clientCertificate }), {
            issuer,
            audience: AUDIENCE,
          }),
          'invalid_token',
          /client certificate/,
        )
    })

    it('requestFromNode reads the TLS client certificate of a node:https request', async () => {
      const token = await accessToken({ cnf: { 'x5t#S256': thumbprint } })
      const results: string[] = []
      const https = createHttpsServer(
        { key: server.key, cert: server.cert, requestCert: true, rejectUnauthorized: false },
        (req, res) => {
          verifyAccessToken(requestFromNode(req), { issuer, audience: AUDIENCE }).then(
            (verified) => {
              results.push(verified.binding)
              res.end('ok')
            },
            (error: unknown) => {
              results.push(error instanceof AccessTokenError ? error.code : String(error))
              res.writeHead(error instanceof AccessTokenError ? error.status : 500).end()
            },
          )
        },
      )
      await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve))
      const port = (https.address() as AddressInfo).port
      const call = (cert?: { cert: Buffer; key: Buffer }) =>
        new Promise<number>((resolve, reject) => {
          const req = httpsRequest(
            `https://127.0.0.1:${port}/tickets`,
            { headers: { authorization: `Bearer ${token}` }, ca: server.cert, ...(cert ?? {}) },
            (res) => {
              res.resume()
              res.on('end', () => resolve(res.statusCode ?? 0))
            },
          )
          req.on('error', reject)
          req.end()
        })
      try {
        assert.equal(await call(client), 200)
        assert.equal(await call(other), 401)
        assert.equal(await call(), 401)
        assert.deepEqual(results, ['mtls', 'invalid_token', 'invalid_token'])
      } finally {
        await new Promise<void>((resolve) => https.close(() => resolve()))
      }
    })
  })

  describe('requestFromNode', () => {
    it('builds the URL a proof names from baseUrl and the path, even behind a proxy with a path prefix', async () => {
      const token = await accessToken({ cnf: { jkt: dpopJkt } })
      const seen: string[] = []
      const http = createServer((req, res) => {
        const described = requestFromNode(req, { baseUrl: 'https://tickets.example.com/api/' })
        seen.push(String(described.url))
        verifyAccessToken(described, { issuer, audience: AUDIENCE }).then(
          (verified) => res.end(verified.binding),
          (error: unknown) => res.writeHead(error instanceof AccessTokenError ? error.status : 500).end(),
        )
      })
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
      const port = (http.address() as AddressInfo).port
      try {
        const dpop = await proof(token, { htu: 'https://tickets.example.com/api/tickets/42', htm: 'DELETE' })
        const response = await fetch(`http://127.0.0.1:${port}/tickets/42?x=1`, {
          method: 'DELETE',
          headers: { authorization: `DPoP ${token}`, dpop },
        })
        assert.equal(response.status, 200)
        assert.equal(await response.text(), 'dpop')
        assert.deepEqual(seen, ['https://tickets.example.com/api/tickets/42?x=1'])
      } finally {
        await new Promise<void>((resolve) => http.close(() => resolve()))
      }
    })

    it('Fastify: requestFromNode(request.raw) in an onRequest hook, as the SDK README shows', async () => {
      const app = Fastify()
      app.addHook('onRequest', async (request, reply) => {
        try {
          await verifyAccessToken(requestFromNode(request.raw), {
            issuer,
            audience: AUDIENCE,
            scopes: 'tickets:read',
          })
        } catch (error) {
          if (!(error instanceof AccessTokenError)) throw error
          return reply.code(error.status).headers(error.headers).send({ error: error.code })
        }
      })
      app.get('/tickets/:id', async (request) => ({ id: (request.params as { id: string }).id }))
      const url = await app.listen({ port: 0, host: '127.0.0.1' })
      try {
        const anonymous = await fetch(`${url}/tickets/42`)
        assert.equal(anonymous.status, 401)
        assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer, DPoP algs=/)
        assert.deepEqual(await anonymous.json(), { error: 'invalid_token' })
        const token = await accessToken({ cnf: { jkt: dpopJkt } })
        const dpop = await proof(token, { htu: `${url}/tickets/42` })
        const response = await fetch(`${url}/tickets/42`, {
          headers: { authorization: `DPoP ${token}`, dpop },
        })
        assert.equal(response.status, 200)
        assert.deepEqual(await response.json(), { id: '42' })
      } finally {
        await app.close()
      }
    })
  })
})
