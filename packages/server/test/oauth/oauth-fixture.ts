// A node with a resource server, a sponsor and agents holding each kind of credential, for the OAuth suites.
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { type JWK, SignJWT } from 'jose'
import { startTestNode, type TestNode, type TestStore } from '../support/harness.ts'

export const RESOURCE = 'https://tickets.example.com/'

/** An EC key pair: the private key for signing assertions, the public JWK for registration. */
export function ecKeyPair(kid = 'k1') {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return { privateKey, publicJwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, alg: 'ES256' } }
}

export interface OAuthFixture {
  node: TestNode
  issuer: string
  tokenEndpoint: string
  botKey: ReturnType<typeof ecKeyPair>
  secrets: Record<string, string>
  /** A client assertion for `clientId`, with claims overridable. */
  assertion(
    clientId: string,
    claims?: Record<string, unknown>,
    header?: Record<string, unknown>,
  ): Promise<string>
  /** Posts a form to the token endpoint. */
  token(
    form: Record<string, string | string[]>,
    headers?: Record<string, string>,
  ): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }>
  close(): Promise<void>
}

/** Starts a node and registers the fixture's resource server, sponsor and agents. */
export async function startOAuthFixture(
  store: TestStore,
  overrides: Parameters<typeof startTestNode>[1] = {},
  options: Parameters<typeof startTestNode>[2] = {},
): Promise<OAuthFixture> {
  const node = await startTestNode(store, overrides, options)
  const botKey = ecKeyPair()
  const put = async (path: string, body: Record<string, unknown>) => {
    const res = await node.call('PUT', path, { body })
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${res.text}`)
    return res.json
  }
  await put('/api/v1/resource-servers/tickets', {
    audience: RESOURCE,
    scopes: ['tickets:read', 'tickets:write', 'tickets:delete'],
    authorization_details_types: ['ticket_action'],
  })
  // Every scope needs a permit: the fixture's tests are about the protocol, so one policy allows everything the
  // ceilings allow (the policy tests narrow it).
  await put('/api/v1/policies/allow-all', { policies: '@id("all")\npermit (principal, action, resource);' })
  await put('/api/v1/humans/alice@example.com', {})
  await put('/api/v1/agents/bot', {
    sponsor: 'alice@example.com',
    classification: 'autonomous',
    ceiling: ['tickets:read', 'tickets:write', 'ticket_action'],
    credentials: [{ type: 'jwks', jwks: { keys: [botKey.publicJwk] } }],
  })
  const secrets: Record<string, string> = {}
  for (const [id, classification] of [
    ['secret-bot', 'blended'],
    ['helper', 'delegated'],
  ] as const) {
    const created = await put(`/api/v1/agents/${id}`, {
      sponsor: 'alice@example.com',
      classification,
      ceiling: ['tickets:read'],
      credentials: [{ type: 'client_secret' }],
    })
    secrets[id] = created.issued_secrets[0].client_secret
  }
  const issuer = node.config.issuer
  const tokenEndpoint = `${issuer}/oauth/token`
  return {
    node,
    issuer,
    tokenEndpoint,
    botKey,
    secrets,
    assertion: (clientId, claims = {}, header = {}) => {
      const now = Math.floor(Date.now() / 1000)
      const payload = {
        iss: clientId,
        sub: clientId,
        aud: issuer,
        iat: now,
        exp: now + 120,
        jti: randomUUID(),
        ...claims,
      }
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'ES256', kid: 'k1', ...header })
        .sign(botKey.privateKey)
    },
    async token(form, headers = {}) {
      const body = new URLSearchParams()
      for (const [name, value] of Object.entries(form))
        for (const v of Array.isArray(value) ? value : [value]) body.append(name, v)
      const res = await fetch(tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      })
      return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers }
    },
    close: () => node.close(),
  }
}

/** The company IdP of the suites: its issuer URL. */
export const IDP = 'https://idp.example.com'
/** A Kubernetes cluster vouching for its service accounts. */
export const K8S = 'https://kubernetes.example.com'
/** The service account the `deployer` workload is bound to. */
export const SERVICE_ACCOUNT = 'system:serviceaccount:ci:deployer'

/** Alice's subject at the company IdP: suites bind it to her (`identities`) so that the IdP's tokens name her. */
export const IDP_SUBJECT = 'idp-user-42'

/** A user's token from the company IdP (alice, by her subject there), as a login would produce, for `audience`. */
export function signHumanToken(
  key: ReturnType<typeof ecKeyPair>,
  audience: string,
  claims: Record<string, unknown> = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({
    iss: IDP,
    sub: IDP_SUBJECT,
    email: 'alice@example.com',
    aud: audience,
    iat: now,
    exp: now + 600,
    ...claims,
  })
    .setProtectedHeader({ alg: 'ES256', kid: key.publicJwk.kid, typ: 'JWT' })
    .sign(key.privateKey)
}

/**
 * Grants a mandate from a human (alice by default) to an agent through the admin API: delegated exchanges need one.
 * `actions` on the `tickets` resource server by default, for an hour; anything else through `extra`.
 */
export async function grantMandate(
  node: TestNode,
  agent: string,
  actions: string[],
  extra: Record<string, unknown> = {},
): Promise<string> {
  const res = await node.call('POST', '/api/v1/mandates', {
    body: {
      human: 'alice@example.com',
      agent,
      actions,
      resource_servers: ['tickets'],
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
      ...extra,
    },
  })
  if (res.status !== 201) throw new Error(`mandate for ${agent}: ${res.status} ${res.text}`)
  return res.json.id
}

/** A Kubernetes-style projected service-account token for the `deployer` service account. */
export function signWorkloadToken(
  key: ReturnType<typeof ecKeyPair>,
  claims: Record<string, unknown> = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({
    iss: K8S,
    sub: SERVICE_ACCOUNT,
    aud: 'mandate',
    iat: now,
    exp: now + 600,
    jti: randomUUID(),
    'kubernetes.io/namespace': 'ci',
    ...claims,
  })
    .setProtectedHeader({ alg: 'ES256', kid: key.publicJwk.kid })
    .sign(key.privateKey)
}

/** Registers the cluster as a trusted workload issuer and the `deployer` workload bound to its service account. */
export async function registerDeployer(
  node: TestNode,
  platformKey: ReturnType<typeof ecKeyPair>,
): Promise<void> {
  for (const [path, body] of [
    [
      '/api/v1/trusted-issuers/k8s',
      { issuer: K8S, type: 'workload', jwks: { keys: [platformKey.publicJwk] }, audiences: ['mandate'] },
    ],
    [
      '/api/v1/workloads/deployer',
      {
        ceiling: ['tickets:write', 'ticket_action'],
        credentials: [
          {
            type: 'federated',
            issuer: K8S,
            subject: SERVICE_ACCOUNT,
            audience: 'mandate',
            claims: { 'kubernetes.io/namespace': 'ci' },
          },
        ],
      },
    ],
  ] as const) {
    const res = await node.call('PUT', path, { body })
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${res.text}`)
  }
}

/** A DPoP key pair (RFC 9449): the private key signs proofs, the public JWK goes in their header. */
export function dpopKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return { privateKey, jwk: publicKey.export({ format: 'jwk' }) as JWK }
}

/** A DPoP proof (RFC 9449 §4.2) for a POST to `htu`. */
export function dpopProof(
  key: ReturnType<typeof dpopKey>,
  htu: string,
  claims: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT({ jti: randomUUID(), htm: 'POST', htu, iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
    .sign(key.privateKey)
}
