// Demo data for the embedded quickstart: resource servers, two humans, a group, the demo company IdP (the bundled
// development IdP at `{issuer}/dev-idp`, which humans log in with), a trusted workload issuer, a workload, one agent of
// each classification (plus a sub-agent) and the starter policies, written through the registry like any admin
// change. The demo IdP's signing key and client secret derive from the master key, so that the development IdP, every
// node and `mandate demo idp-token` (which signs a user's login token for the delegation walk-through) agree without
// any other secret.
import { createECDH, createHash, createPrivateKey, type KeyObject } from 'node:crypto'
import { SignJWT } from 'jose'
import type { MasterKey } from '../tokens/master-key.ts'
import { AGENTS_POLICIES, CARE_POLICIES } from './demo-policies.ts'
import { loginSecretContext } from './identity-rules.ts'
import type { Human, RegistryKind } from './model.ts'
import type { Registry } from './registry.ts'

/**
 * The demo company IdP: a TrustedIssuer of type human_idp that matches humans by verified email, served by the
 * bundled development IdP at `path` under the node's issuer.
 */
export const DEMO_IDP = { id: 'demo-idp', path: '/dev-idp', kid: 'demo-idp-1' } as const

/** The development IdP's issuer under a node's issuer. */
export function devIdpIssuer(nodeIssuer: string): string {
  return `${nodeIssuer.replace(/\/$/, '')}${DEMO_IDP.path}`
}

/** The client id Mandate uses at the development IdP. */
export const DEV_IDP_CLIENT_ID = 'mandate'

/** The development IdP's client secret for Mandate (derived from the master key, so every node knows it). */
export function devIdpClientSecret(masterKey: MasterKey): string {
  return masterKey.derive('dev-idp-client-secret').toString('base64url')
}

/** The demo agent with a key (private_key_jwt): support-bot acts for humans, its key file is next to the data. */
export const DEMO_AGENT = { id: 'support-bot', kid: 'demo-agent-1', file: 'demo-agent.jwk' } as const

// A P-256 key from 32 HKDF bytes of the master key: the same on every start and every node.
function derivedEcKey(masterKey: MasterKey, label: string, kid: string) {
  const ecdh = createECDH('prime256v1')
  // 32 HKDF bytes are a valid P-256 scalar but with negligible probability (below 2^-32); setPrivateKey checks.
  ecdh.setPrivateKey(masterKey.derive(label))
  const point = ecdh.getPublicKey()
  const publicJwk = {
    kty: 'EC',
    crv: 'P-256',
    x: point.subarray(1, 33).toString('base64url'),
    y: point.subarray(33, 65).toString('base64url'),
    kid,
    alg: 'ES256',
    use: 'sig',
  }
  return { publicJwk, privateJwk: { ...publicJwk, d: ecdh.getPrivateKey().toString('base64url') } }
}

/** The demo agent's key pair (ES256): its public JWK is registered, its private JWK written to DEMO_AGENT.file. */
export function demoAgentKey(masterKey: MasterKey): {
  publicJwk: Record<string, string>
  privateJwk: Record<string, string>
} {
  return derivedEcKey(masterKey, 'demo-agent-key', DEMO_AGENT.kid)
}

/** An account of the development IdP. */
export interface DevIdpAccount {
  sub: string
  email: string
  name: string
  groups: string[]
}

/**
 * The development IdP's accounts: Alice and Bob (registered humans) and Carol, whom Mandate does not know (her login is
 * refused). Their `groups` claim maps to Mandate groups through the demo IdP's `group_map`.
 */
export const DEV_IDP_ACCOUNTS: readonly DevIdpAccount[] = [
  { sub: 'u-1001', email: 'alice@example.com', name: 'Alice Ng', groups: ['support-staff'] },
  { sub: 'u-1002', email: 'bob@example.com', name: 'Bob Okafor', groups: ['risk-analysts'] },
  { sub: 'u-1003', email: 'carol@example.com', name: 'Carol Diaz', groups: ['support-staff'] },
]

