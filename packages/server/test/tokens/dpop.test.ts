// DPoP proof verification (RFC 9449 §4.3) against a real replay cache on a temp SQLite file, and the nonces of §8.
import assert from 'node:assert/strict'
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose'
import { InvalidDpopProof, toOAuthErrorResponse, UseDpopNonce } from '../../src/errors/oauth-error.ts'
import { type Database, openDatabase } from '../../src/store/database.ts'
import {
  DPOP_ALGORITHMS,
  type DpopCheck,
  type DpopContext,
  DpopNonces,
  jwkThumbprint,
  verifyDpopProof,
} from '../../src/tokens/dpop.ts'
import { ReplayCache } from '../../src/tokens/replay-cache.ts'
import { tempDir } from '../support/harness.ts'

const URL_TOKEN = 'https://as.example.com/token'
const WINDOW = 60

interface KeyPair {
  alg: string
  privateKey: CryptoKey
  jwk: JWK
}

async function keyPair(alg: string, options: { crv?: string } = {}): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...options })
  return { alg, privateKey, jwk: await exportJWK(publicKey) }
}

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** Replaces the protected header of a compact JWS, keeping payload and signature. */
function withHeader(jws: string, header: Record<string, unknown>): string {
  const [, payload, signature] = jws.split('.')
  return `${encode(header)}.${payload}.${signature}`
}

function isInvalidProof(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof InvalidDpopProof, `expected InvalidDpopProof, got ${String(error)}`)
    assert.match(error.message, pattern)
    assert.equal(toOAuthErrorResponse(error).status, 400)
    return true
  }
}

