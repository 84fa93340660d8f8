// The policy decision point as the token service and the AuthZEN API use it: policies validated on save with located
// diagnostics, forbid over permit, fail-closed evaluation errors, obligations in issued tokens, transaction tokens,
// and every decision in the audit log with its determining policies.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import {
  ecKeyPair,
  grantMandate,
  IDP,
  IDP_SUBJECT,
  type OAuthFixture,
  RESOURCE,
  signHumanToken,
  startOAuthFixture,
} from '../oauth/oauth-fixture.ts'
import { storeKinds, type TestStore } from '../support/harness.ts'
import { pepKey, post } from './authzen-fixture.ts'

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt'
const TXN = 'urn:ietf:params:oauth:token-type:txn_token'
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token'

for (const kind of storeKinds) {
  describe(`policy decisions (${kind.name})`, () => {
    let store: TestStore
    let f: OAuthFixture
    let jwks: ReturnType<typeof createRemoteJWKSet>
    const idpKey = ecKeyPair('idp-1')

    const setPolicies = async (text: string) => {
      const res = await f.node.call('PUT', '/api/v1/policies/allow-all', { body: { policies: text } })
      assert.equal(res.status < 300, true, res.text)
    }
    const cc = (scope: string, id = 'secret-bot') =>
      f.token({
        grant_type: 'client_credentials',
        scope,
        resource: RESOURCE,
        client_id: id,
        client_secret: f.secrets[id] ?? '',
      })
    const exchange = async (form: Record<string, string>) =>
      f.token({
        grant_type: EXCHANGE,
        client_id: 'helper',
        client_secret: f.secrets.helper ?? '',
        subject_token: await signHumanToken(idpKey, f.issuer),
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
        ...form,
      })
    const auditOf = async (type: string) =>
      (await f.node.call('GET', `/api/v1/audit/events?type=${type}&limit=500`)).json.items as Array<
        Record<string, unknown> & { details: Record<string, unknown> }
      >

    before(async () => {
      store = kind.create()
      f = await startOAuthFixture(store)
      jwks = createRemoteJWKSet(new URL(`${f.issuer}/.well-known/jwks.json`))
      const res = await f.node.call('PUT', '/api/v1/trusted-issuers/idp', {
        body: { issuer: IDP, type: 'human_idp', jwks: { keys: [idpKey.publicJwk] } },
      })
      assert.ok(res.status < 300, res.text)
      const human = await f.node.call('PUT', '/api/v1/humans/alice@example.com', {
        body: { email: 'alice@example.com', identities: [{ issuer: IDP, subject: IDP_SUBJECT }] },
      })
      assert.ok(human.status < 300, human.text)
      // An agent's ceiling bounds what AuthZEN allows it too: the document actions of the AuthZEN tests are in it.
      for (const agent of ['helper', 'secret-bot']) {
        const patch = await f.node.call('PATCH', `/api/v1/agents/${agent}`, {
          body: { ceiling: ['tickets:read', 'tickets:write', 'authzen:evaluate', 'read', 'open'] },
          headers: { 'content-type': 'application/merge-patch+json' },
        })
        assert.ok(patch.status < 300, patch.text)
      }
      await grantMandate(f.node, 'helper', ['tickets:read', 'tickets:write'])
    })
    after(async () => {
      await f.close()
      await store.drop()
    })

    describe('validation on save', () => {
      it('a policy naming an unknown attribute is refused with Cedar diagnostics located by line and column', async () => {
        const policies = [
          '// tickets',
          '@id("ok")',
          'permit (principal, action, resource);',
          '',
          '@id("needs-department")',
          'permit (principal is agent, action, resource)',
          'when { principal.department == "support" };',
          '',
          '@id("needs-shoe-size")',
          'permit (principal is human, action, resource)',
          'when {   principal.shoe_size > 40 };',
        ].join('\n')
        const res = await f.node.call('PUT', '/api/v1/policies/bad', { body: { policies } })
        assert.equal(res.status, 400)
        assert.equal(res.json.error, 'validation_failed')
        const fields = res.json.fields as Array<{
          path: string
          message: string
          location: { line: number; column: number; policy: string }
          help?: string
        }>
        assert.deepEqual(
          fields.map((e) => [e.path, e.location.policy, e.location.line, e.location.column]),
          [
            ['/policies', 'bad/needs-department', 7, 8],
            ['/policies', 'bad/needs-shoe-size', 11, 10],
          ],
        )
        assert.match(fields[0]?.message ?? '', /attribute `department` on entity type `agent` not found/)
        assert.equal((await f.node.call('GET', '/api/v1/policies/bad')).status, 404, 'nothing is stored')
      })

      it('a policy that does not parse is refused with the location of the error', async () => {
        const res = await f.node.call('PUT', '/api/v1/policies/bad', {
          body: { policies: 'permit (principal, action, resource)\nwhen { 1 + };' },
        })
        assert.equal(res.status, 400)
        assert.deepEqual(res.json.fields[0].location, { line: 2, column: 12 })
      })

      it('@approval and @max_ttl must be well formed and on permits', async () => {
        const res = await f.node.call('PUT', '/api/v1/policies/bad', {
          body: {
            policies:
              '@approval("boss") permit (principal, action, resource);\n@max_ttl("soon") permit (principal, action, resource);\n@max_ttl("60") forbid (principal, action, resource);',
          },
        })
        assert.equal(res.status, 400)
        assert.deepEqual(
          res.json.fields.map((e: { message: string }) => e.message),
          [
            '@approval must be "sponsor", "delegator" or "group:<group id>"',
            '@max_ttl must be a whole number of seconds between 1 and 999999',
            '@max_ttl only applies to permit policies',
          ],
        )
      })

      it('an entity type change that would break an enabled policy is refused; the policy names it', async () => {
        let res = await f.node.call('PUT', '/api/v1/entity-types/doc', {
          body: { attributes: { owner: { type: 'String', required: true } }, actions: ['read'] },
        })
        assert.ok(res.status < 300, res.text)
        res = await f.node.call('PUT', '/api/v1/policies/docs', {
          body: {
            policies:
              '@id("owner") permit (principal, action == Action::"read", resource is doc) when { resource.owner == "alice" };',
          },
        })
        assert.ok(res.status < 300, res.text)
        res = await f.node.call('PUT', '/api/v1/entity-types/doc', {
          body: { attributes: {}, actions: ['read'] },
        })
        assert.equal(res.status, 400)
        assert.match(res.json.fields[0].message, /policy docs\/owner would no longer validate/)
        res = await f.node.call('PUT', '/api/v1/entities/doc:1', { body: { attributes: { owner: 7 } } })
        assert.equal(res.status, 400)
        assert.deepEqual(res.json.fields, [{ path: '/attributes/owner', message: 'must be String' }])
        res = await f.node.call('PUT', '/api/v1/entities/doc:1', { body: { attributes: { owner: 'alice' } } })
        assert.ok(res.status < 300, res.text)
        res = await f.node.call('DELETE', '/api/v1/entity-types/doc')
        assert.equal(res.status, 409)
        assert.match(res.json.error_description, /entities of type doc exist/)
        assert.equal((await f.node.call('DELETE', '/api/v1/policies/docs')).status, 200)
      })
    })

    describe('decisions in the token service', () => {
      it('a forbid beats a permit: the token carries only the allowed scope; nothing allowed is invalid_scope', async () => {
        await setPolicies(
          '@id("all") permit (principal, action, resource);\n@id("no-writes") forbid (principal, action == Action::"tickets:write", resource);',
        )
        const res = await cc('tickets:read tickets:write')
        assert.equal(res.status, 200, JSON.stringify(res.json))
        assert.equal(res.json.scope, 'tickets:read')
        const { payload } = await jwtVerify(String(res.json.access_token), jwks, { audience: RESOURCE })
        assert.equal(payload.scope, 'tickets:read')
        const denied = await cc('tickets:write')
        assert.equal(denied.status, 400)
        assert.equal(denied.json.error, 'invalid_scope')
        assert.match(String(denied.json.error_description), /denied by policy: tickets:write/)
        assert.equal(denied.json.access_token, undefined)
      })

      it("one durable record per token: the issuance's record carries every decision, with its determining policies", async () => {
        await setPolicies(
          '@id("all") permit (principal, action, resource);\n@id("no-writes") forbid (principal, action == Action::"tickets:write", resource);',
        )
        const decisionsBefore = (await auditOf('policy.decision')).length
        const issuedBefore = (await auditOf('token.issue')).length
        assert.equal((await cc('tickets:read tickets:write')).status, 200)
        assert.equal(
          (await auditOf('policy.decision')).length,
          decisionsBefore,
          'no record of its own per decision',
        )
        const issued = (await auditOf('token.issue')).slice(issuedBefore)
        assert.equal(issued.length, 1)
        const record = issued[0]
        assert.equal(record?.mode, 'autonomous')
        assert.deepEqual(record?.actors, [{ kind: 'agent', id: 'secret-bot' }])
        assert.deepEqual(record?.details.decisions, [
          { action: 'tickets:read', decision: 'allow', determining: ['allow-all/all'] },
          { action: 'tickets:write', decision: 'deny', determining: ['allow-all/no-writes'] },
        ])
        assert.deepEqual(record?.details.denied_by_policy, ['tickets:write'])
      })

      it('a token refused by policy is recorded once, its refusal carrying the decisions', async () => {
        await setPolicies('@id("no-writes") forbid (principal, action == Action::"tickets:write", resource);')
        const refusedBefore = (await auditOf('token.refuse')).length
        const decisionsBefore = (await auditOf('policy.decision')).length
        const res = await cc('tickets:write')
        assert.equal(res.json.error, 'invalid_scope')
        assert.equal((await auditOf('policy.decision')).length, decisionsBefore)
        const refused = (await auditOf('token.refuse')).slice(refusedBefore)
        assert.equal(refused.length, 1)
        assert.deepEqual(refused[0]?.details.decisions, [
          { action: 'tickets:write', decision: 'deny', determining: ['allow-all/no-writes'] },
        ])
      })

      it('@max_ttl caps the token lifetime', async () => {
        await setPolicies(
          '@id("short") @max_ttl("60") permit (principal, action == Action::"tickets:read", resource);',
        )
        const res = await cc('tickets:read')
        assert.equal(res.json.expires_in, 60)
        const { payload } = await jwtVerify(String(res.json.access_token), jwks, { audience: RESOURCE })
        assert.equal(Number(payload.exp) - Number(payload.iat), 60)
      })

      it('@approval answers approval_required with a pending approval id, recorded, and no token', async () => {
        await setPolicies(
          '@id("ask") @approval("sponsor") permit (principal, action == Action::"tickets:write", resource);',
        )
        const res = await cc('tickets:write')
        assert.equal(res.status, 403)
        assert.equal(res.json.error, 'approval_required')
        assert.equal(res.json.approver, 'sponsor')
        assert.match(String(res.json.approval_id), /^apr_[A-Za-z0-9_-]{32}$/)
        assert.equal(res.json.access_token, undefined)
        const pending = (await auditOf('approval.pending')).find(
          (r) => r.details.approval_id === res.json.approval_id,
        )
        assert.ok(pending, 'the pending approval is on record')
        assert.equal(pending.action, 'tickets:write')
        // The token's refusal is the one record of the decision that asked for the approval.
        const refused = (await auditOf('token.refuse')).at(-1)
        assert.equal(refused?.details.error, 'approval_required')
        assert.deepEqual(refused?.details.decisions, [
          {
            action: 'tickets:write',
            decision: 'approval_required',
            determining: ['allow-all/ask'],
            obligations: { approval: 'sponsor' },
          },
        ])
      })

      it('a token exchange never yields a scope a policy denied (delegated mode in the context)', async () => {
        await setPolicies(
          '@id("all") permit (principal, action, resource);\n' +
            '@id("no-delegated-writes") forbid (principal, action == Action::"tickets:write", resource) when { context has mode && context.mode == "delegated" };',
        )
        const res = await exchange({ scope: 'tickets:read tickets:write' })
        assert.equal(res.status, 200, JSON.stringify(res.json))
        assert.equal(res.json.scope, 'tickets:read')
        const { payload } = await jwtVerify(String(res.json.access_token), jwks, { audience: RESOURCE })
        assert.equal(payload.scope, 'tickets:read')
        assert.deepEqual(payload.act, { sub: 'helper' })
        const denied = await exchange({ scope: 'tickets:write' })
        assert.equal(denied.json.error, 'invalid_scope')
        // The same scope is fine autonomously: the mode decided it.
        assert.equal((await cc('tickets:write')).json.scope, 'tickets:write')
      })

      it('policies see the delegating human: a permit on the delegator attribute', async () => {
        await setPolicies(
          '@id("alice-only") permit (principal is agent, action, resource) when { context has delegator && context.delegator == human::"alice@example.com" };',
        )
        assert.equal((await exchange({ scope: 'tickets:read' })).status, 200)
        assert.equal((await cc('tickets:read')).json.error, 'invalid_scope', 'autonomous: no delegator')
      })
    })

    describe('transaction tokens (OAuth Transaction Tokens draft)', () => {
      const txn = (form: Record<string, string> = {}) =>
        exchange({
          requested_token_type: TXN,
          audience: f.issuer,
          scope: 'tickets:read',
          request_details: JSON.stringify({ ticket: 'T-1' }),
          request_context: JSON.stringify({ device: 'kiosk-7' }),
          ...form,
        })

      it('a txn_token request yields a txntoken+jwt for exactly the requested action, never refreshable', async () => {
        await setPolicies('@id("all") permit (principal, action, resource);')
        const res = await txn()
        assert.equal(res.status, 200, JSON.stringify(res.json))
        assert.equal(res.json.issued_token_type, TXN)
        assert.equal(res.json.token_type, 'N_A')
        assert.equal(res.json.refresh_token, undefined)
        assert.ok(Number(res.json.expires_in) <= 30)
        const token = String(res.json.access_token)
        assert.equal(decodeProtectedHeader(token).typ, 'txntoken+jwt')
        const { payload } = await jwtVerify(token, jwks, { audience: f.issuer, typ: 'txntoken+jwt' })
        assert.equal(payload.sub, 'alice@example.com')
        assert.equal(payload.scope, 'tickets:read')
        assert.equal(payload.req_wl, 'helper')
        assert.deepEqual(payload.tctx, { ticket: 'T-1' })
        assert.deepEqual(payload.rctx, { device: 'kiosk-7', req_ip: '127.0.0.1' })
        assert.match(String(payload.txn), /^[0-9a-f-]{36}$/)
        assert.ok(Number(payload.exp) - Number(payload.iat) <= 30)
      })

      it('a txn_token request needs exactly one scope and the trust domain as audience', async () => {
        assert.equal((await txn({ scope: 'tickets:read tickets:write' })).json.error, 'invalid_scope')
        assert.equal((await txn({ audience: 'https://elsewhere.example' })).json.error, 'invalid_target')
        assert.equal((await txn({ request_details: '[1]' })).json.error, 'invalid_request')
      })

      it('a transaction token cannot be exchanged to widen it: not for an access token, not for another action', async () => {
        const original = String((await txn()).json.access_token)
        const { payload } = await jwtVerify(original, jwks, { audience: f.issuer, typ: 'txntoken+jwt' })
        const replace = (form: Record<string, string>) =>
          f.token({
            grant_type: EXCHANGE,
            client_id: 'helper',
            client_secret: f.secrets.helper ?? '',
            subject_token: original,
            subject_token_type: TXN,
            audience: f.issuer,
            ...form,
          })
        const asAccess = await replace({
          requested_token_type: ACCESS,
          scope: 'tickets:read',
          resource: RESOURCE,
        })
        assert.equal(asAccess.json.error, 'invalid_request')
        const wider = await replace({ requested_token_type: TXN, scope: 'tickets:write' })
        assert.equal(wider.json.error, 'invalid_scope')
        assert.equal(wider.json.access_token, undefined)
        // Presented as if it were a plain JWT, it is still not an access token.
        const disguised = await exchange({ subject_token: original, scope: 'tickets:read' })
        assert.equal(disguised.json.error, 'invalid_request')
        // Another agent holding it cannot make it its own.
        const stolen = await f.token({
          grant_type: EXCHANGE,
          client_id: 'secret-bot',
          client_secret: f.secrets['secret-bot'] ?? '',
          subject_token: original,
          subject_token_type: TXN,
          audience: f.issuer,
          requested_token_type: TXN,
          scope: 'tickets:read',
        })
        assert.equal(stolen.json.error, 'invalid_request', JSON.stringify(stolen.json))
        assert.equal(stolen.json.access_token, undefined)
        // The same action: a replacement for the same transaction, never outliving the original.
        const same = await replace({ requested_token_type: TXN, scope: 'tickets:read' })
        assert.equal(same.status, 200, JSON.stringify(same.json))
        const replaced = await jwtVerify(String(same.json.access_token), jwks, { audience: f.issuer })
        assert.equal(replaced.payload.txn, payload.txn)
        assert.deepEqual(replaced.payload.tctx, payload.tctx)
        assert.ok(Number(replaced.payload.exp) <= Number(payload.exp))
      })

      it('a txn_token for an action a policy denies is invalid_scope', async () => {
        await setPolicies(
          '@id("no-txn-writes") permit (principal, action == Action::"tickets:read", resource);',
        )
        assert.equal((await txn({ scope: 'tickets:write' })).json.error, 'invalid_scope')
      })
    })

    describe('AuthZEN API', () => {
      let pep: string
      before(async () => {
        pep = await pepKey(f.node)
        for (const [path, body] of [
          [
            '/api/v1/entity-types/doc',
            { attributes: { owner: { type: 'String', required: true } }, actions: ['read'] },
          ],
          ['/api/v1/entities/doc:plan', { attributes: { owner: 'alice' } }],
        ] as const) {
          const res = await f.node.call('PUT', path, { body })
          assert.ok(res.status < 300, res.text)
        }
      })
      const evaluate = (body: unknown, key = pep, headers: Record<string, string> = {}) =>
        fetch(`${f.issuer}/access/v1/evaluation`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
          body: JSON.stringify(body),
        })
      const read = (doc: string) => ({
        subject: { type: 'agent', id: 'secret-bot' },
        action: { name: 'read' },
        resource: { type: 'doc', id: doc },
      })

      it('a decision with an evaluation error is a deny, and the error is reported (even when a forbid errored)', async () => {
        await setPolicies(
          '@id("all") permit (principal, action, resource);\n@id("not-mallory") forbid (principal, action == Action::"read", resource is doc) when { resource.owner == "mallory" };',
        )
        const known = await post(f.node, '/access/v1/evaluation', read('plan'), pep)
        assert.equal(known.json.decision, true)
        // An unknown doc has no owner: the forbid errors. Cedar alone would allow (it skips the failed forbid).
        const unknown = await post(f.node, '/access/v1/evaluation', read('secret'), pep)
        assert.equal(unknown.status, 200)
        assert.equal(unknown.json.decision, false)
        assert.deepEqual(
          unknown.json.context.errors,
          [{ policy: 'allow-all/not-mallory' }],
          'which policy failed, not why',
        )
        assert.equal(unknown.json.context.reason, 'evaluation_error')
        const record = (await auditOf('policy.decision')).find((r) => r.resource === 'doc:secret')
        assert.equal(record?.outcome, 'deny')
        assert.equal(record?.reason, 'evaluation_error')
      })

      it('an ancestor above a referenced parent is in the slice: a forbid on the grandparent fires', async () => {
        for (const [path, body] of [
          ['/api/v1/entity-types/org', { attributes: {} }],
          ['/api/v1/entity-types/folder', { attributes: {}, member_of: ['folder', 'org'] }],
          [
            '/api/v1/entity-types/file',
            {
              attributes: { folder: { type: 'Entity', entity_type: 'folder' } },
              member_of: ['folder'],
              actions: ['open'],
            },
          ],
          ['/api/v1/entities/org:acme', { attributes: {} }],
          ['/api/v1/entities/folder:root', { attributes: {}, parents: ['org:acme'] }],
          ['/api/v1/entities/folder:sub', { attributes: {}, parents: ['folder:root'] }],
          ['/api/v1/entities/file:1', { attributes: { folder: 'folder:sub' }, parents: ['folder:sub'] }],
          ['/api/v1/entities/file:2', { attributes: {}, parents: ['folder:sub'] }],
        ] as const) {
          const res = await f.node.call('PUT', path, { body })
          assert.ok(res.status < 300, `${path}: ${res.text}`)
        }
        await setPolicies(
          '@id("all") permit (principal, action, resource);\n@id("not-acme") forbid (principal, action == Action::"open", resource is file) when { resource in org::"acme" };',
        )
        const open = (id: string) => ({
          subject: { type: 'agent', id: 'secret-bot' },
          action: { name: 'open' },
          resource: { type: 'file', id },
        })
        // file:1 names its folder in an attribute too: its folder's ancestors must still be loaded.
        for (const id of ['1', '2']) {
          const res = await post(f.node, '/access/v1/evaluation', open(id), pep)
          assert.equal(res.json.decision, false, `file:${id}`)
          assert.deepEqual(res.json.context.determining_policies, ['allow-all/not-acme'])
        }
      })

      it('callers cannot set what Mandate decides: model and classification in context, registry attributes in properties', async () => {
        await setPolicies(
          '@id("all") permit (principal, action, resource);\n' +
            '@id("approved-models") forbid (principal is agent, action == Action::"read", resource is doc) unless { context has model_provider && context.model_provider == "approved" };\n' +
            '@id("active") forbid (principal is agent, action == Action::"read", resource is doc) unless { principal.status == "active" };',
        )
        const res = await post(
          f.node,
          '/access/v1/evaluation',
          { ...read('plan'), context: { model_provider: 'approved', classification: 'autonomous', risk: 0 } },
          pep,
        )
        assert.equal(
          res.json.decision,
          false,
          'secret-bot has no registered model: the claimed one is ignored',
        )
        assert.deepEqual(res.json.context.determining_policies, ['allow-all/approved-models'])
        await f.node.call('PATCH', '/api/v1/agents/secret-bot', {
          body: { status: 'suspended' },
          headers: { 'content-type': 'application/merge-patch+json' },
        })
        await setPolicies(
          '@id("active-only") permit (principal is agent, action, resource) when { principal.status == "active" };',
        )
        const claimed = await post(
          f.node,
          '/access/v1/evaluation',
          { ...read('plan'), subject: { type: 'agent', id: 'secret-bot', properties: { status: 'active' } } },
          pep,
        )
        assert.equal(claimed.json.decision, false, 'the registry says suspended')
        await f.node.call('PATCH', '/api/v1/agents/secret-bot', {
          body: { status: 'active' },
          headers: { 'content-type': 'application/merge-patch+json' },
        })
      })

      it('context attributes declared as entities and IP addresses can be sent over AuthZEN as strings', async () => {
        let res = await f.node.call('PUT', '/api/v1/entity-types/doc', {
          body: {
            attributes: { owner: { type: 'String', required: true } },
            actions: ['read'],
            context: { approver: { type: 'Entity', entity_type: 'human' } },
          },
        })
        assert.ok(res.status < 300, res.text)
        await setPolicies(
          '@id("approved") permit (principal, action == Action::"read", resource is doc) when { context has approver && context.approver == human::"alice@example.com" && context has client_ip && context.client_ip.isInRange(ip("10.0.0.0/8")) };',
        )
        const ask = (context: Record<string, unknown>) =>
          post(f.node, '/access/v1/evaluation', { ...read('plan'), context }, pep)
        assert.equal(
          (await ask({ approver: 'human:alice@example.com', client_ip: '10.1.2.3' })).json.decision,
          true,
        )
        assert.equal(
          (await ask({ approver: 'alice@example.com', client_ip: '::ffff:10.1.2.3' })).json.decision,
          true,
          'a bare id names the declared type',
        )
        const bob = await f.node.call('PUT', '/api/v1/humans/bob@example.com', { body: {} })
        assert.ok(bob.status < 300, bob.text)
        assert.equal(
          (await ask({ approver: 'human:bob@example.com', client_ip: '10.1.2.3' })).json.decision,
          false,
        )
        assert.equal(
          (await ask({ approver: 'human:alice@example.com', client_ip: '192.168.1.1' })).json.decision,
          false,
        )
        const bad = await ask({ approver: 'human:alice@example.com', client_ip: 'nowhere' })
        assert.equal(bad.status, 400)
        res = await f.node.call('PUT', '/api/v1/entity-types/doc', {
          body: { attributes: { owner: { type: 'String', required: true } }, actions: ['read'] },
        })
        assert.equal(res.status, 400, 'the policy still reads context.approver')
        await setPolicies('@id("all") permit (principal, action, resource);')
        res = await f.node.call('PUT', '/api/v1/entity-types/doc', {
          body: { attributes: { owner: { type: 'String', required: true } }, actions: ['read'] },
        })
        assert.ok(res.status < 300, res.text)
      })

      it('AuthZEN §6: missing required fields are 400, unknown fields ignored, X-Request-ID echoed', async () => {
        const missing = await evaluate({
          subject: { type: 'agent', id: 'secret-bot' },
          action: { name: 'read' },
        })
        assert.equal(missing.status, 400)
        const body = (await missing.json()) as { fields: Array<{ path: string }> }
        assert.ok(body.fields.some((e) => e.path.includes('resource')))
        const extra = await evaluate(
          { ...read('plan'), colour: 'blue', subject: { type: 'agent', id: 'secret-bot', x: 1 } },
          pep,
          {
            'x-request-id': 'req-42',
          },
        )
        assert.equal(extra.status, 200)
        assert.equal(extra.headers.get('x-request-id'), 'req-42')
        assert.equal(((await extra.json()) as { decision: boolean }).decision, true)
        const fraction = await evaluate({ ...read('plan'), context: { amount: 1.5 } })
        assert.equal(fraction.status, 400, 'Cedar has no fractions: the caller is told')
      })

      it('evaluations: per-item errors are denies with context.error; the short-circuit semantics stop in order', async () => {
        await setPolicies(
          '@id("all") permit (principal, action, resource);\n@id("not-mallory") forbid (principal, action == Action::"read", resource is doc) when { resource.owner == "mallory" };',
        )
        const batch = (semantic: string) =>
          post(
            f.node,
            '/access/v1/evaluations',
            {
              subject: { type: 'agent', id: 'secret-bot' },
              action: { name: 'read' },
              options: { evaluations_semantic: semantic },
              evaluations: [
                { resource: { type: 'doc', id: 'plan' } },
                { resource: { type: 'doc' } },
                { resource: { type: 'doc', id: 'secret' } },
                { resource: { type: 'doc', id: 'plan' } },
              ],
            },
            pep,
          )
        const all = await batch('execute_all')
        assert.deepEqual(
          all.json.evaluations.map((e: { decision: boolean }) => e.decision),
          [true, false, false, true],
        )
        assert.equal(all.json.evaluations[1].context.error.status, 400)
        assert.deepEqual(
          (await batch('deny_on_first_deny')).json.evaluations.map((e: { decision: boolean }) => e.decision),
          [true, false],
        )
        assert.deepEqual(
          (await batch('permit_on_first_permit')).json.evaluations.map(
            (e: { decision: boolean }) => e.decision,
          ),
          [true],
        )
      })

      it("evaluations: an item Cedar cannot hold is that item's error; an empty list is a single evaluation", async () => {
        await setPolicies(
          '@id("all") permit (principal, action, resource);\n@id("not-mallory") forbid (principal, action == Action::"read", resource is doc) when { resource.owner == "mallory" };',
        )
        const mixed = await post(
          f.node,
          '/access/v1/evaluations',
          { ...read('plan'), evaluations: [{}, { context: { amount: 1.5 } }, {}] },
          pep,
        )
        assert.equal(mixed.status, 200, JSON.stringify(mixed.json))
        assert.deepEqual(
          mixed.json.evaluations.map((e: { decision: boolean }) => e.decision),
          [true, false, true],
        )
        assert.equal(mixed.json.evaluations[1].context.error.status, 400)
        const single = await post(f.node, '/access/v1/evaluations', { ...read('plan'), evaluations: [] }, pep)
        assert.deepEqual(single.json.decision, true)
      })

      it('PEPs must authenticate: no credentials is 401 with challenges; a pep key cannot use the admin API', async () => {
        const none = await fetch(`${f.issuer}/access/v1/evaluation`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(read('plan')),
        })
        assert.equal(none.status, 401)
        assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer realm="mandate"/)
        const admin = await f.node.call('GET', '/api/v1/agents', { token: pep })
        assert.equal(admin.status, 403)
      })

      it('a Mandate access token for <issuer>/access/v1 authenticates a PEP; DPoP-bound presented as Bearer is refused', async () => {
        const res = await f.node.call('PUT', '/api/v1/resource-servers/pdp', {
          body: { audience: `${f.issuer}/access/v1`, scopes: ['authzen:evaluate'] },
        })
        assert.ok(res.status < 300, res.text)
        const token = await f.token({
          grant_type: 'client_credentials',
          scope: 'authzen:evaluate',
          resource: `${f.issuer}/access/v1`,
          client_id: 'secret-bot',
          client_secret: f.secrets['secret-bot'] ?? '',
        })
        assert.equal(token.status, 200, JSON.stringify(token.json))
        const ok = await evaluate(read('plan'), String(token.json.access_token))
        assert.equal(ok.status, 200)
        const decided = (await auditOf('policy.decision')).at(-1)
        assert.deepEqual(decided?.actors, [{ kind: 'agent', id: 'secret-bot' }])
        // A token for another audience is no key to the PDP.
        const other = await cc('tickets:read')
        assert.equal((await evaluate(read('plan'), String(other.json.access_token))).status, 401)
      })
    })
  })
}
