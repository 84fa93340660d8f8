// Bare reference token endpoint for bench/token.mjs: node:http + jose, nothing else.
//
// It does the least a client_credentials token endpoint must do, so that it bounds what any Node.js server can reach
// on the same core: read and parse the form body, check the Basic header against one constant secret (constant-time),
// check grant_type, scope and resource, sign an RFC 9068 `at+jwt` with jose's SignJWT (ES256) and answer JSON.
// No registry, no storage, no audit, no logging.
//
// Environment (set by bench/token.mjs): BENCH_PORT, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_RESOURCE, BENCH_SCOPE.
// Routes: POST /token, GET /jwks (public key, for the benchmark's check), GET /healthz.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto'
import http from 'node:http'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'

const port = Number(process.env.BENCH_PORT)
const clientId = process.env.BENCH_CLIENT_ID
const clientSecret = process.env.BENCH_CLIENT_SECRET
const resource = process.env.BENCH_RESOURCE
const scope = process.env.BENCH_SCOPE
if (!port || !clientId || !clientSecret || !resource || !scope) {
  console.error(
    'bare: BENCH_PORT, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_RESOURCE and BENCH_SCOPE are required',
  )
  process.exit(2)
}
const issuer = `http://127.0.0.1:${port}`
const lifetimeSeconds = 300
const kid = 'bench-1'
const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] })

const digest = (text) => createHash('sha256').update(text).digest()
const expected = digest(`${clientId}:${clientSecret}`)

function send(res, status, body, extra = {}) {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...extra,
  })
  res.end(text)
}

function authenticated(header) {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header ?? '')
  if (!match) return false
  // Hashing both sides gives equal lengths, so the comparison is constant-time whatever was sent.
  return timingSafeEqual(digest(Buffer.from(match[1], 'base64').toString('utf8')), expected)
}

async function issue(req, res) {
  const chunks = []
  let size = 0
  for await (const chunk of req) {
    size += chunk.length
    if (size > 16384) return send(res, 413, { error: 'invalid_request' })
    chunks.push(chunk)
  }
  if (!authenticated(req.headers.authorization))
    return send(res, 401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic' })
  const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
  if (form.get('grant_type') !== 'client_credentials')
    return send(res, 400, { error: 'unsupported_grant_type' })
  if (form.get('resource') !== resource) return send(res, 400, { error: 'invalid_target' })
  if (form.get('scope') !== scope) return send(res, 400, { error: 'invalid_scope' })
  const token = await new SignJWT({ client_id: clientId, scope })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
    .setIssuer(issuer)
    .setSubject(clientId)
    .setAudience(resource)
    .setIssuedAt()
    .setExpirationTime(`${lifetimeSeconds}s`)
    .setJti(randomUUID())
    .sign(privateKey)
  send(res, 200, { access_token: token, token_type: 'Bearer', expires_in: lifetimeSeconds, scope })
}

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/token') {
    issue(req, res).catch((err) => {
      console.error(err)
      if (!res.headersSent) send(res, 500, { error: 'server_error' })
    })
  } else if (req.method === 'GET' && req.url === '/jwks') {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(jwks)
  } else if (req.method === 'GET' && req.url === '/healthz') {
    send(res, 200, { status: 'ok' })
  } else {
    send(res, 404, { error: 'not_found' })
  }
})
server.listen(port, '127.0.0.1')

// Exit through process.exit so that `node --cpu-prof` writes its profile.
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => process.exit(0))
