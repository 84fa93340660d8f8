// Tests for the SSRF-protected jwks_uri fetcher; every request goes to loopback servers only.

import assert from 'node:assert/strict'
import dns from 'node:dns'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, afterEach, before, describe, it, mock } from 'node:test'
import type { JwksFetchErrorCode } from '../../src/registry/jwks-fetcher.ts'
import { JwksFetchError, JwksFetcher } from '../../src/registry/jwks-fetcher.ts'

const PUBLIC_JWKS = {
  keys: [
    { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'one' },
    {
      kty: 'EC',
      crv: 'P-256',
      x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
      y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
    },
  ],
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void

interface TestServer {
  server: Server
  port: number
  origin: string
  /** Requests per path. */
  hits: Map<string, number>
  /** TCP connections accepted, to prove that refused targets were never contacted. */
  connections: number
  /** Host header of the last request. */
  lastHost: string | undefined
  routes: Map<string, Handler>
}

const servers: TestServer[] = []

async function startServer(): Promise<TestServer> {
  const state: TestServer = {
    server: http.createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://placeholder').pathname
      state.hits.set(path, (state.hits.get(path) ?? 0) + 1)
      state.lastHost = req.headers.host
      const handler = state.routes.get(path)
      if (handler === undefined) {
        res.writeHead(404).end()
        return
      }
      handler(req, res)
    }),
    port: 0,
    origin: '',
    hits: new Map(),
    connections: 0,
    lastHost: undefined,
    routes: new Map(),
  }
  state.server.on('connection', () => {
    state.connections += 1
  })
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve))
  state.port = (state.server.address() as AddressInfo).port
  state.origin = `http://127.0.0.1:${state.port}`
  servers.push(state)
  return state
}

function json(body: unknown, status = 200): Handler {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
}

async function rejectsWith(promise: Promise<unknown>, code: JwksFetchErrorCode): Promise<JwksFetchError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof JwksFetchError, `expected JwksFetchError, got ${String(error)}`)
    assert.equal(error.code, code, error.message)
    return error
  }
  assert.fail(`expected rejection with ${code}`)
}

function throwsWith(fn: () => unknown, code: JwksFetchErrorCode): void {
  assert.throws(fn, (error: unknown) => error instanceof JwksFetchError && error.code === code)
}

after(async () => {
  await Promise.all(
    servers.map(
      ({ server }) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        }),
    ),
  )
})

