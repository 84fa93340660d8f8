// Demo data for the embedded quickstart: resource servers, two humans, a group, a demo company IdP, a trusted workload
// issuer, a workload, one agent of each classification (plus a sub-agent) and the starter policies, written through
// the registry like any admin change. The demo IdP's key derives from the master key, so that `mandate demo idp-token`
// can sign a user's login token for the delegation walk-through without any other secret.
import { createECDH, createHash, createPrivateKey, type KeyObject } from 'node:crypto'
import { SignJWT } from 'jose'
import type { MasterKey } from '../tokens/master-key.ts'
import { AGENTS_POLICIES, CARE_POLICIES } from './demo-policies.ts'
import type { Human, RegistryKind } from './model.ts'
import type { Registry } from './registry.ts'

/** The demo company IdP: a TrustedIssuer of type human_idp that matches humans by verified email. */
export const DEMO_IDP = { id: 'demo-idp', issuer: 'https://login.example.com', kid: 'demo-idp-1' } as const

/** The demo IdP's signing key (ES256), derived from the master key: the same on every start and every node. */
export function demoIdpKey(masterKey: MasterKey): {
  privateKey: KeyObject
  publicJwk: Record<string, string>
} {
  const ecdh = createECDH('prime256v1')
  // 32 HKDF bytes are a valid P-256 scalar but with negligible probability (below 2^-32); setPrivateKey checks.
  ecdh.setPrivateKey(masterKey.derive('demo-idp-signing-key'))
  const point = ecdh.getPublicKey()
  const publicJwk = {
    kty: 'EC',
    crv: 'P-256',
    x: point.subarray(1, 33).toString('base64url'),
    y: point.subarray(33, 65).toString('base64url'),
    kid: DEMO_IDP.kid,
    alg: 'ES256',
    use: 'sig',
  }
  const privateKey = createPrivateKey({
    key: { ...publicJwk, d: ecdh.getPrivateKey().toString('base64url') },
    format: 'jwk',
  })
  return { privateKey, publicJwk }
}

/**
 * A login token of the demo IdP for `human`, as a company IdP would issue it: `sub` is the human's binding at the demo
 * IdP (or, for a human not bound yet, a subject derived from their id), with their email marked verified, the scopes
 * the user grants, and `aud` this node.
 */
export function signDemoIdpToken(
  key: KeyObject,
  human: Human,
  options: { audience: string; scope: string; lifetimeSeconds: number; now: number },
): Promise<string> {
  const bound = human.identities?.find((i) => i.issuer === DEMO_IDP.issuer)?.subject
  const subject = bound ?? `u-${createHash('sha256').update(human.id).digest('hex').slice(0, 12)}`
  const iat = Math.floor(options.now / 1000)
  return new SignJWT({
    ...(human.email ? { email: human.email, email_verified: true } : {}),
    ...(human.name ? { name: human.name } : {}),
    scope: options.scope,
  })
    .setProtectedHeader({ alg: 'ES256', kid: DEMO_IDP.kid, typ: 'JWT' })
    .setIssuer(DEMO_IDP.issuer)
    .setSubject(subject)
    .setAudience(options.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + options.lifetimeSeconds)
    .sign(key)
}