/** The demo IdP's signing key (ES256), derived from the master key: the same on every start and every node. */
export function demoIdpKey(masterKey: MasterKey): {
  privateKey: KeyObject
  publicJwk: Record<string, string>
} {
  const { publicJwk, privateJwk } = derivedEcKey(masterKey, 'demo-idp-signing-key', DEMO_IDP.kid)
  return { privateKey: createPrivateKey({ key: privateJwk, format: 'jwk' }), publicJwk }
}

/**
 * A login token of the demo IdP for `human`, as a company IdP would issue it: `sub` is the human's binding at the demo
 * IdP (or, for a human not bound yet, a subject derived from their id), with their email marked verified, the scopes
 * the user grants, and `aud` this node.
 */
export function signDemoIdpToken(
  key: KeyObject,
  human: Human,
  options: { issuer: string; audience: string; scope: string; lifetimeSeconds: number; now: number },
): Promise<string> {
  const bound = human.identities?.find((i) => i.issuer === options.issuer)?.subject
  const subject = bound ?? `u-${createHash('sha256').update(human.id).digest('hex').slice(0, 12)}`
  const iat = Math.floor(options.now / 1000)
  return new SignJWT({
    ...(human.email ? { email: human.email, email_verified: true } : {}),
    ...(human.name ? { name: human.name } : {}),
    scope: options.scope,
  })
    .setProtectedHeader({ alg: 'ES256', kid: DEMO_IDP.kid, typ: 'JWT' })
    .setIssuer(options.issuer)
    .setSubject(subject)
    .setAudience(options.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + options.lifetimeSeconds)
    .sign(key)
}

const documents = (
  idpIssuer: string,
  idpJwk: Record<string, string>,
  sealedClientSecret: string,
  agentJwk: Record<string, string>,
): Array<{ kind: RegistryKind; doc: Record<string, unknown> }> => [
  {
    kind: 'TrustedIssuer',
    doc: {
      id: DEMO_IDP.id,
      issuer: idpIssuer,
      type: 'human_idp',
      jwks: { keys: [idpJwk] },
      match_email: true,
      login: {
        client_id: DEV_IDP_CLIENT_ID,
        display_name: 'Development IdP (demo accounts)',
        client_auth: 'client_secret_basic',
        client_secret_sealed: sealedClientSecret,
        scopes: ['openid', 'email', 'profile'],
        groups_claim: 'groups',
        group_map: { 'support-staff': 'support-team' },
        account_enabled_claim: 'account_enabled',
      },
      description:
        'The development IdP (demo company IdP). Humans log in with it at /login; `mandate demo idp-token` signs its login tokens with the same key, derived from the master key. Delete it (and the bindings to it) outside a demo.',
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
      identities: [{ issuer: idpIssuer, subject: 'u-1001' }],
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
      id: DEMO_AGENT.id,
      name: 'Support chatbot',
      sponsor: 'alice@example.com',
      classification: 'delegated',
      ceiling: ['crm:read', 'crm:write'],
      model: { provider: 'example', name: 'support-llm', version: '2026-11' },
      // `mandate demo consent` listens on a loopback port: a loopback IP redirect URI matches on any port.
      redirect_uris: ['http://127.0.0.1/callback'],
      // Its private key is written next to the data (DEMO_AGENT.file), for the tour and `AgentClient.fromEnv()`.
      credentials: [{ type: 'jwks', jwks: { keys: [agentJwk] } }],
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

/** Seeds the demo documents in one audited apply, for the node at `nodeIssuer`; answers how many. */
export async function seedDemoData(
  registry: Registry,
  masterKey: MasterKey,
  nodeIssuer: string,
): Promise<number> {
  const sealed = masterKey.seal(devIdpClientSecret(masterKey), loginSecretContext(DEMO_IDP.id))
  const seed = documents(
    devIdpIssuer(nodeIssuer),
    demoIdpKey(masterKey).publicJwk,
    sealed,
    demoAgentKey(masterKey).publicJwk,
  ).map(({ kind, doc }) => ({
    kind,
    ...doc,
  }))
  await registry.apply(seed, { actor: { kind: 'system', id: 'demo-seed' } })
  return seed.length
}