describe('JwksFetcher.validateUri', () => {
  const fetcher = new JwksFetcher()

  it('accepts an https URL and returns it parsed', () => {
    const url = fetcher.validateUri('https://agent.example.com/.well-known/jwks.json?v=2')
    assert.equal(url.hostname, 'agent.example.com')
    assert.equal(url.pathname, '/.well-known/jwks.json')
  })

  it('accepts public literal addresses without connecting', () => {
    assert.equal(fetcher.validateUri('https://93.184.216.34/jwks').hostname, '93.184.216.34')
    assert.equal(fetcher.validateUri('https://[2606:4700::1111]/jwks').hostname, '[2606:4700::1111]')
    assert.equal(fetcher.validateUri('https://[::ffff:93.184.216.34]/jwks').hostname, '[::ffff:5db8:d822]')
  })

  it('rejects strings that are not absolute URLs', () => {
    throwsWith(() => fetcher.validateUri('not a url'), 'jwks_uri_invalid')
    throwsWith(() => fetcher.validateUri('/relative/jwks.json'), 'jwks_uri_invalid')
    throwsWith(() => fetcher.validateUri(''), 'jwks_uri_invalid')
  })

  it('rejects schemes other than https', () => {
    for (const uri of [
      'http://agent.example.com/jwks',
      'ftp://agent.example.com/jwks',
      'file:///etc/passwd',
      'data:application/json,{}',
    ]) {
      throwsWith(() => fetcher.validateUri(uri), 'jwks_uri_invalid')
    }
  })

  it('rejects credentials in the URL without echoing them', () => {
    for (const uri of [
      'https://user:hunter2@agent.example.com/jwks',
      'https://user@agent.example.com/jwks',
    ]) {
      assert.throws(
        () => fetcher.validateUri(uri),
        (error: unknown) =>
          error instanceof JwksFetchError &&
          error.code === 'jwks_uri_invalid' &&
          !error.message.includes('hunter2'),
      )
    }
  })

  it('rejects fragments, including an empty one', () => {
    throwsWith(() => fetcher.validateUri('https://agent.example.com/jwks#keys'), 'jwks_uri_invalid')
    throwsWith(() => fetcher.validateUri('https://agent.example.com/jwks#'), 'jwks_uri_invalid')
  })

  it('rejects literal addresses in private, link-local and reserved ranges', () => {
    for (const uri of [
      'https://0.0.0.0/',
      'https://10.0.0.1/jwks',
      'https://100.64.0.1/',
      'https://169.254.169.254/latest/meta-data/',
      'https://172.16.0.1/',
      'https://172.31.255.255/',
      'https://192.0.0.8/',
      'https://192.168.1.1/',
      'https://198.18.0.1/',
      'https://224.0.0.1/',
      'https://240.0.0.1/',
      'https://255.255.255.255/',
      'https://[::]/',
      'https://[fc00::1]/',
      'https://[fd12:3456::1]/',
      'https://[fe80::1]/',
      'https://[ff02::1]/',
      'https://[::ffff:10.0.0.1]/',
      'https://[::ffff:169.254.169.254]/',
      'https://[0:0:0:0:0:ffff:c0a8:101]/',
      // Addresses that embed IPv4: IPv4-compatible, NAT64, 6to4, Teredo; and site-local.
      'https://[::a9fe:a9fe]/',
      'https://[64:ff9b::a9fe:a9fe]/',
      'https://[2002:a9fe:a9fe::1]/',
      'https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/',
      'https://[fec0::1]/',
    ]) {
      throwsWith(() => fetcher.validateUri(uri), 'jwks_address_forbidden')
    }
  })

  it('rejects loopback literals, including alternative spellings, unless allowLoopback is set', () => {
    const loopbackUris = [
      'https://127.0.0.1/',
      'https://127.8.9.10/',
      'https://[::1]/',
      'https://[::ffff:127.0.0.1]/',
      // WHATWG URL parsing turns these into 127.0.0.1.
      'https://2130706433/',
      'https://0x7f.1/',
    ]
    for (const uri of loopbackUris) {
      throwsWith(() => fetcher.validateUri(uri), 'jwks_address_forbidden')
    }
    const testFetcher = new JwksFetcher({ allowLoopback: true })
    for (const uri of loopbackUris) {
      assert.ok(testFetcher.validateUri(uri))
    }
  })

  it('allows http only for loopback hosts and only with allowLoopback', () => {
    throwsWith(() => fetcher.validateUri('http://127.0.0.1/jwks'), 'jwks_uri_invalid')
    throwsWith(() => fetcher.validateUri('http://localhost/jwks'), 'jwks_uri_invalid')
    const testFetcher = new JwksFetcher({ allowLoopback: true })
    assert.ok(testFetcher.validateUri('http://127.0.0.1:8080/jwks'))
    assert.ok(testFetcher.validateUri('http://localhost:8080/jwks'))
    throwsWith(() => testFetcher.validateUri('http://agent.example.com/jwks'), 'jwks_uri_invalid')
    throwsWith(() => testFetcher.validateUri('http://10.0.0.1/jwks'), 'jwks_uri_invalid')
  })

  it('still forbids private ranges when allowLoopback is set', () => {
    const testFetcher = new JwksFetcher({ allowLoopback: true })
    throwsWith(() => testFetcher.validateUri('https://10.0.0.1/jwks'), 'jwks_address_forbidden')
    throwsWith(() => testFetcher.validateUri('https://[fe80::1]/'), 'jwks_address_forbidden')
  })

  it('refuses nonsensical options', () => {
    assert.throws(() => new JwksFetcher({ timeoutMs: 0 }), RangeError)
    assert.throws(() => new JwksFetcher({ maxBytes: -1 }), RangeError)
  })
})

