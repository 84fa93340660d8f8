// The floor for bench/authzen.mjs: a node:http JSON endpoint that reads and parses the AuthZEN body it is sent and
// answers a constant. No authentication, no policy, no audit: what one Node.js core does for an AuthZEN-shaped
// request before any decision is made, so that Mandate's figure can be read as a share of it.
//
// Environment (set by bench/authzen.mjs): BENCH_PORT.
// Routes: POST /access/v1/evaluation (answers {"decision":false}), POST /access/v1/evaluations (one constant answer
// per item of `evaluations`), GET /healthz.
import http from 'node:http'

const port = Number(process.env.BENCH_PORT)
if (!port) {
  console.error('authzen-floor: BENCH_PORT is required')
  process.exit(2)
}

const DENY = { decision: false }
const MAX_BODY = 1024 * 1024

function send(res, status, body) {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

async function readJson(req) {
  const chunks = []
  let size = 0
  for await (const chunk of req) {
    size += chunk.length
    if (size > MAX_BODY) return undefined
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    return undefined
  }
}

async function answer(req, res) {
  const body = await readJson(req)
  // The shape a PDP checks first; a body without it is refused as any PDP would.
  if (typeof body !== 'object' || body === null) return send(res, 400, { error: 'invalid_request' })
  if (req.url === '/access/v1/evaluation') return send(res, 200, DENY)
  const items = Array.isArray(body.evaluations) ? body.evaluations.length : 0
  send(res, 200, items > 0 ? { evaluations: Array.from({ length: items }, () => DENY) } : DENY)
}

const server = http.createServer((req, res) => {
  if (
    req.method === 'POST' &&
    (req.url === '/access/v1/evaluation' || req.url === '/access/v1/evaluations')
  ) {
    answer(req, res).catch((err) => {
      console.error(err)
      if (!res.headersSent) send(res, 500, { error: 'server_error' })
    })
  } else if (req.method === 'GET' && req.url === '/healthz') {
    send(res, 200, { status: 'ok' })
  } else {
    send(res, 404, { error: 'not_found' })
  }
})
server.listen(port, '127.0.0.1')

// Exit through process.exit so that `node --cpu-prof` writes its profile.
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => process.exit(0))
