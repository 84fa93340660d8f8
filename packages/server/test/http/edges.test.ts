// The edges a new user meets over HTTP (issue 8): list filters the API does not have, methods an endpoint does not
// take, PEP keys told apart from admin tokens, and one request log line per request.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import { startNode } from '../../src/main.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore, testConfig } from '../support/harness.ts'
import { expectError } from './http-checks.ts'

const EVALUATION = {
  subject: { type: 'agent', id: 'nobody' },
  action: { name: 'tickets:read' },
  resource: { type: 'resource_server', id: 'none' },
}

describe('HTTP edges (issue 8)', () => {
  let store: TestStore
  let t: TestNode

  before(async () => {
    store = sqliteStore()
    t = await startTestNode(store)
  })

  after(async () => {
    await t?.close()
    await store?.drop()
  })

  describe('list filters', () => {
    it('GET /api/v1/agents?spnsor=x is 400 naming the parameter and the filters agents have', async () => {
      const res = await t.call('GET', '/api/v1/agents?spnsor=alice')
      expectError(res, 400, 'validation_failed')
      assert.deepEqual(res.json.fields, [
        {
          path: '/querystring/spnsor',
          message:
            'is not a filter of agents (filters: status, classification, sponsor, parent; paging: limit, cursor)',
        },
      ])
    })

    it('a kind without filters says so, and every unknown parameter is named', async () => {
      const res = await t.call('GET', '/api/v1/groups?status=active&x=1')
      expectError(res, 400, 'validation_failed')
      assert.deepEqual(
        res.json.fields.map((f: { path: string }) => f.path),
        ['/querystring/status', '/querystring/x'],
      )
      assert.match(res.json.fields[0].message, /groups have no filters/)
    })

    it('known filters and paging parameters are still accepted', async () => {
      for (const query of ['sponsor=alice', 'status=active&classification=autonomous&limit=5', 'limit=1']) {
        const res = await t.call('GET', `/api/v1/agents?${query}`)
        assert.equal(res.status, 200, `${query}: ${res.text}`)
      }
    })

    it('GET /api/v1/audit/events with an unknown parameter is 400 naming it', async () => {
      const res = await t.call('GET', '/api/v1/audit/events?principle=agent:x')
      expectError(res, 400, 'validation_failed')
      assert.deepEqual(res.json.fields, [{ path: '/querystring/principle', message: 'is not a known field' }])
    })
  })

  describe('methods an endpoint does not take (RFC 9110 §15.5.6)', () => {
    for (const path of ['/oauth/token', '/oauth/introspect', '/oauth/revoke']) {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        it(`${method} ${path} is 405 with Allow: POST and an OAuth error body (RFC 6749 §3.2, §5.2)`, async () => {
          const res = await t.call(method, path, {
            token: null,
            ...(method === 'PUT'
              ? {
                  raw: 'grant_type=client_credentials',
                  headers: { 'content-type': 'application/x-www-form-urlencoded' },
                }
              : {}),
          })
          assert.equal(res.status, 405, res.text)
          assert.equal(res.headers.get('allow'), 'POST')
          assert.equal(res.headers.get('cache-control'), 'no-store')
          assert.deepEqual(res.json, {
            error: 'invalid_request',
            error_description: 'this endpoint accepts only POST',
          })
        })
      }
    }

    it('POST /oauth/authorize is 405 with Allow naming GET, in the OAuth error shape (RFC 6749 §4.1.2.1)', async () => {
      const res = await t.call('POST', '/oauth/authorize', {
        token: null,
        raw: 'response_type=code&client_id=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      })
      assert.equal(res.status, 405, res.text)
      assert.match(String(res.headers.get('allow')), /^GET(, HEAD)?$/)
      assert.equal(res.headers.get('cache-control'), 'no-store')
      assert.equal(res.json.error, 'invalid_request')
    })

    for (const path of [
      '/access/v1/evaluation',
      '/access/v1/evaluations',
      '/access/v1/search/subject',
      '/access/v1/search/resource',
      '/access/v1/search/action',
    ]) {
      it(`GET ${path} is 405 with Allow: POST, before authentication`, async () => {
        const res = await t.call('GET', path, { token: null })
        assert.equal(res.status, 405, res.text)
        assert.equal(res.headers.get('allow'), 'POST')
        assert.equal(res.json.error, 'method_not_allowed')
      })
    }

    it('GET /api/v1/keys/rotate is 405 with Allow: POST', async () => {
      const res = await t.call('GET', '/api/v1/keys/rotate')
      expectError(res, 405, 'method_not_allowed')
      assert.equal(res.headers.get('allow'), 'POST')
    })

    it('POST /api/v1/agents/x names every method the path takes in Allow', async () => {
      const res = await t.call('POST', '/api/v1/agents/x', { body: {} })
      expectError(res, 405, 'method_not_allowed')
      assert.equal(res.headers.get('allow'), 'GET, HEAD, PUT, PATCH, DELETE')
    })

    it('a path nothing serves is still 404, and POST /oauth/token still reaches the token endpoint', async () => {
      expectError(await t.call('GET', '/oauth/tokens', { token: null }), 404, 'not_found')
      const res = await t.call('POST', '/oauth/token', {
        token: null,
        raw: 'grant_type=client_credentials',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      })
      assert.equal(res.status, 401, res.text)
      assert.equal(res.json.error, 'invalid_client')
    })
  })

  describe('PEP keys', () => {
    const issue = async (role: 'pep' | 'admin' | 'reader', token?: string) => {
      const issued = await t.node.adminTokens.issue({
        name: `edge-${role}`,
        role,
        actor: { kind: 'system', id: 'test' },
        ...(token ? { token } : {}),
      })
      assert.ok(issued)
      return issued.token
    }
    const evaluate = (key: string) =>
      t.call('POST', '/access/v1/evaluation', { body: EVALUATION, token: key })

    it('a PEP key begins with mnd_pep_, an admin or read-only token with mnd_adm_', async () => {
      assert.match(await issue('pep'), /^mnd_pep_[A-Za-z0-9_-]{43}$/)
      assert.match(await issue('admin'), /^mnd_adm_[A-Za-z0-9_-]{43}$/)
      assert.match(await issue('reader'), /^mnd_adm_[A-Za-z0-9_-]{43}$/)
    })

    it('a PEP key is accepted by the AuthZEN API and refused by the admin API (403)', async () => {
      const key = await issue('pep')
      const decided = await evaluate(key)
      assert.equal(decided.status, 200, decided.text)
      assert.equal(decided.json.decision, false)
      expectError(await t.call('GET', '/api/v1/agents', { token: key }), 403, 'forbidden')
    })

    it('a PEP key issued with the old mnd_adm_ prefix keeps working at AuthZEN, and still not at the admin API', async () => {
      const key = await issue('pep', `mnd_adm_${randomBytes(32).toString('base64url')}`)
      assert.equal((await evaluate(key)).status, 200)
      expectError(await t.call('GET', '/api/v1/agents', { token: key }), 403, 'forbidden')
    })

    it('an admin token still works at AuthZEN; a read-only token does not (401)', async () => {
      assert.equal((await evaluate(t.token)).status, 200)
      const reader = await evaluate(await issue('reader'))
      assert.equal(reader.status, 401)
    })

    it('an unknown key with the PEP prefix is 401', async () => {
      const res = await evaluate(`mnd_pep_${randomBytes(32).toString('base64url')}`)
      assert.equal(res.status, 401)
      assert.equal(res.json.error, 'invalid_token')
    })
  })
})

describe('request log (issue 8)', () => {
  it('one line per request at info: request id, method, path without the query, route, status and duration; nothing else of the request', async () => {
    const store = sqliteStore()
    const lines: Array<Record<string, unknown>> = []
    const stream = new Writable({
      write(chunk, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line))
        done()
      },
    })
    const config = testConfig(store)
    const node = await startNode(config, { logger: pino({ level: 'info' }, stream) })
    try {
      const token = String(config.bootstrapToken)
      const get = (path: string, headers: Record<string, string> = {}) =>
        fetch(`${node.url}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } })
      await get('/healthz', { 'x-request-id': 'edge-1' })
      await get('/api/v1/agents?sponsor=alice&cursor=c2VjcmV0', { 'x-request-id': 'edge-2' })
      await get('/nowhere?x=1', { 'x-request-id': 'edge-3' })
      await fetch(`${node.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': 'edge-4' },
        body: 'grant_type=client_credentials&client_id=a&client_secret=b',
      })
      const requestLines = lines.filter((l) => l.msg === 'request')
      assert.deepEqual(
        requestLines.map(({ reqId, method, url, route, status, level }) => ({
          reqId,
          method,
          url,
          route,
          status,
          level,
        })),
        [
          { reqId: 'edge-1', method: 'GET', url: '/healthz', route: '/healthz', status: 200, level: 30 },
          {
            reqId: 'edge-2',
            method: 'GET',
            url: '/api/v1/agents',
            route: '/api/v1/agents',
            status: 200,
            level: 30,
          },
          { reqId: 'edge-3', method: 'GET', url: '/nowhere', route: undefined, status: 404, level: 30 },
          {
            reqId: 'edge-4',
            method: 'POST',
            url: '/oauth/token',
            route: '/oauth/token',
            status: 401,
            level: 30,
          },
        ],
      )
      for (const line of requestLines) {
        assert.equal(typeof line.ms, 'number')
        assert.deepEqual(
          Object.keys(line).sort(),
          [
            'hostname',
            'level',
            'method',
            'ms',
            'msg',
            'pid',
            'reqId',
            'route',
            'status',
            'time',
            'url',
          ].filter((k) => k !== 'route' || line.route !== undefined),
        )
      }
      const text = JSON.stringify(lines)
      for (const leak of [token, 'c2VjcmV0', 'client_secret', 'authorization', 'sponsor=alice'])
        assert.ok(!text.includes(leak), `${leak} is in the log`)
      // The listen line Fastify would write is not there: `mandate serve` prints a banner instead.
      assert.ok(!lines.some((l) => String(l.msg).startsWith('Server listening')), JSON.stringify(lines[0]))
    } finally {
      await node.close()
      await store.drop()
    }
  })

  it('at warn, no request lines are written', async () => {
    const store = sqliteStore()
    let written = ''
    const stream = new Writable({
      write(chunk, _encoding, done) {
        written += chunk.toString()
        done()
      },
    })
    const node = await startNode(testConfig(store), { logger: pino({ level: 'warn' }, stream) })
    try {
      assert.equal((await fetch(`${node.url}/healthz`)).status, 200)
      assert.equal((await fetch(`${node.url}/nowhere`)).status, 404)
      assert.equal(written, '')
    } finally {
      await node.close()
      await store.drop()
    }
  })
})
