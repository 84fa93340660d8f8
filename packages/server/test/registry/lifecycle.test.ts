// Lifecycle rules and credential helpers of the registry.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ceilingAllows, ceilingCovers } from '../../src/registry/ceiling.ts'
import {
  checkPublicJwks,
  clientSecretMatches,
  hashClientSecret,
  prepareCredentials,
} from '../../src/registry/credentials.ts'
import { JwksFetcher } from '../../src/registry/jwks-fetcher.ts'
import { authenticationBlock } from '../../src/registry/lifecycle.ts'
import type { Agent, CeilingEntry, Human, Workload } from '../../src/registry/model.ts'
import { mergePatch } from '../../src/registry/validate.ts'

const now = new Date('2026-06-01T12:00:00Z')
const alice: Human = { id: 'alice@example.com', status: 'active' }
const agent = (extra: Partial<Agent> = {}): Agent => ({
  id: 'bot',
  sponsor: alice.id,
  classification: 'delegated',
  ceiling: [],
  status: 'active',
  credentials: [],
  ...extra,
})

describe('authenticationBlock', () => {
  it('lets an active, unexpired agent with an active sponsor authenticate', () => {
    assert.equal(authenticationBlock(agent(), now, alice), null)
    assert.equal(authenticationBlock(agent({ expires_at: '2026-06-01T12:00:01Z' }), now, alice), null)
  })

  it('blocks suspended, retired and expired agents and workloads', () => {
    assert.equal(authenticationBlock(agent({ status: 'suspended' }), now, alice), 'suspended')
    assert.equal(authenticationBlock(agent({ status: 'retired' }), now, alice), 'retired')
    assert.equal(
      authenticationBlock(agent({ expires_at: '2026-06-01T12:00:00Z' }), now, alice),
      'expired',
      'expiry is exclusive',
    )
    const workload: Workload = {
      id: 'w',
      status: 'active',
      ceiling: [],
      credentials: [],
      expires_at: '2026-01-01T00:00:00Z',
    }
    assert.equal(authenticationBlock(workload, now), 'expired')
    assert.equal(
      authenticationBlock({ ...workload, expires_at: undefined }, now),
      null,
      'a workload needs no sponsor',
    )
  })

  it('fails closed on an expiry it cannot read, and reads a leap second as the next instant', () => {
    assert.equal(authenticationBlock(agent({ expires_at: 'not a time' }), now, alice), 'expired')
    assert.equal(authenticationBlock(agent({ expires_at: '2026-06-01T11:59:60Z' }), now, alice), 'expired')
    assert.equal(authenticationBlock(agent({ expires_at: '2026-06-01T12:00:60Z' }), now, alice), null)
  })

  it('blocks an agent whose sponsor is inactive or gone', () => {
    assert.equal(authenticationBlock(agent(), now, { ...alice, status: 'inactive' }), 'sponsor_inactive')
    assert.equal(authenticationBlock(agent(), now, undefined), 'sponsor_missing')
  })
})

describe('client secrets', () => {
  it('stores only a SHA-256 hash and compares presented secrets against it', () => {
    const hash = hashClientSecret('mnd_cs_example-secret')
    assert.match(hash, /^sha256:[0-9a-f]{64}$/)
    assert.equal(hash.includes('example-secret'), false)
    assert.equal(clientSecretMatches('mnd_cs_example-secret', hash), true)
    assert.equal(clientSecretMatches('mnd_cs_example-secreT', hash), false)
    assert.equal(clientSecretMatches('', hash), false)
  })

  it('issues a secret once and keeps its hash on later writes of the same binding', async () => {
    const deps = { jwks: new JwksFetcher(), trustedWorkloadIssuers: new Set<string>() }
    const first = await prepareCredentials([{ type: 'client_secret', id: 'primary' }], [], deps)
    assert.equal(first.issued.length, 1)
    const secret = first.issued[0]?.client_secret ?? ''
    const stored = first.bindings[0]
    assert.ok(
      stored?.type === 'client_secret' &&
        stored.secret_hash &&
        clientSecretMatches(secret, stored.secret_hash),
    )
    const second = await prepareCredentials([{ type: 'client_secret', id: 'primary' }], first.bindings, deps)
    assert.equal(second.issued.length, 0)
    assert.deepEqual(second.bindings, first.bindings)
    const rotated = await prepareCredentials(
      [
        { type: 'client_secret', id: 'primary' },
        { type: 'client_secret', id: 'next' },
      ],
      first.bindings,
      deps,
    )
    assert.deepEqual(
      rotated.issued.map((s) => s.credential),
      ['next'],
      'a second secret can overlap the first during rotation',
    )
  })

  it('refuses private keys, unsafe jwks_uri, unknown federated issuers and ambiguous certificates', async () => {
    const deps = { jwks: new JwksFetcher(), trustedWorkloadIssuers: new Set(['https://issuer.example.com']) }
    const { fields } = await prepareCredentials(
      [
        { type: 'jwks', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'secret' } as never] } },
        { type: 'jwks', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'not-a-point', y: 'nope' } as never] } },
        { type: 'jwks_uri', jwks_uri: 'https://10.0.0.1/jwks' },
        { type: 'federated', issuer: 'https://untrusted.example.com', subject: 's' },
        { type: 'federated', issuer: 'https://issuer.example.com', subject: 's' },
        { type: 'certificate' },
        { type: 'client_secret', id: 'a' },
        { type: 'client_secret', id: 'a' },
      ],
      [],
      deps,
    )
    assert.deepEqual(
      fields.map((f) => f.path),
      [
        '/credentials/0/jwks/keys/0',
        '/credentials/1/jwks/keys/0',
        '/credentials/2/jwks_uri',
        '/credentials/3/issuer',
        '/credentials/5',
        '/credentials/7/id',
      ],
    )
  })
})

