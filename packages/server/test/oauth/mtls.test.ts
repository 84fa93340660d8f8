// Mutual-TLS client authentication and certificate-bound tokens (RFC 8705), over real TLS on loopback.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { decodeJwt } from 'jose'
import { sqliteStore, startTestNode, type TestNode, type TestStore, tempDir } from '../support/harness.ts'
import { dpopKey, dpopProof, ecKeyPair, IDP, IDP_SUBJECT, signHumanToken } from './oauth-fixture.ts'

const RESOURCE = 'https://tickets.example.com/'
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token'

// Test PKI made with the openssl command line: a CA, a server certificate for 127.0.0.1, a CA-issued client
// certificate and a self-signed one.
function makePki(dir: string) {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  const key = (name: string) =>
    run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`)
  key('ca')
  run(
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-subj',
    '/CN=Mandate Test CA',
    '-days',
    '2',
    '-out',
    'ca.pem',
  )
  key('server')
  run('req', '-new', '-key', 'server.key', '-subj', '/CN=127.0.0.1', '-out', 'server.csr')
  require_ext(dir, 'server.ext', 'subjectAltName=IP:127.0.0.1')
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'server.ext',
    '-out',
    'server.pem',
  )
  key('client')
  run('req', '-new', '-key', 'client.key', '-subj', '/O=Example/CN=mtls-bot', '-out', 'client.csr')
  run(
    'x509',
    '-req',
    '-in',
    'client.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    'client.pem',
  )
  key('self')
  run('req', '-x509', '-new', '-key', 'self.key', '-subj', '/CN=self-bot', '-days', '2', '-out', 'self.pem')
  const file = (name: string) => readFileSync(join(dir, name))
  return {
    ca: file('ca.pem'),
    client: { cert: file('client.pem'), key: file('client.key') },
    self: { cert: file('self.pem'), key: file('self.key') },
  }
}

function require_ext(dir: string, name: string, text: string) {
  execFileSync('sh', ['-c', `printf '%s\\n' "${text}" > ${name}`], { cwd: dir })
}

function thumbprint(pem: Buffer): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url')
}

interface Reply {
  status: number
  json: Record<string, unknown>
}

function call(
  url: string,
  options: {
    method: string
    body?: string
    headers?: Record<string, string>
    ca: Buffer
    cert?: Buffer
    key?: Buffer
  },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method,
        headers: options.headers,
        ca: options.ca,
        cert: options.cert,
        key: options.key,
      },
      (res) => {
        let text = ''
        res.on('data', (chunk) => {
          text += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : {} }))
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

describe('mutual TLS (RFC 8705)', () => {
  const dir = tempDir()
  let store: TestStore
  let node: TestNode
  let pki: ReturnType<typeof makePki>
  const idpKey = ecKeyPair('idp-1')
  let subSecret = ''

  const admin = (method: string, path: string, body: unknown) =>
    call(`${node.node.url}${path}`, {
      method,
      body: JSON.stringify(body),
      headers: { authorization: `Bearer ${node.token}`, 'content-type': 'application/json' },
      ca: pki.ca,
    })
  const token = (clientId: string, tls: { cert: Buffer; key: Buffer } | undefined) =>
    call(`${node.node.url}/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        scope: 'tickets:read',
        resource: RESOURCE,
      }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      ca: pki.ca,
      ...(tls ?? {}),
    })

  before(async () => {
    pki = makePki(dir.path)
    store = sqliteStore()
    node = await startTestNode(store, {
      tlsCertFile: join(dir.path, 'server.pem'),
      tlsKeyFile: join(dir.path, 'server.key'),
      tlsClientCaFile: join(dir.path, 'ca.pem'),
    })
    for (const [path, body] of [
      ['/api/v1/resource-servers/tickets', { audience: RESOURCE, scopes: ['tickets:read'] }],
      ['/api/v1/policies/allow-all', { policies: 'permit (principal, action, resource);' }],
      ['/api/v1/humans/alice', {}],
      [
        '/api/v1/agents/pki-bot',
        {
          sponsor: 'alice',
          classification: 'autonomous',
          ceiling: ['tickets:read'],
          credentials: [{ type: 'certificate', subject_dn: 'CN=mtls-bot, O=Example' }],
        },
      ],
      [
        '/api/v1/agents/self-bot',
        {
          sponsor: 'alice',
          classification: 'autonomous',
          ceiling: ['tickets:read'],
          credentials: [{ type: 'certificate', 'x5t#S256': thumbprint(pki.self.cert) }],
        },
      ],
      ['/api/v1/trusted-issuers/idp', { issuer: IDP, type: 'human_idp', jwks: { keys: [idpKey.publicJwk] } }],
      [
        '/api/v1/humans/alice@example.com',
        { email: 'alice@example.com', identities: [{ issuer: IDP, subject: IDP_SUBJECT }] },
      ],
      [
        '/api/v1/agents/self-assistant',
        {
          sponsor: 'alice@example.com',
          classification: 'delegated',
          ceiling: ['tickets:read'],
          credentials: [{ type: 'certificate', 'x5t#S256': thumbprint(pki.self.cert) }],
        },
      ],
      [
        '/api/v1/agents/self-assistant-sub',
        {
          sponsor: 'alice@example.com',
          classification: 'delegated',
          parent: 'self-assistant',
          ceiling: ['tickets:read'],
          credentials: [{ type: 'client_secret' }],
        },
      ],
    ] as const) {
      const res = await admin('PUT', path, body)
      assert.ok(res.status < 300, `${path}: ${JSON.stringify(res.json)}`)
      const issued = (res.json as { issued_secrets?: Array<{ client_secret: string }> }).issued_secrets
      if (path.endsWith('/self-assistant-sub') && issued?.[0]) subSecret = issued[0].client_secret
    }
    const mandate = await admin('POST', '/api/v1/mandates', {
      human: 'alice@example.com',
      agent: 'self-assistant',
      actions: ['tickets:read'],
      resource_servers: ['tickets'],
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
    })
    assert.equal(mandate.status, 201, JSON.stringify(mandate.json))
  })
  after(async () => {
    await node.close()
    await store.drop()
    dir.drop()
  })

  it('serves HTTPS, with an https issuer, and advertises the mTLS methods and bound tokens', async () => {
    assert.match(node.node.url, /^https:\/\//)
    const metadata = (
      await call(`${node.node.url}/.well-known/oauth-authorization-server`, { method: 'GET', ca: pki.ca })
    ).json
    assert.equal(metadata.issuer, node.node.url)
    assert.ok((metadata.token_endpoint_auth_methods_supported as string[]).includes('tls_client_auth'))
    assert.ok(
      (metadata.token_endpoint_auth_methods_supported as string[]).includes('self_signed_tls_client_auth'),
    )
    assert.equal(metadata.tls_client_certificate_bound_access_tokens, true)
  })

  it('RFC 8705 §2.1 and §3: tls_client_auth with a CA-issued certificate gets a token bound to it', async () => {
    const res = await token('pki-bot', pki.client)
    assert.equal(res.status, 200, JSON.stringify(res.json))
    assert.deepEqual(decodeJwt(String(res.json.access_token)).cnf, {
      'x5t#S256': thumbprint(pki.client.cert),
    })
  })

  it('RFC 8705 §2.2: self_signed_tls_client_auth with the registered certificate thumbprint', async () => {
    const res = await token('self-bot', pki.self)
    assert.equal(res.status, 200, JSON.stringify(res.json))
    assert.deepEqual(decodeJwt(String(res.json.access_token)).cnf, { 'x5t#S256': thumbprint(pki.self.cert) })
  })

  it("RFC 8705 §2: another client's certificate, a self-signed certificate for a PKI binding, or none, is invalid_client", async () => {
    assert.equal((await token('self-bot', pki.client)).json.error, 'invalid_client')
    assert.equal((await token('pki-bot', pki.self)).json.error, 'invalid_client')
    assert.equal((await token('pki-bot', undefined)).json.error, 'invalid_client')
  })

  it('RFC 8705 §3, RFC 8693 §2.2.2 (issue 8): a certificate-bound subject token is exchanged only over a connection presenting that certificate, and the new token stays bound to it', async () => {
    const tokenEndpoint = `${node.node.url}/oauth/token`
    const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
    const post = (
      body: string,
      tls: { cert: Buffer; key: Buffer } | undefined,
      headers: Record<string, string> = {},
    ) =>
      call(tokenEndpoint, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        ca: pki.ca,
        ...(tls ?? {}),
      })
    // The delegated agent authenticates with its self-signed certificate: its token is bound to it.
    const parent = await post(
      form({
        grant_type: EXCHANGE,
        client_id: 'self-assistant',
        subject_token: await signHumanToken(idpKey, node.node.url),
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        resource: RESOURCE,
        scope: 'tickets:read',
      }),
      pki.self,
    )
    assert.equal(parent.status, 200, JSON.stringify(parent.json))
    const bound = { 'x5t#S256': thumbprint(pki.self.cert) }
    assert.deepEqual(decodeJwt(String(parent.json.access_token)).cnf, bound)
    // Its sub-agent authenticates with a secret; the parent's token is accepted only with the parent's certificate.
    const basic = {
      authorization: `Basic ${Buffer.from(`self-assistant-sub:${subSecret}`).toString('base64')}`,
    }
    const subForm = form({
      grant_type: EXCHANGE,
      subject_token: String(parent.json.access_token),
      subject_token_type: ACCESS,
      resource: RESOURCE,
      scope: 'tickets:read',
    })
    for (const tls of [undefined, pki.client]) {
      const res = await post(subForm, tls, basic)
      assert.equal(res.json.error, 'invalid_request', JSON.stringify(res.json))
      assert.match(String(res.json.error_description), /client certificate this connection did not present/)
      assert.equal(res.json.access_token, undefined)
    }
    const sub = await post(subForm, pki.self, basic)
    assert.equal(sub.status, 200, JSON.stringify(sub.json))
    assert.equal(sub.json.token_type, 'Bearer', 'RFC 8705 tokens keep the Bearer scheme')
    assert.deepEqual(decodeJwt(String(sub.json.access_token)).cnf, bound)
    // A certificate-bound token is not re-bound to a DPoP key either.
    const proof = await dpopProof(dpopKey(), tokenEndpoint)
    const rebound = await post(subForm, pki.self, { ...basic, dpop: proof })
    assert.equal(rebound.json.error, 'invalid_request', JSON.stringify(rebound.json))
  })
})
