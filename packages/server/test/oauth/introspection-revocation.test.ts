// RFC 7662 introspection and RFC 7009 revocation: durable, and honoured at once by every node sharing the store.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import * as client from 'openid-client'
import { startTestNode, storeKinds, type TestStore } from '../support/harness.ts'
import { type OAuthFixture, RESOURCE, startOAuthFixture } from './oauth-fixture.ts'

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

for (const kind of storeKinds) {
  describe(`introspection and revocation (${kind.name})`, () => {
    let store: TestStore
    let f: OAuthFixture
    let secretBot: client.Configuration

    const botToken = async () => {
      const res = await f.token({
        grant_type: 'client_credentials',
        scope: 'tickets:read',
        resource: RESOURCE,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await f.assertion('bot'),
      })
      assert.equal(res.status, 200, JSON.stringify(res.json))
      return String(res.json.access_token)
    }
    const introspect = async (token: string, base = f.issuer, as = 'secret-bot') => {
      const res = await fetch(`${base}/oauth/introspect`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${as}:${f.secrets[as]}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token }),
      })
      return { status: res.status, json: (await res.json()) as Record<string, unknown> }
    }

    before(async () => {
      store = kind.create()
      f = await startOAuthFixture(store)
      // secret-bot serves the tickets API: it may introspect the tokens issued for it (RFC 7662 §4).
      const registered = await f.node.call('PATCH', '/api/v1/resource-servers/tickets', {
        body: { introspection_clients: ['secret-bot', 'secret-bot'] },
        headers: { 'content-type': 'application/merge-patch+json' },
      })
      assert.equal(registered.status, 200, registered.text)
      assert.deepEqual(registered.json.object.introspection_clients, ['secret-bot'], 'duplicates are dropped')
      secretBot = await client.discovery(
        new URL(f.issuer),
        'secret-bot',
        undefined,
        client.ClientSecretBasic(f.secrets['secret-bot']),
        { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
      )
    })
    after(async () => {
      await f.close()
      await store.drop()
    })

    it('RFC 7662 §2.2: an active token is described, with its client, scope and audience (openid-client)', async () => {
      const token = await botToken()
      const result = await client.tokenIntrospection(secretBot, token)
      assert.equal(result.active, true)
      assert.equal(result.sub, 'bot')
      assert.equal(result.client_id, 'bot')
      assert.equal(result.scope, 'tickets:read')
      assert.equal(result.aud, RESOURCE)
      assert.equal(result.token_type, 'Bearer')
    })

    it('RFC 7662 §2.2: anything not active answers exactly {"active": false}', async () => {
      for (const token of [
        'garbage',
        `${(await botToken()).slice(0, -4)}AAAA`,
        'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
      ]) {
        assert.deepEqual((await introspect(token)).json, { active: false })
      }
    })

    it('RFC 7662 §4 (issue 8): only the resource server\'s introspection clients and the token\'s own client learn about a token; anyone else gets exactly {"active": false}', async () => {
      const token = await botToken()
      assert.equal((await introspect(token)).json.active, true, 'a client registered for the token audience')
      // helper neither serves the tickets API nor holds the token: the answer is that of an unknown token.
      assert.deepEqual((await introspect(token, f.issuer, 'helper')).json, { active: false })
      // The token's own client, authenticating with its private_key_jwt assertion.
      const own = await fetch(`${f.issuer}/oauth/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          token,
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await f.assertion('bot'),
        }),
      })
      assert.equal(((await own.json()) as { active: boolean; client_id: string }).client_id, 'bot')
      // Registered for another resource server only: not a caller for this token.
      const docs = await f.node.call('PUT', '/api/v1/resource-servers/docs', {
        body: {
          audience: 'https://docs.example.com/',
          scopes: ['docs:read'],
          introspection_clients: ['helper'],
        },
      })
      assert.equal(docs.status, 201, docs.text)
      assert.deepEqual((await introspect(token, f.issuer, 'helper')).json, { active: false })
    })

    it('introspection_clients is in the OpenAPI document of the admin API', async () => {
      const docs = await f.node.call('GET', '/api/docs/openapi.json', { token: null })
      assert.equal(docs.status, 200)
      const found: unknown[] = []
      const walk = (node: unknown): void => {
        if (node === null || typeof node !== 'object') return
        const properties = (node as { properties?: Record<string, unknown> }).properties
        if (properties?.introspection_clients) found.push(properties.introspection_clients)
        for (const value of Object.values(node)) walk(value)
      }
      walk(docs.json)
      assert.ok(found.length > 0)
      assert.equal((found[0] as { type: string }).type, 'array')
    })

    it('introspection_clients must be client ids: a malformed one is a field error', async () => {
      const res = await f.node.call('PUT', '/api/v1/resource-servers/bad', {
        body: { audience: 'https://bad.example.com/', introspection_clients: ['not an id'] },
      })
      assert.equal(res.status, 400, res.text)
      assert.equal(res.json.fields[0].path, '/introspection_clients/0')
    })

    it('RFC 7662 §2.1: callers must authenticate', async () => {
      const res = await fetch(`${f.issuer}/oauth/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: await botToken() }),
      })
      assert.equal(res.status, 401)
      assert.equal(((await res.json()) as { error: string }).error, 'invalid_client')
    })

    it('RFC 7009 §2.1: a client revokes its own token; another client cannot; unknown tokens answer 200', async () => {
      const own = (
        await client.clientCredentialsGrant(secretBot, { scope: 'tickets:read', resource: RESOURCE })
      ).access_token
      const others = await botToken()
      await client.tokenRevocation(secretBot, own)
      await client.tokenRevocation(secretBot, others)
      await client.tokenRevocation(secretBot, 'not-a-token')
      assert.deepEqual((await introspect(own)).json, { active: false })
      assert.equal((await introspect(others)).json.active, true, 'a token of another client is not revoked')
    })

    it('revokes every token of an agent, including delegated tokens it acts in, on every node and after a restart', async () => {
      const before = await botToken()
      const second = await startTestNode(store, {
        masterKey: f.node.config.masterKey,
        bootstrapToken: f.node.config.bootstrapToken,
        issuer: f.issuer,
      })
      try {
        assert.equal((await introspect(before, second.node.url)).json.active, true)
        const revoked = await f.node.call('POST', '/api/v1/revocations', {
          body: { target: 'agent', id: 'bot', reason: 'compromised host' },
        })
        assert.equal(revoked.status, 201, revoked.text)
        assert.deepEqual(
          (await introspect(before, second.node.url)).json,
          { active: false },
          'the other node refuses it at once',
        )
        assert.deepEqual((await introspect(before)).json, { active: false })
      } finally {
        await second.close()
      }
      const events = (await f.node.call('GET', '/api/v1/audit/events?type=token.revoke')).json.items
      assert.ok(events.some((e: { reason: string }) => e.reason === 'compromised host'))
      // A node started afresh on the same store still refuses it.
      const restarted = await startTestNode(store, {
        masterKey: f.node.config.masterKey,
        bootstrapToken: f.node.config.bootstrapToken,
        issuer: f.issuer,
      })
      try {
        assert.deepEqual((await introspect(before, restarted.node.url)).json, { active: false })
      } finally {
        await restarted.close()
      }
    })

    it('refuses bad revocation requests to the admin API with field errors', async () => {
      const res = await f.node.call('POST', '/api/v1/revocations', { body: { target: 'agent' } })
      assert.equal(res.status, 400)
      assert.equal(res.json.fields[0].path, '/id')
      assert.equal(
        (await f.node.call('POST', '/api/v1/revocations', { body: { target: 'everything' } })).status,
        400,
      )
    })

    it('RFC 8414: metadata lists the introspection and revocation endpoints', async () => {
      const metadata = (await f.node.call('GET', '/.well-known/oauth-authorization-server', { token: null }))
        .json
      assert.equal(metadata.introspection_endpoint, `${f.issuer}/oauth/introspect`)
      assert.equal(metadata.revocation_endpoint, `${f.issuer}/oauth/revoke`)
    })
  })
}
