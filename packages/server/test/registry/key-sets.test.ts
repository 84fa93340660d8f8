// KeySets: registered key sets as jose resolvers, against a real JWKS server on loopback, with a test clock: documents
// used until they are old, one refetch (per cooldown) for a key the set lacks, failures remembered with backoff.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { errors, type JWK, jwtVerify, SignJWT } from 'jose'
import { JwksFetcher } from '../../src/registry/jwks-fetcher.ts'
import { KeySets, type KeySetsOptions, KeySetUnavailable } from '../../src/registry/key-sets.ts'

function keyPair(kid: string) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return {
    kid,
    privateKey,
    publicJwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, alg: 'ES256' },
  }
}

function sign(key: ReturnType<typeof keyPair>): Promise<string> {
  return new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'ES256', kid: key.kid }).sign(key.privateKey)
}

/** A JWKS server on loopback: what it serves per path, and how often each path was asked. */
interface JwksServer {
  origin: string
  serve: Map<string, { status: number; keys: JWK[] }>
  hits: Map<string, number>
  close(): Promise<void>
}

async function startJwksServer(): Promise<JwksServer> {
  const serve = new Map<string, { status: number; keys: JWK[] }>()
  const hits = new Map<string, number>()
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/'
    hits.set(path, (hits.get(path) ?? 0) + 1)
    const answer = serve.get(path) ?? { status: 404, keys: [] }
    res
      .writeHead(answer.status, { 'content-type': 'application/json' })
      .end(JSON.stringify({ keys: answer.keys }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    serve,
    hits,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

describe('KeySets', () => {
  let server: JwksServer
  let now = 1_700_000_000_000
  const k1 = keyPair('k1')
  const k2 = keyPair('k2')
  const stranger = keyPair('unknown')
  const keySets = (options: Partial<KeySetsOptions> = {}) =>
    new KeySets(new JwksFetcher({ allowLoopback: true }), {
      maxAgeSeconds: 300,
      refetchCooldownSeconds: 30,
      failureBackoffMaxSeconds: 60,
      now: () => now,
      ...options,
    })
  let path = 0
  /** A fresh path on the server serving `keys`. */
  const publish = (keys: JWK[], status = 200) => {
    const p = `/jwks/${++path}`
    server.serve.set(p, { status, keys })
    return { uri: `${server.origin}${p}`, path: p }
  }
  const verify = (sets: KeySets, owner: object, uri: string, key: ReturnType<typeof keyPair>) =>
    sign(key).then((token) => jwtVerify(token, sets.resolver(owner, { inline: [], uris: [uri] })))

  before(async () => {
    server = await startJwksServer()
  })
  after(async () => {
    await server.close()
  })

  it('uses a fetched document until it is maxAgeSeconds old, then fetches it again', async () => {
    const sets = keySets()
    const owner = {}
    const { uri, path } = publish([k1.publicJwk])
    await verify(sets, owner, uri, k1)
    now += 299_000
    await verify(sets, owner, uri, k1)
    assert.equal(server.hits.get(path), 1)
    now += 1000
    await verify(sets, owner, uri, k1)
    assert.equal(server.hits.get(path), 2)
  })

  it('shares one fetch between concurrent verifications', async () => {
    const sets = keySets()
    const owner = {}
    const { uri, path } = publish([k1.publicJwk])
    await Promise.all(Array.from({ length: 10 }, () => verify(sets, owner, uri, k1)))
    assert.equal(server.hits.get(path), 1)
  })

  it('a token naming a key the document lacks makes it fetch again at once, so a rotated key verifies', async () => {
    const sets = keySets()
    const owner = {}
    const { uri, path } = publish([k1.publicJwk])
    await verify(sets, owner, uri, k1)
    server.serve.set(path, { status: 200, keys: [k2.publicJwk] })
    const { payload } = await verify(sets, owner, uri, k2)
    assert.equal(payload.sub, 'x')
    assert.equal(server.hits.get(path), 2)
  })

  it('unknown keys cause at most one refetch per cooldown, however many tokens name them', async () => {
    const sets = keySets()
    const owner = {}
    const { uri, path } = publish([k1.publicJwk])
    await verify(sets, owner, uri, k1)
    for (let i = 0; i < 20; i++)
      await assert.rejects(verify(sets, owner, uri, stranger), errors.JWKSNoMatchingKey)
    assert.equal(server.hits.get(path), 2, 'the first load and one refetch')
    now += 29_000
    await assert.rejects(verify(sets, owner, uri, stranger), errors.JWKSNoMatchingKey)
    assert.equal(server.hits.get(path), 2)
    now += 1000
    await assert.rejects(verify(sets, owner, uri, stranger), errors.JWKSNoMatchingKey)
    assert.equal(server.hits.get(path), 3, 'once the cooldown has passed, one more')
  })

  it('a failed fetch is not repeated before its backoff (5 s, doubling, bounded) has passed', async () => {
    const sets = keySets({ failureBackoffMaxSeconds: 12 })
    const owner = {}
    const { uri, path } = publish([], 503)
    const refused = async () => {
      const error = await verify(sets, owner, uri, k1).catch((e: unknown) => e)
      assert.ok(error instanceof KeySetUnavailable, String(error))
      assert.equal(error.code, 'jwks_fetch_failed')
      assert.doesNotMatch(error.message, /jwks\//, 'the message names the host, not the path')
    }
    for (let i = 0; i < 10; i++) await refused()
    assert.equal(server.hits.get(path), 1, 'ten requests, one fetch')
    now += 4999
    await refused()
    assert.equal(server.hits.get(path), 1)
    now += 1
    await refused()
    assert.equal(server.hits.get(path), 2, 'after 5 s')
    now += 9999
    await refused()
    assert.equal(server.hits.get(path), 2, 'the second wait is 10 s')
    now += 1
    await refused()
    assert.equal(server.hits.get(path), 3)
    now += 12_000
    await refused()
    assert.equal(server.hits.get(path), 4, 'the third wait (20 s) is bounded by the maximum (12 s)')
    server.serve.set(path, { status: 200, keys: [k1.publicJwk] })
    now += 12_000
    await verify(sets, owner, uri, k1)
    assert.equal(server.hits.get(path), 5, 'a success ends the backoff')
  })

  it('keys past their age are not used once their refresh fails (fail closed)', async () => {
    const sets = keySets()
    const owner = {}
    const { uri, path } = publish([k1.publicJwk])
    await verify(sets, owner, uri, k1)
    server.serve.set(path, { status: 500, keys: [] })
    now += 300_000
    await assert.rejects(verify(sets, owner, uri, k1), KeySetUnavailable)
  })

  it('a failed refetch for an unknown key keeps the fresh document in use', async () => {
    const sets = keySets()
    const owner = {}
    const { uri, path } = publish([k1.publicJwk])
    await verify(sets, owner, uri, k1)
    server.serve.set(path, { status: 500, keys: [] })
    await assert.rejects(verify(sets, owner, uri, stranger), errors.JWKSNoMatchingKey)
    await verify(sets, owner, uri, k1)
    assert.equal(server.hits.get(path), 2)
  })

  it('inline keys verify without a fetch; a changed registration (a new owner object) uses its own keys', async () => {
    const sets = keySets()
    const before = await jwtVerify(await sign(k1), sets.resolver({}, { inline: [k1.publicJwk], uris: [] }))
    assert.equal(before.payload.sub, 'x')
    const replaced = sets.resolver({}, { inline: [k2.publicJwk], uris: [] })
    await assert.rejects(jwtVerify(await sign(k1), replaced), errors.JWKSNoMatchingKey)
    await jwtVerify(await sign(k2), replaced)
  })

  it('keeps the fetcher’s SSRF protections: a private or loopback jwks_uri is refused without a connection', async () => {
    const strict = new KeySets(new JwksFetcher(), {
      maxAgeSeconds: 300,
      refetchCooldownSeconds: 30,
      failureBackoffMaxSeconds: 60,
    })
    for (const uri of ['https://10.0.0.1/jwks', 'https://127.0.0.1/jwks', `${server.origin}/jwks/1`]) {
      const error = await jwtVerify(await sign(k1), strict.resolver({}, { inline: [], uris: [uri] })).catch(
        (e: unknown) => e,
      )
      assert.ok(error instanceof KeySetUnavailable, String(error))
      assert.match(error.code, /jwks_uri_invalid|jwks_address_forbidden/)
    }
    assert.throws(() => strict.validateUri('https://192.168.1.1/jwks'), /forbidden/)
  })

  it('refuses a negative or NaN duration', () => {
    assert.throws(
      () =>
        new KeySets(new JwksFetcher(), {
          maxAgeSeconds: -1,
          refetchCooldownSeconds: 30,
          failureBackoffMaxSeconds: 60,
        }),
      RangeError,
    )
    assert.throws(
      () =>
        new KeySets(new JwksFetcher(), {
          maxAgeSeconds: 300,
          refetchCooldownSeconds: Number.NaN,
          failureBackoffMaxSeconds: 60,
        }),
      RangeError,
    )
  })
})
