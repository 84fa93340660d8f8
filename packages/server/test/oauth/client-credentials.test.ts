// client_credentials with real clients: openid-client on the wire, jose verifying tokens as a resource server would.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createRemoteJWKSet, importJWK, type JWK, jwtVerify } from 'jose'
import * as client from 'openid-client'
import { startTestNode, storeKinds, type TestStore } from '../support/harness.ts'
import { type OAuthFixture, RESOURCE, startOAuthFixture } from './oauth-fixture.ts'

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

for (const kind of storeKinds) {
  describe(`client_credentials (${kind.name})`, () => {
    let store: TestStore
    let f: OAuthFixture
    let jwks: ReturnType<typeof createRemoteJWKSet>

    before(async () => {
      store = kind.create()
      f = await startOAuthFixture(store)
      jwks = createRemoteJWKSet(new URL(`${f.issuer}/.well-known/jwks.json`))
    })
    after(async () => {
      await f.close()
      await store.drop()
    })

    async function discover(clientId: string, auth: client.ClientAuth) {
      return client.discovery(new URL(f.issuer), clientId, undefined, auth, {
        algorithm: 'oauth2',
        execute: [client.allowInsecureRequests],
      })
    }

    it('RFC 8414: metadata lists the token endpoint, grant and client authentication methods that work', async () => {
      const metadata = (await f.node.call('GET', '/.well-known/oauth-authorization-server', { token: null }))
        .json
      assert.equal(metadata.token_endpoint, f.tokenEndpoint)
      assert.deepEqual(metadata.grant_types_supported, [
        'client_credentials',
        'urn:ietf:params:oauth:grant-type:token-exchange',
        'urn:ietf:params:oauth:grant-type:jwt-bearer',
        'authorization_code',
        'refresh_token',
        'urn:openid:params:grant-type:ciba',
      ])
      assert.deepEqual(metadata.token_endpoint_auth_methods_supported.sort(), [
        'client_secret_basic',
        'client_secret_post',
        'private_key_jwt',
      ])
      assert.ok(!metadata.token_endpoint_auth_signing_alg_values_supported.includes('HS256'))
    })

    it('issues an RFC 9068 access token to an agent authenticating with private_key_jwt (openid-client)', async () => {
      const key = await importJWK(f.botKey.privateKey.export({ format: 'jwk' }) as JWK, 'ES256')
      const config = await discover(
        'bot',
        client.PrivateKeyJwt({ key, kid: 'k1' } as Parameters<typeof client.PrivateKeyJwt>[0]),
      )
      const tokens = await client.clientCredentialsGrant(config, {
        scope: 'tickets:read',
        resource: RESOURCE,
      })
      assert.equal(tokens.token_type.toLowerCase(), 'bearer')
      assert.equal(tokens.expires_in, 300)
      assert.equal(tokens.scope, 'tickets:read')
      const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
        issuer: f.issuer,
        audience: RESOURCE,
        typ: 'at+jwt',
      })
      assert.equal(protectedHeader.alg, 'ES256')
      assert.equal(payload.sub, 'bot')
      assert.equal(payload.client_id, 'bot')
      assert.equal(payload.scope, 'tickets:read')
      assert.equal(typeof payload.jti, 'string')
      assert.equal((payload.exp as number) - (payload.iat as number), 300)
    })

    it('issues tokens to legacy clients with client_secret_basic and client_secret_post', async () => {
      const basic = await client.clientCredentialsGrant(
        await discover('secret-bot', client.ClientSecretBasic(f.secrets['secret-bot'])),
        { scope: 'tickets:read', resource: RESOURCE },
      )
      assert.equal(
        (await jwtVerify(basic.access_token, jwks, { audience: RESOURCE })).payload.sub,
        'secret-bot',
      )
      const post = await client.clientCredentialsGrant(
        await discover('secret-bot', client.ClientSecretPost(f.secrets['secret-bot'])),
        { scope: 'tickets:read', resource: RESOURCE },
      )
      assert.equal(
        (await jwtVerify(post.access_token, jwks, { audience: RESOURCE })).payload.client_id,
        'secret-bot',
      )
    })

    it('infers the resource from the scopes when only one resource server accepts them', async () => {
      const res = await f.token({
        grant_type: 'client_credentials',
        scope: 'tickets:write',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await f.assertion('bot'),
      })
      assert.equal(res.status, 200, JSON.stringify(res.json))
      assert.equal((await jwtVerify(String(res.json.access_token), jwks)).payload.aud, RESOURCE)
    })

    it('RFC 6749 §5.1: token responses are not cached', async () => {
      const res = await f.token({
        grant_type: 'client_credentials',
        scope: 'tickets:read',
        resource: RESOURCE,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await f.assertion('bot'),
      })
      assert.equal(res.headers.get('cache-control'), 'no-store')
      const refused = await f.token({ grant_type: 'client_credentials' })
      assert.equal(refused.headers.get('cache-control'), 'no-store')
    })

    describe('refusals, each with the RFC error and no token', () => {
      const bot = async (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) => ({
        grant_type: 'client_credentials',
        scope: 'tickets:read',
        resource: RESOURCE,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await f.assertion('bot', claims, header),
      })
      const refused = async (
        form: Record<string, string | string[]>,
        error: string,
        status = 400,
        headers: Record<string, string> = {},
      ) => {
        const res = await f.token(form, headers)
        assert.equal(res.json.error, error, JSON.stringify(res.json))
        assert.equal(res.status, status)
        assert.equal(res.json.access_token, undefined)
        assert.equal(typeof res.json.error_description, 'string')
        return res
      }

      it('RFC 7523 §3: a replayed client assertion jti is invalid_client', async () => {
        const form = await bot()
        assert.equal((await f.token(form)).status, 200)
        await refused(form, 'invalid_client', 401)
      })

      it('RFC 7523 §3: an assertion for another audience is invalid_client', async () => {
        await refused(await bot({ aud: 'https://elsewhere.example.com' }), 'invalid_client', 401)
      })

      it('RFC 7523 §3 accepts the issuer with or without a trailing slash (openid-client sends the issuer), or the token endpoint (as Python Authlib sends it), as a string aud', async () => {
        for (const aud of [f.issuer, `${f.issuer}/`, f.tokenEndpoint])
          assert.equal((await f.token(await bot({ aud }))).status, 200, aud)
      })

      it('draft-ietf-oauth-rfc7523bis (issue 8): an aud list is invalid_client, whether it adds another audience or names only this server', async () => {
        for (const aud of [
          [f.issuer, 'https://evil.example/'],
          ['https://evil.example/', f.tokenEndpoint],
          [f.issuer],
          [f.issuer, f.tokenEndpoint],
        ]) {
          const res = await refused(await bot({ aud }), 'invalid_client', 401)
          assert.match(String(res.json.error_description), /single string/, JSON.stringify(aud))
        }
      })

      it('RFC 7523 §3: expired, not-yet-valid and future-issued assertions are invalid_client', async () => {
        const now = Math.floor(Date.now() / 1000)
        await refused(await bot({ exp: now - 120 }), 'invalid_client', 401)
        await refused(await bot({ nbf: now + 600 }), 'invalid_client', 401)
        await refused(await bot({ iat: now + 600, exp: now + 700 }), 'invalid_client', 401)
        await refused(await bot({ exp: now + 86400 }), 'invalid_client', 401)
      })

      it('RFC 8725 §3.1: alg none and HS256 signed with a public key are invalid_client', async () => {
        const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: 'bot', sub: 'bot', aud: f.issuer, exp: Math.floor(Date.now() / 1000) + 60, jti: 'n1' })).toString('base64url')}.`
        await refused(
          {
            grant_type: 'client_credentials',
            scope: 'tickets:read',
            client_assertion_type: ASSERTION_TYPE,
            client_assertion: unsigned,
          },
          'invalid_client',
          401,
        )
        const { SignJWT } = await import('jose')
        const hmac = await new SignJWT({ jti: 'h1' })
          .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
          .setIssuer('bot')
          .setSubject('bot')
          .setAudience(f.issuer)
          .setExpirationTime('1m')
          .sign(Buffer.from(JSON.stringify(f.botKey.publicJwk)))
        await refused(
          {
            grant_type: 'client_credentials',
            scope: 'tickets:read',
            client_assertion_type: ASSERTION_TYPE,
            client_assertion: hmac,
          },
          'invalid_client',
          401,
        )
      })

      it('RFC 8725 §3.5: unknown or path-like kid, and embedded or referenced keys, are invalid_client', async () => {
        await refused(await bot({}, { kid: '../../etc/passwd' }), 'invalid_client', 401)
        await refused(await bot({}, { kid: "k1' OR '1'='1" }), 'invalid_client', 401)
        await refused(await bot({}, { jwk: f.botKey.publicJwk }), 'invalid_client', 401)
        await refused(await bot({}, { jku: 'https://attacker.example.com/jwks' }), 'invalid_client', 401)
        await refused(await bot({}, { x5u: 'https://attacker.example.com/cert' }), 'invalid_client', 401)
      })

      it('an unknown client id and a known one with a wrong key get the same answer (no client id probing)', async () => {
        const { ecKeyPair } = await import('./oauth-fixture.ts')
        const stranger = ecKeyPair()
        const { SignJWT } = await import('jose')
        const sign = (id: string) => {
          const now = Math.floor(Date.now() / 1000)
          return new SignJWT({
            iss: id,
            sub: id,
            aud: f.issuer,
            iat: now,
            exp: now + 60,
            jti: crypto.randomUUID(),
          })
            .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
            .sign(stranger.privateKey)
        }
        const known = await f.token({
          grant_type: 'client_credentials',
          scope: 'tickets:read',
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await sign('bot'),
        })
        const unknown = await f.token({
          grant_type: 'client_credentials',
          scope: 'tickets:read',
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await sign('no-such-agent'),
        })
        assert.equal(known.json.error, 'invalid_client')
        assert.deepEqual(unknown.json, known.json)
      })

      it('RFC 6749 §2.3.1: a wrong client secret, or none, is invalid_client with a Basic challenge', async () => {
        const basic = (id: string, secret: string) => ({
          authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
        })
        const res = await refused(
          { grant_type: 'client_credentials', scope: 'tickets:read' },
          'invalid_client',
          401,
          basic('secret-bot', 'wrong'),
        )
        assert.match(res.headers.get('www-authenticate') ?? '', /^Basic/)
        await refused(
          { grant_type: 'client_credentials', scope: 'tickets:read' },
          'invalid_client',
          401,
          basic('nobody', 'wrong'),
        )
        await refused({ grant_type: 'client_credentials', scope: 'tickets:read' }, 'invalid_client', 401)
      })

      it('RFC 6749 §2.3: more than one client authentication method is invalid_request', async () => {
        const form = {
          ...(await bot()),
          client_id: 'secret-bot',
          client_secret: f.secrets['secret-bot'] ?? '',
        }
        await refused(form, 'invalid_request')
      })

      it('RFC 6749 §3.2: a repeated parameter is invalid_request; a missing or unknown grant_type is refused', async () => {
        await refused({ ...(await bot()), scope: ['tickets:read', 'tickets:write'] }, 'invalid_request')
        const { grant_type: _g, ...withoutGrant } = await bot()
        await refused(withoutGrant, 'invalid_request')
        await refused({ ...(await bot()), grant_type: 'password' }, 'unsupported_grant_type')
      })

      it('RFC 6749 §5.2: scope beyond the ceiling, unknown to the resource server, or absent is invalid_scope', async () => {
        await refused({ ...(await bot()), scope: 'tickets:delete' }, 'invalid_scope')
        await refused({ ...(await bot()), scope: 'tickets:read payroll:read' }, 'invalid_scope')
        await refused({ ...(await bot()), scope: '' }, 'invalid_scope')
      })

      it('RFC 8707 §2: an unknown or malformed resource, or two resources, is invalid_target', async () => {
        await refused({ ...(await bot()), resource: 'https://unknown.example.com/' }, 'invalid_target')
        await refused({ ...(await bot()), resource: 'https://tickets.example.com/#frag' }, 'invalid_target')
        await refused(
          { ...(await bot()), resource: [RESOURCE, 'https://unknown.example.com/'] },
          'invalid_target',
        )
      })

      it('RFC 9396 §5: an authorization_details type the resource server does not accept is invalid_authorization_details', async () => {
        await refused(
          { ...(await bot()), authorization_details: '[{"type":"payment_initiation"}]' },
          'invalid_authorization_details',
        )
        await refused(
          { ...(await bot()), authorization_details: '{"type":"ticket_action"}' },
          'invalid_authorization_details',
        )
        const ok = await f.token({
          ...(await bot()),
          authorization_details: '[{"type":"ticket_action","actions":["close"]}]',
        })
        assert.equal(ok.status, 200, JSON.stringify(ok.json))
        assert.deepEqual(
          (await jwtVerify(String(ok.json.access_token), jwks)).payload.authorization_details,
          [{ type: 'ticket_action', actions: ['close'] }],
        )
      })

      it('a delegated agent may not act on its own authority: unauthorized_client', async () => {
        await refused(
          {
            grant_type: 'client_credentials',
            scope: 'tickets:read',
            client_id: 'helper',
            client_secret: f.secrets.helper ?? '',
          },
          'unauthorized_client',
        )
      })

      it('a suspended agent, and an agent whose sponsor was deactivated, get invalid_client', async () => {
        assert.equal(
          (await f.node.call('PATCH', '/api/v1/agents/bot', { body: { status: 'suspended' } })).status,
          200,
        )
        await refused(await bot(), 'invalid_client', 401)
        assert.equal(
          (await f.node.call('PATCH', '/api/v1/agents/bot', { body: { status: 'active' } })).status,
          200,
        )
        assert.equal((await f.token(await bot())).status, 200)
        assert.equal((await f.node.call('DELETE', '/api/v1/humans/alice@example.com')).status, 200)
        await refused(await bot(), 'invalid_client', 401)
        await refused(
          {
            grant_type: 'client_credentials',
            scope: 'tickets:read',
            client_id: 'secret-bot',
            client_secret: f.secrets['secret-bot'] ?? '',
          },
          'invalid_client',
          401,
        )
        assert.equal(
          (await f.node.call('PATCH', '/api/v1/humans/alice@example.com', { body: { status: 'active' } }))
            .status,
          200,
        )
        // Reactivating the sponsor does not resume the agents by itself: an admin does.
        await refused(await bot(), 'invalid_client', 401)
        for (const id of ['bot', 'secret-bot']) {
          assert.equal(
            (await f.node.call('PATCH', `/api/v1/agents/${id}`, { body: { status: 'active' } })).status,
            200,
          )
        }
        assert.equal((await f.token(await bot())).status, 200)
      })

      it('records every issuance and every refusal in the audit log, with the actor and the mode', async () => {
        const issued = (await f.node.call('GET', '/api/v1/audit/events?type=token.issue&limit=1000')).json
          .items
        const refusedEvents = (await f.node.call('GET', '/api/v1/audit/events?type=token.refuse&limit=1000'))
          .json.items
        assert.ok(issued.length >= 5)
        assert.ok(
          issued.every(
            (e: { mode: string; actors: unknown[] }) => e.mode === 'autonomous' && e.actors.length === 1,
          ),
        )
        assert.ok(refusedEvents.some((e: { reason: string }) => e.reason.startsWith('invalid_scope')))
        assert.ok(
          refusedEvents.some(
            (e: { reason: string; actors: Array<{ id: string }> }) =>
              e.reason.includes('suspended') && e.actors[0]?.id === 'bot',
          ),
        )
        assert.equal((await f.node.call('POST', '/api/v1/audit/verify', { body: {} })).json.ok, true)
      })
    })

    it('RFC 7523 §3: an assertion used on one node is refused on another node sharing the store', async () => {
      const second = await startTestNode(store, {
        masterKey: f.node.config.masterKey,
        bootstrapToken: f.node.config.bootstrapToken,
        issuer: f.issuer,
      })
      try {
        const form = {
          grant_type: 'client_credentials',
          scope: 'tickets:read',
          resource: RESOURCE,
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await f.assertion('bot'),
        }
        assert.equal((await f.token(form)).status, 200)
        const body = new URLSearchParams(form)
        const replay = await fetch(`${second.node.url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body,
        })
        assert.equal(replay.status, 401)
        assert.equal(((await replay.json()) as { error: string }).error, 'invalid_client')
      } finally {
        await second.close()
      }
    })
  })
}