describe('DPoP proofs (RFC 9449)', () => {
  const dir = tempDir()
  const file = join(dir.path, 'mandate.db')
  let database: Database
  let otherNode: Database
  let clock = Date.parse('2026-06-01T00:00:00Z')
  let ctx: DpopContext
  let es256: KeyPair
  let eddsa: KeyPair
  let rs256: KeyPair
  let es384: KeyPair

  before(async () => {
    database = await openDatabase({ dialect: 'sqlite', file })
    await database.migrate()
    otherNode = await openDatabase({ dialect: 'sqlite', file })
    ctx = { replay: new ReplayCache(database, () => clock), now: () => clock, iatWindowSeconds: WINDOW }
    es256 = await keyPair('ES256')
    eddsa = await keyPair('EdDSA')
    rs256 = await keyPair('RS256')
    es384 = await keyPair('ES384')
  })
  after(async () => {
    await otherNode.close()
    await database.close()
    dir.drop()
  })

  const nowSeconds = () => Math.floor(clock / 1000)

  /** A proof signed by `key`, for POST to the token endpoint unless claims or header say otherwise. */
  async function proof(
    key: KeyPair,
    claims: JWTPayload = {},
    header: Record<string, unknown> = {},
    signer: CryptoKey = key.privateKey,
  ): Promise<string> {
    return new SignJWT({ jti: randomUUID(), htm: 'POST', htu: URL_TOKEN, iat: nowSeconds(), ...claims })
      .setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.jwk, ...header })
      .sign(signer)
  }

  function check(proofs: string[], overrides: Partial<DpopCheck> = {}): DpopCheck {
    return { proofs, method: 'POST', url: URL_TOKEN, ...overrides }
  }

  describe('§4.3: a valid proof', () => {
    it('RFC 9449 §4.3: accepts an ES256 proof and returns its key’s RFC 7638 thumbprint', async () => {
      const jti = randomUUID()
      const verified = await verifyDpopProof(check([await proof(es256, { jti })]), ctx)
      assert.equal(verified.jkt, await calculateJwkThumbprint(es256.jwk, 'sha256'))
      assert.equal(verified.jti, jti)
      assert.deepEqual(verified.jwk, es256.jwk)
    })

    it('RFC 9449 §4.3: accepts an EdDSA proof and returns its key’s RFC 7638 thumbprint', async () => {
      const verified = await verifyDpopProof(check([await proof(eddsa)]), ctx)
      assert.equal(verified.jkt, await calculateJwkThumbprint(eddsa.jwk, 'sha256'))
    })

    it('RFC 9449 §4.3: accepts the fully-specified Ed25519 alg and RSA keys', async () => {
      const ed25519 = { ...eddsa, alg: 'Ed25519' }
      assert.equal(
        (await verifyDpopProof(check([await proof(ed25519)]), ctx)).jkt,
        await calculateJwkThumbprint(eddsa.jwk, 'sha256'),
      )
      assert.equal(
        (await verifyDpopProof(check([await proof(rs256)]), ctx)).jkt,
        await calculateJwkThumbprint(rs256.jwk, 'sha256'),
      )
    })

    it('RFC 9449 §5: offers only asymmetric algorithms', () => {
      for (const alg of ['none', 'HS256', 'HS384', 'HS512']) assert.ok(!DPOP_ALGORITHMS.includes(alg), alg)
      assert.ok(DPOP_ALGORITHMS.includes('ES256'))
    })
  })

  describe('RFC 7638 thumbprints', () => {
    it('RFC 7638 §3.1: matches the RSA example thumbprint', async () => {
      const jwk: JWK = {
        kty: 'RSA',
        n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
        e: 'AQAB',
        alg: 'RS256',
        kid: '2011-04-29',
      }
      assert.equal(await jwkThumbprint(jwk), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
    })

    it('RFC 8037 Appendix A.3: matches the Ed25519 example thumbprint', async () => {
      const jwk: JWK = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }
      assert.equal(await jwkThumbprint(jwk), 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k')
    })
  })

  describe('§11.1: replay', () => {
    it('RFC 9449 §11.1: refuses the same proof twice', async () => {
      const dpop = await proof(es256)
      await verifyDpopProof(check([dpop]), ctx)
      await assert.rejects(verifyDpopProof(check([dpop]), ctx), isInvalidProof(/already used/))
    })

    it('RFC 9449 §11.1: refuses a new proof that reuses a jti of the same key', async () => {
      const jti = randomUUID()
      await verifyDpopProof(check([await proof(es256, { jti })]), ctx)
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { jti, iat: nowSeconds() - 1 })]), ctx),
        isInvalidProof(/already used/),
      )
    })

    it('RFC 9449 §11.1: refuses a proof replayed on another node sharing the store', async () => {
      const dpop = await proof(es256)
      await verifyDpopProof(check([dpop]), ctx)
      const otherCtx = { ...ctx, replay: new ReplayCache(otherNode, () => clock) }
      await assert.rejects(verifyDpopProof(check([dpop]), otherCtx), isInvalidProof(/already used/))
    })

    it('RFC 9449 §11.1: a refused proof does not use up its jti', async () => {
      const jti = randomUUID()
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { jti, htm: 'GET' })]), ctx),
        isInvalidProof(/htm/),
      )
      await verifyDpopProof(check([await proof(es256, { jti })]), ctx)
    })

    it('RFC 9449 §11.1: jti values are remembered per key', async () => {
      const jti = randomUUID()
      await verifyDpopProof(check([await proof(es256, { jti })]), ctx)
      await verifyDpopProof(check([await proof(eddsa, { jti })]), ctx)
    })
  })

  describe('§4.3 steps 8 and 9: htm and htu', () => {
    it('RFC 9449 §4.3: refuses a proof whose htm does not match', async () => {
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { htm: 'GET' })]), ctx),
        isInvalidProof(/htm does not match/),
      )
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { htm: 'post' })]), ctx),
        isInvalidProof(/htm does not match/),
      )
    })

    it('RFC 9449 §4.3: refuses a proof whose htu names another path', async () => {
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { htu: 'https://as.example.com/introspect' })]), ctx),
        isInvalidProof(/htu does not match/),
      )
    })

    it('RFC 9449 §4.3: refuses a proof whose htu names another host, port or scheme', async () => {
      for (const htu of [
        'https://evil.example.com/token',
        'https://as.example.com:8443/token',
        'http://as.example.com/token',
      ]) {
        await assert.rejects(
          verifyDpopProof(check([await proof(es256, { htu })]), ctx),
          isInvalidProof(/htu does not match/),
          htu,
        )
      }
    })

    it('RFC 9449 §4.3 step 9: accepts an htu that differs only in query and fragment', async () => {
      await verifyDpopProof(check([await proof(es256, { htu: `${URL_TOKEN}?a=1#frag` })]), ctx)
      await verifyDpopProof(check([await proof(es256)], { url: `${URL_TOKEN}?b=2` }), ctx)
    })

    it('RFC 9449 §4.3 step 9: compares htu after normalizing case and default port', async () => {
      await verifyDpopProof(check([await proof(es256, { htu: 'HTTPS://AS.Example.COM:443/token' })]), ctx)
    })

    it('RFC 9449 §4.2: refuses an htu that is not an http(s) URL', async () => {
      for (const htu of ['/token', 'urn:example:token', 'javascript:alert(1)']) {
        await assert.rejects(
          verifyDpopProof(check([await proof(es256, { htu })]), ctx),
          isInvalidProof(/htu is not an http\(s\) URL/),
          htu,
        )
      }
    })
  })

  describe('§4.3 step 11: iat', () => {
    it('RFC 9449 §4.3: refuses a stale iat', async () => {
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { iat: nowSeconds() - WINDOW - 1 })]), ctx),
        isInvalidProof(/too old/),
      )
    })

    it('RFC 9449 §4.3: refuses an iat in the future', async () => {
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { iat: nowSeconds() + WINDOW + 1 })]), ctx),
        isInvalidProof(/future/),
      )
    })

    it('RFC 9449 §4.3: accepts an iat at either edge of the window', async () => {
      await verifyDpopProof(check([await proof(es256, { iat: nowSeconds() - WINDOW })]), ctx)
      await verifyDpopProof(check([await proof(es256, { iat: nowSeconds() + WINDOW })]), ctx)
    })

    it('RFC 9449 §4.2: refuses a proof without iat or with a non-numeric one', async () => {
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { iat: undefined })]), ctx),
        isInvalidProof(/needs an iat/),
      )
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { iat: 'now' as unknown as number })]), ctx),
        isInvalidProof(/iat/),
      )
    })

    it('RFC 9449 §4.3: refuses a proof whose own exp has passed', async () => {
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { exp: nowSeconds() - WINDOW - 10 })]), ctx),
        isInvalidProof(/exp claim/),
      )
    })
  })

  describe('§4.2: required claims', () => {
    it('RFC 9449 §4.2: refuses a proof without jti', async () => {
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { jti: undefined })]), ctx),
        isInvalidProof(/needs a jti/),
      )
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { jti: '' })]), ctx),
        isInvalidProof(/needs a jti/),
      )
    })

    it('RFC 9449 §4.2: refuses a jti longer than 256 characters', async () => {
      await verifyDpopProof(check([await proof(es256, { jti: 'j'.repeat(256) })]), ctx)
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { jti: 'j'.repeat(257) })]), ctx),
        isInvalidProof(/longer than 256/),
      )
    })

    it('RFC 9449 §4.2: refuses a jti with control characters, which the store cannot keep', async () => {
      for (const jti of ['a\u0000b', 'line\nbreak']) {
        await assert.rejects(
          verifyDpopProof(check([await proof(es256, { jti })]), ctx),
          isInvalidProof(/jti has control characters/),
        )
      }
    })

    it('RFC 9449 §4.2: accepts a fractional iat and remembers its jti', async () => {
      const dpop = await proof(es256, { iat: nowSeconds() - 0.5 })
      await verifyDpopProof(check([dpop]), ctx)
      await assert.rejects(verifyDpopProof(check([dpop]), ctx), isInvalidProof(/already used/))
    })

    it('RFC 9449 §4.2: refuses a proof without htm or htu', async () => {
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { htm: undefined })]), ctx),
        isInvalidProof(/needs an htm/),
      )
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { htu: undefined })]), ctx),
        isInvalidProof(/needs an htu/),
      )
    })
  })

  describe('§4.3 steps 4, 5 and 7: the header', () => {
    it('RFC 9449 §4.3: refuses a typ other than dpop+jwt', async () => {
      for (const typ of ['JWT', 'at+jwt', undefined]) {
        await assert.rejects(
          verifyDpopProof(check([await proof(es256, {}, { typ })]), ctx),
          isInvalidProof(/typ must be dpop\+jwt/),
          String(typ),
        )
      }
    })

    it('RFC 9449 §4.3: refuses alg none', async () => {
      const header = { alg: 'none', typ: 'dpop+jwt', jwk: es256.jwk }
      const payload = { jti: randomUUID(), htm: 'POST', htu: URL_TOKEN, iat: nowSeconds() }
      const unsigned = `${encode(header)}.${encode(payload)}.`
      await assert.rejects(verifyDpopProof(check([unsigned]), ctx), isInvalidProof(/alg must be one of/))
    })

    it('RFC 9449 §4.3: refuses HS256, whether keyed by a secret or by the embedded public key', async () => {
      const secret = randomBytes(32)
      const octJwk = { kty: 'oct', k: secret.toString('base64url') }
      const withSecret = await new SignJWT({
        jti: randomUUID(),
        htm: 'POST',
        htu: URL_TOKEN,
        iat: nowSeconds(),
      })
        .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: octJwk })
        .sign(secret)
      await assert.rejects(verifyDpopProof(check([withSecret]), ctx), isInvalidProof(/alg must be one of/))

      // The classic confusion: an HMAC keyed with the public key's JSON, which any attacker can compute.
      const header = encode({ alg: 'HS256', typ: 'dpop+jwt', jwk: es256.jwk })
      const payload = encode({ jti: randomUUID(), htm: 'POST', htu: URL_TOKEN, iat: nowSeconds() })
      const mac = createHmac('sha256', JSON.stringify(es256.jwk))
        .update(`${header}.${payload}`)
        .digest('base64url')
      await assert.rejects(
        verifyDpopProof(check([`${header}.${payload}.${mac}`]), ctx),
        isInvalidProof(/alg must be one of/),
      )
    })

    it('RFC 9449 §4.3: refuses a key type that does not match alg (RS/ES confusion)', async () => {
      const ecProof = await proof(es256)
      await assert.rejects(
        verifyDpopProof(check([withHeader(ecProof, { alg: 'RS256', typ: 'dpop+jwt', jwk: es256.jwk })]), ctx),
        isInvalidProof(/RS256 needs a RSA key/),
      )
      const rsaProof = await proof(rs256)
      await assert.rejects(
        verifyDpopProof(
          check([withHeader(rsaProof, { alg: 'ES256', typ: 'dpop+jwt', jwk: rs256.jwk })]),
          ctx,
        ),
        isInvalidProof(/ES256 needs a EC P-256 key/),
      )
      await assert.rejects(
        verifyDpopProof(
          check([withHeader(await proof(es384), { alg: 'ES256', typ: 'dpop+jwt', jwk: es384.jwk })]),
          ctx,
        ),
        isInvalidProof(/ES256 needs a EC P-256 key/),
      )
      await assert.rejects(
        verifyDpopProof(check([withHeader(ecProof, { alg: 'EdDSA', typ: 'dpop+jwt', jwk: es256.jwk })]), ctx),
        isInvalidProof(/EdDSA needs a OKP Ed25519 key/),
      )
    })

    it('RFC 9449 §4.3 step 7: refuses a jwk holding a private key', async () => {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true })
      const privateJwk = await exportJWK(privateKey)
      assert.ok(privateJwk.d)
      await assert.rejects(
        verifyDpopProof(check([await proof({ ...es256, jwk: privateJwk }, {}, {}, privateKey)]), ctx),
        isInvalidProof(/must be a public key; it has d/),
      )
      for (const member of ['p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv']) {
        const jwk = { ...rs256.jwk, [member]: 'AQAB' }
        await assert.rejects(
          verifyDpopProof(check([await proof({ ...rs256, jwk })]), ctx),
          isInvalidProof(new RegExp(`must be a public key; it has ${member}$`)),
          member,
        )
      }
    })

    it('RFC 9449 §4.2: refuses a proof without jwk, or with a jwk that is not an object', async () => {
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, {}, { jwk: undefined })]), ctx),
        isInvalidProof(/must carry the public key as jwk/),
      )
      const ecProof = await proof(es256)
      for (const jwk of ['key', [es256.jwk], null]) {
        await assert.rejects(
          verifyDpopProof(check([withHeader(ecProof, { alg: 'ES256', typ: 'dpop+jwt', jwk })]), ctx),
          isInvalidProof(/must carry the public key as jwk/),
        )
      }
    })

    it('RFC 8725 §3.1: refuses an embedded jwk restricted to another alg or use', async () => {
      await assert.rejects(
        verifyDpopProof(check([await proof({ ...es256, jwk: { ...es256.jwk, alg: 'ES384' } })]), ctx),
        isInvalidProof(/not a valid signed JWT/),
      )
      await assert.rejects(
        verifyDpopProof(check([await proof({ ...es256, jwk: { ...es256.jwk, use: 'enc' } })]), ctx),
        isInvalidProof(/not a valid signed JWT/),
      )
    })
  })

  describe('§4.3 steps 1, 2 and 6: the header value and the signature', () => {
    it('RFC 9449 §4.3: refuses a request without a DPoP header', async () => {
      await assert.rejects(verifyDpopProof(check([]), ctx), isInvalidProof(/a DPoP proof is required/))
    })

    it('RFC 9449 §4.3: refuses two DPoP headers, also when folded into one', async () => {
      const one = await proof(es256)
      const two = await proof(es256)
      await assert.rejects(verifyDpopProof(check([one, two]), ctx), isInvalidProof(/only one DPoP proof/))
      await assert.rejects(verifyDpopProof(check([one, one]), ctx), isInvalidProof(/only one DPoP proof/))
      await assert.rejects(
        verifyDpopProof(check([`${one}, ${two}`]), ctx),
        isInvalidProof(/only one DPoP proof/),
      )
      // Neither proof was used up by the refused requests.
      await verifyDpopProof(check([one]), ctx)
    })

    it('RFC 9449 §4.3: refuses a proof signed by another key than its jwk', async () => {
      const other = await keyPair('ES256')
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, {}, {}, other.privateKey)]), ctx),
        isInvalidProof(/signature does not verify/),
      )
    })

    it('RFC 9449 §4.3: refuses a proof whose payload was altered after signing', async () => {
      const [header, , signature] = (await proof(es256)).split('.')
      const payload = encode({ jti: randomUUID(), htm: 'DELETE', htu: URL_TOKEN, iat: nowSeconds() })
      await assert.rejects(
        verifyDpopProof(check([`${header}.${payload}.${signature}`]), ctx),
        isInvalidProof(/signature does not verify/),
      )
    })

    it('RFC 9449 §4.3: refuses malformed and oversized values with invalid_dpop_proof, never a 500', async () => {
      const header = encode({ alg: 'ES256', typ: 'dpop+jwt', jwk: es256.jwk })
      const cases = [
        '',
        'not-a-jwt',
        'a.b',
        'a.b.c.d.e',
        '!!!.???.###',
        `${encode('just a string')}.e30.sig`,
        `${header}.${Buffer.from('not json').toString('base64url')}.AAAA`,
        `${header}.${encode([1, 2, 3])}.AAAA`,
        `${header}.e30.AAAA`,
        `${header}.${'A'.repeat(9000)}.AAAA`,
      ]
      for (const value of cases) {
        await assert.rejects(verifyDpopProof(check([value]), ctx), isInvalidProof(/./), value.slice(0, 40))
      }
    })
  })

  describe('§4.3 step 12 and §7.1: ath', () => {
    const accessToken = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2ln'
    const ath = createHash('sha256').update(accessToken).digest('base64url')
    const atResource = { method: 'GET', url: 'https://api.example.com/things', accessToken }
    const resourceClaims = { htm: 'GET', htu: 'https://api.example.com/things' }

    it('RFC 9449 §7.1: accepts a proof whose ath hashes the access token', async () => {
      await verifyDpopProof(check([await proof(es256, { ...resourceClaims, ath })], atResource), ctx)
    })

    it('RFC 9449 §7.1: refuses a proof without ath when an access token is presented', async () => {
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, resourceClaims)], atResource), ctx),
        isInvalidProof(/needs an ath/),
      )
    })

    it('RFC 9449 §7.1: refuses a proof whose ath names another access token', async () => {
      const otherAth = createHash('sha256').update(`${accessToken}x`).digest('base64url')
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { ...resourceClaims, ath: otherAth })], atResource), ctx),
        isInvalidProof(/ath does not match/),
      )
    })
  })

  describe('§8: server nonces', () => {
    const nonceKey = randomBytes(32)

    it('RFC 9449 §8: asks for a nonce with use_dpop_nonce and a DPoP-Nonce header, then accepts it', async () => {
      const nonces = new DpopNonces(nonceKey, { now: () => clock })
      let issued = ''
      await assert.rejects(verifyDpopProof(check([await proof(es256)], { nonce: nonces }), ctx), (error) => {
        assert.ok(error instanceof UseDpopNonce)
        const response = toOAuthErrorResponse(error)
        assert.equal(response.status, 400)
        assert.equal(response.body.error, 'use_dpop_nonce')
        issued = response.headers['dpop-nonce'] ?? ''
        return true
      })
      assert.ok(nonces.accepted(issued))
      // RFC 9449 §8.1: the nonce syntax is 1*NQCHAR.
      assert.match(issued, /^[\x21\x23-\x5B\x5D-\x7E]+$/)
      await verifyDpopProof(check([await proof(es256, { nonce: issued })], { nonce: nonces }), ctx)
    })

    it('RFC 9449 §8: a nonce issued on one node is accepted on another with the same key', async () => {
      const issuedBy = new DpopNonces(nonceKey, { now: () => clock })
      const acceptedBy = new DpopNonces(Buffer.from(nonceKey), { now: () => clock })
      const dpop = await proof(es256, { nonce: issuedBy.issue() })
      await verifyDpopProof(check([dpop], { nonce: acceptedBy }), ctx)
    })

    it('RFC 9449 §8: refuses a nonce issued with another key', async () => {
      const nonces = new DpopNonces(nonceKey, { now: () => clock })
      const forged = new DpopNonces(randomBytes(32), { now: () => clock }).issue()
      assert.equal(nonces.accepted(forged), false)
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { nonce: forged })], { nonce: nonces }), ctx),
        (error) => error instanceof UseDpopNonce && nonces.accepted(error.headers['dpop-nonce'] ?? ''),
      )
    })

    it('RFC 9449 §8: accepts the previous bucket and refuses an expired one', async () => {
      let nonceClock = clock
      const nonces = new DpopNonces(nonceKey, { lifetimeSeconds: 300, now: () => nonceClock })
      const old = nonces.issue()
      nonceClock += 300_000
      assert.equal(nonces.accepted(old), true)
      nonceClock += 300_000
      assert.equal(nonces.accepted(old), false)
      await assert.rejects(
        verifyDpopProof(check([await proof(es256, { nonce: old })], { nonce: nonces }), ctx),
        (error) => error instanceof UseDpopNonce,
      )
    })

    it('RFC 9449 §8: refuses a nonce from the future and malformed nonces without throwing', () => {
      let nonceClock = clock
      const nonces = new DpopNonces(nonceKey, { now: () => nonceClock })
      nonceClock += 600_000
      const ahead = nonces.issue()
      nonceClock = clock
      assert.equal(nonces.accepted(ahead), false)
      for (const value of [
        '',
        'x',
        '*'.repeat(32),
        `${nonces.issue()}A`,
        nonces.issue().slice(1),
        '='.repeat(32),
      ])
        assert.equal(nonces.accepted(value), false, value)
    })

    it('RFC 9449 §8: a nonce is only required when the server asks for one', async () => {
      await verifyDpopProof(check([await proof(es256, { nonce: 'anything' })]), ctx)
    })

    it('RFC 9449 §8: refuses a nonce key shorter than 128 bits', () => {
      assert.throws(() => new DpopNonces(randomBytes(8)), RangeError)
    })
  })

  it('RFC 9449 §11.1: a jti is remembered until its proof leaves the iat window', async () => {
    const dpop = await proof(es256)
    await verifyDpopProof(check([dpop]), ctx)
    const start = clock
    try {
      clock = start + WINDOW * 1000
      await assert.rejects(verifyDpopProof(check([dpop]), ctx), isInvalidProof(/already used/))
      clock = start + (WINDOW + 1) * 1000
      await assert.rejects(verifyDpopProof(check([dpop]), ctx), isInvalidProof(/too old/))
    } finally {
      clock = start
    }
  })
})