describe('mergePatch (RFC 7396)', () => {
  // RFC 7396 Appendix A examples.
  const cases: Array<[unknown, unknown, unknown]> = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ]
  for (const [target, patch, result] of cases) {
    it(`RFC 7396 Appendix A: ${JSON.stringify(target)} + ${JSON.stringify(patch)}`, () => {
      assert.deepEqual(mergePatch(target, patch), result)
    })
  }
})

describe('ceilingCovers', () => {
  const parent: CeilingEntry[] = [
    'crm:write',
    {
      action: 'crm:read',
      resources: ['https://crm.example.com/eu/*', 'https://crm.example.com/us/contacts'],
    },
  ]
  it('a plain entry covers the action everywhere, with or without patterns', () => {
    assert.equal(ceilingCovers(parent, 'crm:write'), true)
    assert.equal(ceilingCovers(parent, { action: 'crm:write', resources: ['*'] }), true)
  })
  it('an entry with patterns covers only entries whose patterns all fall inside', () => {
    assert.equal(
      ceilingCovers(parent, { action: 'crm:read', resources: ['https://crm.example.com/eu/contacts'] }),
      true,
    )
    assert.equal(
      ceilingCovers(parent, { action: 'crm:read', resources: ['https://crm.example.com/eu/contacts/*'] }),
      true,
    )
    assert.equal(
      ceilingCovers(parent, { action: 'crm:read', resources: ['https://crm.example.com/us/contacts'] }),
      true,
    )
    assert.equal(ceilingCovers(parent, { action: 'crm:read', resources: ['*'] }), false)
    assert.equal(
      ceilingCovers(parent, { action: 'crm:read', resources: ['https://crm.example.com/us/*'] }),
      false,
    )
    assert.equal(
      ceilingCovers(parent, 'crm:read'),
      false,
      'an unrestricted entry is wider than a restricted one',
    )
    assert.equal(ceilingCovers(parent, 'billing:read'), false)
  })
  it('ceilingAllows matches actions and resource patterns', () => {
    assert.equal(ceilingAllows(parent, 'crm:read', 'https://crm.example.com/eu/x'), true)
    assert.equal(ceilingAllows(parent, 'crm:read', 'https://crm.example.com/us/x'), false)
    assert.equal(ceilingAllows(parent, 'crm:write', 'https://anything.example.com/'), true)
  })
  it('ceilingAllows: `*` matches any run of characters anywhere in a pattern; everything else is literal', () => {
    const cases: Array<[string, string, boolean]> = [
      ['queue/*', 'queue/', true],
      ['queue/*', 'queue/a/b', true],
      ['queue/*', 'queues/a', false],
      ['*/read', 'a/b/read', true],
      ['*/read', 'a/b/reader', false],
      ['a*b*c', 'abc', true],
      ['a*b*c', 'axxbyyc', true],
      ['a*b*c', 'acb', false],
      ['ab*ba', 'aba', false],
      ['ab*ba', 'abba', true],
      ['*', '', true],
      ['a.c', 'abc', false],
      ['(x)+', '(x)+', true],
      ['exact', 'exact', true],
      ['exact', 'exactly', false],
    ]
    for (const [pattern, resource, allowed] of cases)
      assert.equal(
        ceilingAllows([{ action: 'act', resources: [pattern] }], 'act', resource),
        allowed,
        `${pattern} ~ ${resource}`,
      )
  })
  it('issue 8: without a resource server, only entries without resource patterns allow an action', () => {
    assert.equal(ceilingAllows(parent, 'crm:write', undefined), true)
    assert.equal(ceilingAllows(parent, 'crm:read', undefined), false)
    assert.equal(ceilingAllows([{ action: 'read', resources: ['*'] }], 'read', undefined), false)
  })
})

describe('checkPublicJwks', () => {
  it('refuses private members, short RSA moduli and symmetric or unknown keys', async () => {
    const { generateKeyPairSync } = await import('node:crypto')
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      format: 'jwk',
    }) as Record<string, unknown>
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
      format: 'jwk',
    }) as Record<string, unknown>
    const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
      format: 'jwk',
    }) as Record<string, unknown>
    const fields = await checkPublicJwks(
      [ec, { ...ec, d: 'x' }, rsa1024, rsa2048, { ...ec, priv: 'x' }, { kty: 'oct', k: 'c2VjcmV0' }],
      '/keys',
    )
    assert.deepEqual(
      fields.map((f) => f.path),
      ['/keys/1', '/keys/2', '/keys/4', '/keys/5'],
    )
  })
})