const documents = (
  idpJwk: Record<string, string>,
): Array<{ kind: RegistryKind; doc: Record<string, unknown> }> => [
  {
    kind: 'TrustedIssuer',
    doc: {
      id: DEMO_IDP.id,
      issuer: DEMO_IDP.issuer,
      type: 'human_idp',
      jwks: { keys: [idpJwk] },
      match_email: true,
      description:
        'The demo company IdP: `mandate demo idp-token` signs its login tokens with a key derived from the master key. Delete it (and the bindings to it) outside a demo.',
    },
  },
  {
    kind: 'ResourceServer',
    doc: {
      id: 'crm',
      name: 'CRM API',
      audience: 'https://crm.example.com/',
      scopes: ['crm:read', 'crm:write'],
    },
  },
  {
    kind: 'ResourceServer',
    doc: {
      id: 'risk',
      name: 'Risk API',
      audience: 'https://risk.example.com/',
      scopes: ['payments:read', 'cases:write'],
    },
  },
  {
    kind: 'ResourceServer',
    doc: {
      id: 'ehr',
      name: 'Health records API',
      audience: 'https://ehr.example.com/',
      scopes: ['records:read'],
      token_lifetime_seconds: 120,
    },
  },
  {
    kind: 'ResourceServer',
    doc: {
      id: 'scheduling',
      name: 'Scheduling API',
      audience: 'https://scheduling.example.com/',
      scopes: ['schedule:write'],
    },
  },
  {
    kind: 'ResourceServer',
    doc: {
      id: 'billing',
      name: 'Billing API',
      audience: 'https://billing.example.com/',
      scopes: ['billing:read'],
    },
  },
  {
    kind: 'Human',
    doc: {
      id: 'alice@example.com',
      email: 'alice@example.com',
      name: 'Alice Ng',
      // Alice is bound to her demo IdP account; Bob is bound on his first login, by his verified email.
      identities: [{ issuer: DEMO_IDP.issuer, subject: 'u-1001' }],
      attributes: { department: 'support' },
    },
  },
  {
    kind: 'Human',
    doc: {
      id: 'bob@example.com',
      email: 'bob@example.com',
      name: 'Bob Okafor',
      attributes: { department: 'risk' },
    },
  },
  {
    kind: 'TrustedIssuer',
    doc: {
      id: 'github-actions',
      issuer: 'https://token.actions.githubusercontent.com',
      type: 'workload',
      jwks_uri: 'https://token.actions.githubusercontent.com/.well-known/jwks',
      audiences: ['mandate'],
    },
  },
  {
    kind: 'Workload',
    doc: {
      id: 'ci-deployer',
      name: 'CI deployer',
      credentials: [
        {
          type: 'federated',
          issuer: 'https://token.actions.githubusercontent.com',
          subject: 'repo:example/app:ref:refs/heads/main',
          audience: 'mandate',
        },
      ],
    },
  },
  {
    kind: 'Agent',
    doc: {
      id: 'support-bot',
      name: 'Support chatbot',
      sponsor: 'alice@example.com',
      classification: 'delegated',
      ceiling: ['crm:read', 'crm:write'],
    },
  },
  {
    kind: 'Agent',
    doc: {
      id: 'fraud-watch',
      name: 'Fraud detection',
      sponsor: 'bob@example.com',
      classification: 'autonomous',
      ceiling: ['payments:read', 'cases:write'],
      model: { provider: 'example', name: 'risk-model', version: '2026-10' },
    },
  },
  {
    kind: 'Agent',
    doc: {
      id: 'care-assistant',
      name: 'Care assistant',
      sponsor: 'alice@example.com',
      classification: 'blended',
      ceiling: ['records:read', 'schedule:write', 'billing:read'],
    },
  },
  {
    kind: 'Agent',
    doc: {
      id: 'care-scheduler',
      name: 'Care scheduling sub-agent',
      sponsor: 'alice@example.com',
      classification: 'autonomous',
      parent: 'care-assistant',
      ceiling: ['schedule:write'],
    },
  },
  {
    kind: 'Group',
    doc: {
      id: 'support-team',
      name: 'Support team',
      members: [
        { kind: 'human', id: 'alice@example.com' },
        { kind: 'agent', id: 'support-bot' },
      ],
    },
  },
  {
    kind: 'Policy',
    doc: {
      id: 'agents',
      description: 'Starter policies: the three agent patterns',
      policies: AGENTS_POLICIES,
    },
  },
  {
    kind: 'Policy',
    doc: { id: 'care', description: "The care assistant's per-action rules", policies: CARE_POLICIES },
  },
]

/** Seeds the demo documents in one audited apply; answers how many. */
export async function seedDemoData(registry: Registry, masterKey: MasterKey): Promise<number> {
  const seed = documents(demoIdpKey(masterKey).publicJwk).map(({ kind, doc }) => ({ kind, ...doc }))
  await registry.apply(seed, { actor: { kind: 'system', id: 'demo-seed' } })
  return seed.length
}