describe('JwksFetcher.fetch', () => {
  let target: TestServer

  before(async () => {
    target = await startServer()
  })

  afterEach(() => {
    mock.restoreAll()
  })

  it('returns the JWK Set from a 2xx JSON response and sends the original Host header', async () => {
    target.routes.set('/ok', json(PUBLIC_JWKS))
    const fetcher = new JwksFetcher({ allowLoopback: true })
    const jwks = await fetcher.fetch(`${target.origin}/ok`)
    assert.deepEqual(jwks, PUBLIC_JWKS)
    assert.equal(target.lastHost, `127.0.0.1:${target.port}`)
  })

  it('goes to the network on every call, so a failure is not remembered here (KeySets decides when to fetch)', async () => {
    let calls = 0
    target.routes.set('/flaky', (req, res) => {
      calls += 1
      if (calls === 1) {
        res.writeHead(503).end()
      } else {
        json(PUBLIC_JWKS)(req, res)
      }
    })
    const fetcher = new JwksFetcher({ allowLoopback: true })
    const uri = `${target.origin}/flaky`
    await rejectsWith(fetcher.fetch(uri), 'jwks_fetch_failed')
    assert.deepEqual(await fetcher.fetch(uri), PUBLIC_JWKS)
    assert.equal(target.hits.get('/flaky'), 2)
  })

  it('refuses early when Content-Length exceeds maxBytes, without waiting for the body', async () => {
    target.routes.set('/big-declared', (_req, res) => {
      // Headers only: the client must decide from Content-Length, not by reading (or timing out).
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000000' })
      res.flushHeaders()
    })
    const fetcher = new JwksFetcher({ allowLoopback: true, maxBytes: 1024, timeoutMs: 3000 })
    const started = Date.now()
    await rejectsWith(fetcher.fetch(`${target.origin}/big-declared`), 'jwks_too_large')
    assert.ok(Date.now() - started < 2000)
  })

  it('refuses a streamed body without Content-Length once it exceeds maxBytes', async () => {
    target.routes.set('/big-chunked', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      const chunk = Buffer.alloc(1024, 0x20)
      res.write('{"keys":[')
      let sent = 0
      const timer = setInterval(() => {
        if (res.destroyed || sent >= 64) {
          clearInterval(timer)
          res.end()
          return
        }
        res.write(chunk)
        sent += 1
      }, 1)
    })
    const fetcher = new JwksFetcher({ allowLoopback: true, maxBytes: 4096 })
    await rejectsWith(fetcher.fetch(`${target.origin}/big-chunked`), 'jwks_too_large')
  })

  it('times out when the server never answers', async () => {
    target.routes.set('/hang', () => {
      // Never respond; the `after` hook closes the connection.
    })
    const fetcher = new JwksFetcher({ allowLoopback: true, timeoutMs: 200 })
    const started = Date.now()
    await rejectsWith(fetcher.fetch(`${target.origin}/hang`), 'jwks_timeout')
    const elapsed = Date.now() - started
    assert.ok(elapsed >= 150 && elapsed < 2000, `elapsed ${elapsed} ms`)
  })

  it('times out when the body stalls after the headers', async () => {
    target.routes.set('/stall', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"keys":[')
    })
    const fetcher = new JwksFetcher({ allowLoopback: true, timeoutMs: 200 })
    await rejectsWith(fetcher.fetch(`${target.origin}/stall`), 'jwks_timeout')
  })

  it('times out when DNS resolution hangs', async () => {
    mock.method(dns.promises, 'lookup', () => new Promise(() => {}))
    const fetcher = new JwksFetcher({ timeoutMs: 100 })
    await rejectsWith(fetcher.fetch('https://hanging-dns.example/jwks'), 'jwks_timeout')
  })

  it('fails on non-2xx statuses without quoting the response body', async () => {
    target.routes.set('/error', (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('internal secret stack trace')
    })
    const fetcher = new JwksFetcher({ allowLoopback: true })
    const notFound = await rejectsWith(fetcher.fetch(`${target.origin}/missing`), 'jwks_fetch_failed')
    assert.match(notFound.message, /HTTP 404/)
    const serverError = await rejectsWith(fetcher.fetch(`${target.origin}/error`), 'jwks_fetch_failed')
    assert.match(serverError.message, /HTTP 500/)
    assert.ok(!serverError.message.includes('secret'))
  })

  it('does not follow redirects', async () => {
    target.routes.set('/redirect-target', json(PUBLIC_JWKS))
    target.routes.set('/redirect', (_req, res) => {
      res.writeHead(302, { location: `${target.origin}/redirect-target` }).end()
    })
    const fetcher = new JwksFetcher({ allowLoopback: true })
    const error = await rejectsWith(fetcher.fetch(`${target.origin}/redirect`), 'jwks_fetch_failed')
    assert.match(error.message, /redirect/)
    assert.equal(target.hits.get('/redirect-target'), undefined)
  })

  it('rejects a body that is not JSON without quoting it', async () => {
    target.routes.set('/not-json', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('<html>secret page</html>')
    })
    const fetcher = new JwksFetcher({ allowLoopback: true })
    const error = await rejectsWith(fetcher.fetch(`${target.origin}/not-json`), 'jwks_invalid')
    assert.ok(!error.message.includes('secret'))
  })

  it('rejects JSON that is not a JWK Set', async () => {
    const fetcher = new JwksFetcher({ allowLoopback: true })
    const bodies: unknown[] = [
      [],
      null,
      'keys',
      {},
      { keys: {} },
      { keys: [null] },
      { keys: ['key'] },
      { keys: [{}] },
      { keys: [{ kty: 1 }] },
      { keys: [PUBLIC_JWKS.keys[0], { kid: 'no-kty' }] },
    ]
    for (const [index, body] of bodies.entries()) {
      target.routes.set(`/shape-${index}`, json(body))
      await rejectsWith(fetcher.fetch(`${target.origin}/shape-${index}`), 'jwks_invalid')
    }
  })

  it('rejects a set containing private key members in any key', async () => {
    const fetcher = new JwksFetcher({ allowLoopback: true })
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth', 'priv']) {
      const path = `/private-${member}`
      target.routes.set(
        path,
        json({ keys: [PUBLIC_JWKS.keys[0], { kty: 'RSA', n: 'AQAB', e: 'AQAB', [member]: 'AQAB' }] }),
      )
      const error = await rejectsWith(fetcher.fetch(`${target.origin}${path}`), 'jwks_invalid')
      assert.match(error.message, new RegExp(`"${member}"`))
      assert.ok(!error.message.includes('AQAB'))
    }
  })

  it('refuses http when allowLoopback is false, before connecting', async () => {
    const probe = await startServer()
    probe.routes.set('/jwks', json(PUBLIC_JWKS))
    const fetcher = new JwksFetcher()
    await rejectsWith(fetcher.fetch(`${probe.origin}/jwks`), 'jwks_uri_invalid')
    await rejectsWith(fetcher.fetch(`http://localhost:${probe.port}/jwks`), 'jwks_uri_invalid')
    assert.equal(probe.connections, 0)
  })

  it('refuses loopback targets when allowLoopback is false, before connecting', async () => {
    const probe = await startServer()
    const fetcher = new JwksFetcher()
    await rejectsWith(fetcher.fetch(`https://127.0.0.1:${probe.port}/jwks`), 'jwks_address_forbidden')
    await rejectsWith(
      fetcher.fetch(`https://[::ffff:127.0.0.1]:${probe.port}/jwks`),
      'jwks_address_forbidden',
    )
    // localhost is only known to be loopback after resolution, so this exercises the post-lookup check.
    await rejectsWith(fetcher.fetch(`https://localhost:${probe.port}/jwks`), 'jwks_address_forbidden')
    assert.equal(probe.connections, 0)
  })

  it('refuses literal private, link-local and IPv4-mapped targets', async () => {
    const fetcher = new JwksFetcher({ allowLoopback: true, timeoutMs: 500 })
    for (const uri of [
      'https://10.0.0.1/jwks',
      'https://169.254.169.254/',
      'https://192.168.0.10/jwks',
      'https://[fe80::1]/',
      'https://[fd00::1]/',
      'https://[::ffff:10.0.0.1]/',
      'https://[::ffff:169.254.169.254]/',
    ]) {
      await rejectsWith(fetcher.fetch(uri), 'jwks_address_forbidden')
    }
  })

  it('refuses a host name if any resolved address is forbidden, without revealing it', async () => {
    const probe = await startServer()
    const lookup = mock.method(dns.promises, 'lookup', async () => [
      { address: '127.0.0.1', family: 4 },
      { address: '::ffff:a9fe:a9fe', family: 6 },
    ])
    const connect = mock.method(dns, 'lookup', (...args: unknown[]) => {
      const callback = args.at(-1)
      if (typeof callback === 'function') callback(new Error('connect-time lookup must not happen'))
    })
    const fetcher = new JwksFetcher({ allowLoopback: true })
    const error = await rejectsWith(
      fetcher.fetch(`https://mixed.example:${probe.port}/jwks`),
      'jwks_address_forbidden',
    )
    assert.ok(!error.message.includes('169.254') && !error.message.includes('a9fe'))
    assert.deepEqual(lookup.mock.calls[0]?.arguments, ['mixed.example', { all: true }])
    assert.equal(connect.mock.callCount(), 0)
    assert.equal(probe.connections, 0)
  })

  it('connects to the checked address instead of resolving the host again (no DNS rebinding)', async () => {
    target.routes.set('/pinned', json(PUBLIC_JWKS))
    const lookup = mock.method(dns.promises, 'lookup', async () => [{ address: '127.0.0.1', family: 4 }])
    // If the socket re-resolved the name, it would go through dns.lookup and fail here, never off-host.
    const connect = mock.method(dns, 'lookup', (...args: unknown[]) => {
      const callback = args.at(-1)
      if (typeof callback === 'function') callback(new Error('connect-time lookup must not happen'))
    })
    const fetcher = new JwksFetcher({ allowLoopback: true })
    const jwks = await fetcher.fetch(`http://localhost:${target.port}/pinned`)
    assert.deepEqual(jwks, PUBLIC_JWKS)
    assert.equal(lookup.mock.callCount(), 1)
    assert.equal(connect.mock.callCount(), 0)
    assert.equal(target.lastHost, `localhost:${target.port}`)
  })

  it('reports DNS failures as jwks_fetch_failed', async () => {
    mock.method(dns.promises, 'lookup', async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.example'), { code: 'ENOTFOUND' })
    })
    const fetcher = new JwksFetcher()
    await rejectsWith(fetcher.fetch('https://nowhere.example/jwks'), 'jwks_fetch_failed')
  })

  it('reports connection failures as jwks_fetch_failed', async () => {
    const closed = await startServer()
    const port = closed.port
    await new Promise<void>((resolve) => closed.server.close(() => resolve()))
    const fetcher = new JwksFetcher({ allowLoopback: true })
    await rejectsWith(fetcher.fetch(`http://127.0.0.1:${port}/jwks`), 'jwks_fetch_failed')
  })

  it('keeps working for later callers after a timed-out in-flight request', async () => {
    let calls = 0
    target.routes.set('/recover', (req, res) => {
      calls += 1
      if (calls > 1) json(PUBLIC_JWKS)(req, res)
    })
    const fetcher = new JwksFetcher({ allowLoopback: true, timeoutMs: 200 })
    const uri = `${target.origin}/recover`
    await rejectsWith(fetcher.fetch(uri), 'jwks_timeout')
    assert.deepEqual(await fetcher.fetch(uri), PUBLIC_JWKS)
  })
})
