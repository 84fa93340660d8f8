// Federated workload identity: a workload proves itself with its platform's token (here a Kubernetes-style
// service-account token), as a client assertion (RFC 7523 §2.2) or as the jwt-bearer grant (RFC 7523 §2.1).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { storeKinds, type TestStore } from '../support/harness.ts'
import {
  ecKeyPair,
  type OAuthFixture,
  RESOURCE,
  registerDeployer,
  signWorkloadToken,
  startOAuthFixture,
} from './oauth-fixture.ts'

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

for (const kind of storeKinds) {
  describe(`federated workload identity (${kind.name})`, () => {
    let store: TestStore
    let f: OAuthFixture
    const platformKey = ecKeyPair('k8s-1')

    const workloadToken = (claims: Record<string, unknown> = {}, key = platformKey) =>
      signWorkloadToken(key, claims)

    before(async () => {
      store = kind.create()
      f = await startOAuthFixture(store)
      const _put = async (path: string, body: Record<string, unknown>) => {
        const res = await f.node.call('PUT', path, { body })
        assert.ok(res.status < 300, `${path}: ${res.text}`)
      }
      await registerDeployer(f.node, platformKey)
    })
    after(async () => {
      await f.close()
      await store.drop()
    })

    it('RFC 7523 §2.1: the jwt-bearer grant issues a token to the workload the assertion names, with no other credential', async () => {
      const res = await f.token({
        grant_type: JWT_BEARER,
        assertion: await workloadToken(),
        scope: 'tickets:write',
        resource: RESOURCE,
      })
      assert.equal(res.status, 200, JSON.stringify(res.json))
      const { payload } = await jwtVerify(
        String(res.json.access_token),
        createRemoteJWKSet(new URL(`${f.issuer}/.well-known/jwks.json`)),
        { audience: RESOURCE },
      )
      assert.equal(payload.sub, 'deployer')
      assert.equal(payload.client_id, 'deployer')
      const events = (
        await f.node.call('GET', '/api/v1/audit/events?type=token.issue&principal=workload:deployer')
      ).json.items
      assert.equal(events.at(-1).details.grant_type, JWT_BEARER)
      assert.equal(events.at(-1).details.client_auth, 'federated_assertion')
    })

    it('RFC 7523 §2.2: the same token works as the client assertion of client_credentials, with or without client_id', async () => {
      for (const form of [{}, { client_id: 'deployer' }] as Array<Record<string, string>>) {
        const res = await f.token({
          grant_type: 'client_credentials',
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await workloadToken(),
          scope: 'tickets:write',
          resource: RESOURCE,
          ...form,
        })
        assert.equal(res.status, 200, JSON.stringify(res.json))
      }
    })

    it('RFC 7523 §3.1: a token that matches no binding, is expired, forged or from an untrusted issuer is invalid_grant', async () => {
      const now = Math.floor(Date.now() / 1000)
      const cases = [
        await workloadToken({ sub: 'system:serviceaccount:ci:intruder' }),
        await workloadToken({ 'kubernetes.io/namespace': 'prod' }),
        await workloadToken({ aud: 'someone-else' }),
        await workloadToken({ iat: now - 1200, exp: now - 600 }),
        await workloadToken({}, ecKeyPair('k8s-1')),
        await workloadToken({ iss: 'https://untrusted.example.com' }),
        'not-a-jwt',
      ]
      for (const assertion of cases) {
        const res = await f.token({
          grant_type: JWT_BEARER,
          assertion,
          scope: 'tickets:write',
          resource: RESOURCE,
        })
        assert.equal(res.json.error, 'invalid_grant', JSON.stringify(res.json))
        assert.equal(res.json.access_token, undefined)
      }
    })

    it('draft-ietf-oauth-rfc7523bis (issue 8): a workload token whose aud also names another party is refused, as jwt-bearer grant (invalid_grant) and as client assertion (invalid_client); a list of accepted audiences is fine', async () => {
      const injected = { aud: ['mandate', 'https://evil.example/'] }
      const grant = await f.token({
        grant_type: JWT_BEARER,
        assertion: await workloadToken(injected),
        scope: 'tickets:write',
        resource: RESOURCE,
      })
      assert.equal(grant.json.error, 'invalid_grant', JSON.stringify(grant.json))
      assert.match(String(grant.json.error_description), /another audience/)
      const assertion = await f.token({
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await workloadToken(injected),
        scope: 'tickets:write',
        resource: RESOURCE,
      })
      assert.equal(assertion.json.error, 'invalid_client', JSON.stringify(assertion.json))
      assert.equal(assertion.json.access_token, undefined)
      // Kubernetes writes aud as a list: one naming only registered audiences is accepted.
      const listed = await f.token({
        grant_type: JWT_BEARER,
        assertion: await workloadToken({ aud: ['mandate'] }),
        scope: 'tickets:write',
        resource: RESOURCE,
      })
      assert.equal(listed.status, 200, JSON.stringify(listed.json))
    })

    it('RFC 7523 §2.1: the jwt-bearer grant takes no other client authentication, and needs its assertion', async () => {
      const withSecret = await f.token({
        grant_type: JWT_BEARER,
        assertion: await workloadToken(),
        scope: 'tickets:write',
        client_id: 'secret-bot',
        client_secret: f.secrets['secret-bot'] ?? '',
      })
      assert.equal(withSecret.json.error, 'invalid_request')
      assert.equal(
        (await f.token({ grant_type: JWT_BEARER, scope: 'tickets:write' })).json.error,
        'invalid_request',
      )
    })

    it('the ceiling still bounds the token, and a suspended workload is refused', async () => {
      assert.equal(
        (
          await f.token({
            grant_type: JWT_BEARER,
            assertion: await workloadToken(),
            scope: 'tickets:read',
            resource: RESOURCE,
          })
        ).json.error,
        'invalid_scope',
      )
      assert.equal(
        (await f.node.call('PATCH', '/api/v1/workloads/deployer', { body: { status: 'suspended' } })).status,
        200,
      )
      assert.equal(
        (
          await f.token({
            grant_type: JWT_BEARER,
            assertion: await workloadToken(),
            scope: 'tickets:write',
            resource: RESOURCE,
          })
        ).json.error,
        'invalid_client',
      )
    })
  })
}
