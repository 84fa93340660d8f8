// @mandate/sdk's agent client with its key as PEM text or in a file, and configured from environment variables
// (AgentClient.fromEnv), against a real node (issue 8).
import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { AgentClient } from '@mandate/sdk'
import { createRemoteJWKSet, type JWK, jwtVerify } from 'jose'
import {
  ecKeyPair,
  type OAuthFixture,
  RESOURCE,
  registerDeployer,
  signWorkloadToken,
  startOAuthFixture,
} from '../oauth/oauth-fixture.ts'
import { sqliteStore, type TestStore, tempDir } from '../support/harness.ts'

/** A key pair of `type` with its public JWK under `kid`. */
function keyPair(kid: string, type: 'ec' | 'rsa' | 'ed25519', alg: string) {
  const { privateKey, publicKey } =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ed25519')
  return { privateKey, publicJwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, alg } }
}

const pem = (key: KeyObject, type: 'pkcs8' | 'sec1' | 'pkcs1') => String(key.export({ type, format: 'pem' }))

describe('@mandate/sdk AgentClient keys and environment (issue 8)', () => {
  let store: TestStore
  let f: OAuthFixture
  let jwks: ReturnType<typeof createRemoteJWKSet>
  const dir = tempDir()
  const ec = keyPair('ec-1', 'ec', 'ES256')
  const rsa = keyPair('rsa-1', 'rsa', 'RS256')
  const ed = keyPair('ed-1', 'ed25519', 'EdDSA')
  const platformKey = ecKeyPair('k8s-1')

  const subjectOf = async (agent: AgentClient) => {
    const token = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
    const { payload } = await jwtVerify(token.accessToken, jwks, { issuer: f.issuer, audience: RESOURCE })
    return { sub: payload.sub, token }
  }
  const pemAgent = (privateKey: string, kid: string) =>
    new AgentClient({
      issuer: f.issuer,
      clientId: 'pem-bot',
      credential: { type: 'private_key_jwt', privateKey, kid },
    })

  before(async () => {
    store = sqliteStore()
    f = await startOAuthFixture(store)
    jwks = createRemoteJWKSet(new URL(`${f.issuer}/.well-known/jwks.json`))
    const res = await f.node.call('PUT', '/api/v1/agents/pem-bot', {
      body: {
        sponsor: 'alice@example.com',
        classification: 'autonomous',
        ceiling: ['tickets:read'],
        credentials: [{ type: 'jwks', jwks: { keys: [ec.publicJwk, rsa.publicJwk, ed.publicJwk] } }],
      },
    })
    assert.ok(res.status < 300, res.text)
    await registerDeployer(f.node, platformKey)
  })
  after(async () => {
    await f.close()
    await store.drop()
    dir.drop()
  })

  describe('PEM keys and key files', () => {
    it('RFC 7523 §2.2: private_key_jwt takes the key as PEM text: PKCS #8 and SEC 1 EC, PKCS #1 RSA, PKCS #8 Ed25519', async () => {
      for (const [privateKey, kid] of [
        [pem(ec.privateKey, 'pkcs8'), 'ec-1'],
        [pem(ec.privateKey, 'sec1'), 'ec-1'],
        [pem(rsa.privateKey, 'pkcs1'), 'rsa-1'],
        [pem(ed.privateKey, 'pkcs8'), 'ed-1'],
      ] as const) {
        const { sub } = await subjectOf(pemAgent(privateKey, kid))
        assert.equal(sub, 'pem-bot', kid)
      }
    })

    it('privateKeyFile reads a PEM file or a private JWK in JSON once, when the client is created', async () => {
      const pemFile = join(dir.path, 'rsa.pem')
      writeFileSync(pemFile, pem(rsa.privateKey, 'pkcs1'))
      const jwkFile = join(dir.path, 'ec.json')
      writeFileSync(
        jwkFile,
        JSON.stringify({ ...(ec.privateKey.export({ format: 'jwk' }) as JWK), kid: 'ec-1' }),
      )
      const fromPem = new AgentClient({
        issuer: f.issuer,
        clientId: 'pem-bot',
        credential: { type: 'private_key_jwt', privateKeyFile: pemFile, kid: 'rsa-1' },
      })
      const fromJwk = new AgentClient({
        issuer: f.issuer,
        clientId: 'pem-bot',
        credential: { type: 'private_key_jwt', privateKeyFile: jwkFile },
      })
      // Read at construction: the files can go away afterwards.
      writeFileSync(pemFile, 'gone')
      writeFileSync(jwkFile, 'gone')
      assert.equal((await subjectOf(fromPem)).sub, 'pem-bot')
      assert.equal((await subjectOf(fromJwk)).sub, 'pem-bot', 'the kid comes from the JWK')
    })

    it('a public key, an encrypted key, text that is no key, a missing file or both key options: a TypeError that never quotes the key', () => {
      const publicPem = String(ec.privateKey.export({ type: 'pkcs8', format: 'pem' })).replace(
        /PRIVATE/g,
        'PUBLIC',
      )
      const encrypted = String(
        ec.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pass' }),
      )
      const privatePem = pem(ec.privateKey, 'pkcs8')
      const build = (credential: ConstructorParameters<typeof AgentClient>[0]['credential']) => () =>
        new AgentClient({ issuer: f.issuer, clientId: 'pem-bot', credential })
      assert.throws(build({ type: 'private_key_jwt', privateKey: publicPem }), /public key or certificate/)
      assert.throws(build({ type: 'private_key_jwt', privateKey: encrypted }), /encrypted/)
      assert.throws(build({ type: 'private_key_jwt', privateKey: 'not a key' }), /neither PEM nor a JWK/)
      assert.throws(
        build({ type: 'private_key_jwt', privateKeyFile: join(dir.path, 'absent.pem') }),
        (error: unknown) =>
          error instanceof TypeError && /absent\.pem/.test(error.message) && /ENOENT/.test(error.message),
      )
      const both = {
        type: 'private_key_jwt',
        privateKey: privatePem,
        privateKeyFile: 'x',
      } as unknown as Parameters<typeof build>[0]
      assert.throws(build(both), /exactly one of privateKey and privateKeyFile/)
      const garbled = privatePem.replace(/[A-Za-z0-9+/]{20}\n/, 'AAAA\n')
      assert.throws(build({ type: 'private_key_jwt', privateKey: garbled }), (error: unknown) => {
        assert.ok(error instanceof TypeError)
        assert.ok(!error.message.includes(garbled.split('\n')[1] ?? 'unset'), 'the key is not quoted')
        return true
      })
    })

    it('RFC 9449: a DPoP key given as PEM is used with its public key derived from it', async () => {
      const dpop = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const agent = new AgentClient({
        issuer: f.issuer,
        clientId: 'bot',
        credential: { type: 'private_key_jwt', privateKey: f.botKey.privateKey, kid: 'k1' },
        dpop: { privateKey: pem(dpop.privateKey, 'pkcs8') },
      })
      const token = await agent.getToken({ resource: RESOURCE, scope: 'tickets:read' })
      assert.equal(token.tokenType, 'DPoP')
      const { payload } = await jwtVerify(token.accessToken, jwks, { issuer: f.issuer, audience: RESOURCE })
      const { calculateJwkThumbprint } = await import('jose')
      assert.deepEqual(payload.cnf, {
        jkt: await calculateJwkThumbprint(dpop.publicKey.export({ format: 'jwk' }) as JWK),
      })
    })
  })

  describe('AgentClient.fromEnv', () => {
    const base = () => ({ MANDATE_URL: f.issuer, MANDATE_CLIENT_ID: 'pem-bot' })

    it('MANDATE_PRIVATE_KEY_FILE with MANDATE_KEY_ID: private_key_jwt with the key in the file', async () => {
      const file = join(dir.path, 'env-key.pem')
      writeFileSync(file, pem(rsa.privateKey, 'pkcs1'))
      const agent = AgentClient.fromEnv({
        ...base(),
        MANDATE_PRIVATE_KEY_FILE: file,
        MANDATE_KEY_ID: 'rsa-1',
      })
      assert.equal(agent.clientId, 'pem-bot')
      assert.equal(agent.issuer, f.issuer)
      assert.equal((await subjectOf(agent)).sub, 'pem-bot')
    })

    it('MANDATE_PRIVATE_KEY holds PEM, also with its newlines written as \\n on one line', async () => {
      const oneLine = pem(ec.privateKey, 'pkcs8').replace(/\n/g, '\\n')
      assert.ok(!oneLine.includes('\n'))
      const agent = AgentClient.fromEnv({ ...base(), MANDATE_PRIVATE_KEY: oneLine, MANDATE_KEY_ID: 'ec-1' })
      assert.equal((await subjectOf(agent)).sub, 'pem-bot')
    })

    it('MANDATE_CLIENT_SECRET with MANDATE_DPOP=true: client_secret_basic and DPoP-bound tokens', async () => {
      const agent = AgentClient.fromEnv({
        MANDATE_URL: f.issuer,
        MANDATE_CLIENT_ID: 'secret-bot',
        MANDATE_CLIENT_SECRET: f.secrets['secret-bot'] ?? '',
        MANDATE_DPOP: 'true',
      })
      const { sub, token } = await subjectOf(agent)
      assert.equal(sub, 'secret-bot')
      assert.equal(token.tokenType, 'DPoP')
    })

    it('MANDATE_FEDERATED_TOKEN_FILE: the platform token file is read for every request, so a rotated token is used', async () => {
      const file = join(dir.path, 'k8s-token')
      writeFileSync(file, await signWorkloadToken(platformKey))
      const agent = AgentClient.fromEnv({
        MANDATE_URL: f.issuer,
        MANDATE_CLIENT_ID: 'deployer',
        MANDATE_FEDERATED_TOKEN_FILE: file,
      })
      await agent.getToken({ resource: RESOURCE, scope: 'tickets:write' })
      writeFileSync(file, 'not-a-token')
      await assert.rejects(
        agent.getToken({
          resource: RESOURCE,
          scope: 'tickets:write',
          authorizationDetails: [{ type: 'ticket_action', actions: ['deploy'] }],
        }),
        { name: 'MandateOAuthError' },
      )
      writeFileSync(file, await signWorkloadToken(platformKey))
      const token = await agent.getToken({
        resource: RESOURCE,
        scope: 'tickets:write',
        authorizationDetails: [{ type: 'ticket_action', actions: ['deploy', 'again'] }],
      })
      assert.equal(token.scope, 'tickets:write')
    })

    it('reads process.env by default; options add what the environment cannot hold', async () => {
      const saved = { ...process.env }
      let fetched = 0
      try {
        Object.assign(process.env, {
          MANDATE_URL: f.issuer,
          MANDATE_CLIENT_ID: 'secret-bot',
          MANDATE_CLIENT_SECRET: f.secrets['secret-bot'] ?? '',
        })
        const agent = AgentClient.fromEnv(undefined, {
          fetch: (input, init) => {
            fetched++
            return fetch(input, init)
          },
        })
        assert.equal((await subjectOf(agent)).sub, 'secret-bot')
        assert.ok(fetched >= 2, 'discovery and the token request went through the given fetch')
      } finally {
        for (const name of ['MANDATE_URL', 'MANDATE_CLIENT_ID', 'MANDATE_CLIENT_SECRET'])
          if (saved[name] === undefined) delete process.env[name]
          else process.env[name] = saved[name]
      }
    })

    it('a missing or invalid variable is a TypeError naming it, never its value', () => {
      const secret = 'a-secret-that-must-not-leak'
      const cases: Array<[Record<string, string>, RegExp]> = [
        [{ MANDATE_CLIENT_ID: 'x', MANDATE_CLIENT_SECRET: secret }, /MANDATE_URL is not set/],
        [{ MANDATE_URL: f.issuer, MANDATE_CLIENT_SECRET: secret }, /MANDATE_CLIENT_ID is not set/],
        [
          { MANDATE_URL: f.issuer, MANDATE_CLIENT_ID: 'x', MANDATE_CLIENT_SECRET: '  ' },
          /no credential: set one of/,
        ],
        [
          { ...base(), MANDATE_CLIENT_SECRET: secret, MANDATE_PRIVATE_KEY_FILE: '/x' },
          /only one credential variable, not MANDATE_PRIVATE_KEY_FILE and MANDATE_CLIENT_SECRET/,
        ],
        [
          { ...base(), MANDATE_CLIENT_SECRET: secret, MANDATE_DPOP: 'yes' },
          /MANDATE_DPOP must be true or false/,
        ],
        [{ ...base(), MANDATE_PRIVATE_KEY: secret }, /MANDATE_PRIVATE_KEY is neither PEM nor a JWK/],
        [
          { ...base(), MANDATE_PRIVATE_KEY_FILE: join(dir.path, 'nope.pem') },
          /MANDATE_PRIVATE_KEY_FILE: cannot read/,
        ],
        [
          { MANDATE_URL: 'ftp://x', MANDATE_CLIENT_ID: 'x', MANDATE_CLIENT_SECRET: secret },
          /issuer must be an http/,
        ],
      ]
      for (const [env, expected] of cases)
        assert.throws(
          () => AgentClient.fromEnv(env),
          (error: unknown) => {
            assert.ok(error instanceof TypeError, String(error))
            assert.match(error.message, expected)
            assert.ok(!error.message.includes(secret), 'the value leaked into the error')
            return true
          },
        )
    })
  })
})
