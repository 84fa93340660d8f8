// Issue 8: the gates that policies cannot loosen (an agent's lifecycle, its sponsor's, every ancestor's, and its
// ceiling) run before any policy on every path: the token endpoint, AuthZEN evaluation and evaluations, the three
// searches and explanations. Entities a context names are loaded from the registry, callers never set Mandate's own
// attributes wherever an entity is placed, and decisions record the mode and delegator they were made on.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'
import { pepKey, post } from './authzen-fixture.ts'

const RISK = 'https://risk.example.com/'
const SCHEDULING = 'https://scheduling.example.com/'
const ALLOW_ALL = '@id("all") permit (principal, action, resource);'

type Audit = Record<string, unknown> & { details: Record<string, unknown>; subjects: string[] }

// Agents that may not act, and why the audit record says so.
const BLOCKED = [
  { agent: 'invoice-bot', cause: 'suspended', why: 'suspended when its sponsor was deactivated' },
  { agent: 'retired-bot', cause: 'retired', why: 'retired' },
  { agent: 'expired-bot', cause: 'expired', why: 'expired' },
  { agent: 'sub-bot', cause: 'suspended', why: 'whose parent agent was suspended' },
  { agent: 'old-sub', cause: 'parent_inactive', why: 'active itself, whose parent agent has expired' },
  {
    agent: 'old-subsub',
    cause: 'parent_inactive',
    why: 'active itself, whose grandparent agent has expired',
  },
] as const

for (const kind of storeKinds) {
  describe(`issue 8: gates before policies on every path (${kind.name})`, () => {
    let store: TestStore
    let node: TestNode
    let pep: string
    const secrets: Record<string, string> = {}

    const put = async (path: string, body: Record<string, unknown>) => {
      const res = await node.call('PUT', path, { body })
      assert.ok(res.status < 300, `${path}: ${res.text}`)
      return res.json
    }
    const patch = async (path: string, body: Record<string, unknown>) => {
      const res = await node.call('PATCH', path, {
        body,
        headers: { 'content-type': 'application/merge-patch+json' },
      })
      assert.ok(res.status < 300, `${path}: ${res.text}`)
    }
    const agent = async (id: string, doc: Record<string, unknown>) => {
      const created = await put(`/api/v1/agents/${id}`, {
        sponsor: 'alice@example.com',
        classification: 'autonomous',
        credentials: [{ type: 'client_secret' }],
        ...doc,
      })
      secrets[id] = created.issued_secrets[0].client_secret
    }
    const setPolicies = (text: string) => put('/api/v1/policies/gates', { policies: text })
    const token = async (id: string, form: Record<string, string>) => {
      const res = await fetch(`${node.node.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: id,
          client_secret: secrets[id] ?? '',
          ...form,
        }),
      })
      return { status: res.status, json: (await res.json()) as Record<string, unknown> }
    }
    const ask = (subject: string, action: string, resource: [string, string], context?: object) => ({
      subject: { type: 'agent', id: subject },
      action: { name: action },
      resource: { type: resource[0], id: resource[1] },
      ...(context ? { context } : {}),
    })
    const evaluate = (body: unknown) => post(node, '/access/v1/evaluation', body, pep)
    const explain = (body: unknown) => node.call('POST', '/api/v1/decisions/explain', { body })
    const audit = async (query: string): Promise<Audit[]> =>
      (await node.call('GET', `/api/v1/audit/events?${query}&limit=1000`)).json.items
    const lastDecision = async (principal: string) =>
      (await audit(`type=policy.decision&principal=${encodeURIComponent(principal)}`)).at(-1)

    before(async () => {
      store = kind.create()
      node = await startTestNode(store)
      pep = await pepKey(node)
      await put('/api/v1/resource-servers/risk', {
        audience: RISK,
        scopes: ['payments:read', 'cases:write'],
        authorization_details_types: ['payment_initiation'],
      })
      await put('/api/v1/resource-servers/scheduling', { audience: SCHEDULING, scopes: ['schedule:write'] })
      for (const human of ['alice', 'bob', 'carol', 'dave'])
        await put(`/api/v1/humans/${human}@example.com`, human === 'dave' ? { status: 'inactive' } : {})
      await put('/api/v1/entity-types/doc', { actions: ['read', 'archive'] })
      await put('/api/v1/entities/doc:plan', {})
      // Entity types named like Mandate's own add actions (and may add attributes) to humans and agents.
      await put('/api/v1/entity-types/human', { actions: ['view'] })
      await put('/api/v1/entity-types/agent', { actions: ['inspect'] })
      await setPolicies(ALLOW_ALL)

      await agent('active-bot', {
        ceiling: [
          'payments:read',
          { action: 'cases:write', resources: [`${RISK}*`] },
          'payment_initiation',
          'read',
          { action: 'archive', resources: ['*'] },
          'view',
        ],
      })
      await agent('invoice-bot', { sponsor: 'bob@example.com', ceiling: ['payments:read', 'read'] })
      await agent('retired-bot', { ceiling: ['payments:read', 'read'] })
      assert.equal((await node.call('DELETE', '/api/v1/agents/retired-bot')).status, 200)
      await agent('expired-bot', { ceiling: ['payments:read', 'read'], expires_at: '2020-01-01T00:00:00Z' })
      await agent('care-assistant', {
        classification: 'blended',
        ceiling: ['payments:read', 'schedule:write', 'read', 'inspect'],
      })
      await agent('care-scheduler', { parent: 'care-assistant', ceiling: ['schedule:write', 'inspect'] })
      await agent('lead-bot', { ceiling: ['payments:read', 'read'] })
      await agent('sub-bot', { parent: 'lead-bot', ceiling: ['payments:read', 'read'] })
      await patch('/api/v1/agents/lead-bot', { status: 'suspended' })
      await agent('old-lead', { ceiling: ['payments:read', 'read'] })
      await agent('old-sub', { parent: 'old-lead', ceiling: ['payments:read', 'read'] })
      await agent('old-subsub', { parent: 'old-sub', ceiling: ['payments:read', 'read'] })
      // Expiry is a moment, not a change: nothing cascades, the sub-agent stays active and the gate walks up to it.
      await patch('/api/v1/agents/old-lead', { expires_at: '2020-01-01T00:00:00Z' })
      await patch('/api/v1/humans/bob@example.com', { status: 'inactive' })
    })
    after(async () => {
      await node.close()
      await store.drop()
    })

    describe('lifecycle: suspended, retired, expired agents and sub-agents of inactive agents', () => {
      it('the registry is as the cases say: the sub-agent of the expired agent is active itself', async () => {
        const status = async (id: string) => (await node.call('GET', `/api/v1/agents/${id}`)).json.status
        assert.equal(await status('invoice-bot'), 'suspended')
        assert.equal(await status('sub-bot'), 'suspended')
        assert.equal(await status('old-sub'), 'active')
        assert.equal(await status('old-subsub'), 'active')
      })

      for (const { agent: id, cause, why } of BLOCKED) {
        it(`issue 8: POST /access/v1/evaluation denies ${id} (${why}) with agent_inactive; the record keeps the cause`, async () => {
          const res = await evaluate(
            ask(id, 'payments:read', ['resource_server', 'risk'], { mode: 'autonomous' }),
          )
          assert.equal(res.status, 200, JSON.stringify(res.json))
          assert.deepEqual(res.json, {
            decision: false,
            context: { determining_policies: [], reason: 'agent_inactive' },
          })
          const record = await lastDecision(`agent:${id}`)
          assert.equal(record?.outcome, 'deny')
          assert.equal(record?.reason, 'agent_inactive')
          assert.equal(record?.details.cause, cause)
          assert.equal(record?.details.source, 'authzen')
        })
      }

      it('issue 8: a suspended workload is workload_inactive; an agent the registry does not know is agent_inactive', async () => {
        await put('/api/v1/workloads/batch-job', { ceiling: ['payments:read'], status: 'suspended' })
        const workload = await evaluate({
          ...ask('batch-job', 'payments:read', ['resource_server', 'risk']),
          subject: { type: 'workload', id: 'batch-job' },
        })
        assert.deepEqual(workload.json.context, { determining_policies: [], reason: 'workload_inactive' })
        assert.equal((await lastDecision('workload:batch-job'))?.details.cause, 'suspended')
        const ghost = await evaluate(ask('ghost-bot', 'payments:read', ['resource_server', 'risk']))
        assert.deepEqual(ghost.json.context, { determining_policies: [], reason: 'agent_inactive' })
        assert.equal((await lastDecision('agent:ghost-bot'))?.details.cause, 'unregistered')
      })

      it('issue 8: POST /access/v1/evaluations denies each blocked agent in a batch and decides the others', async () => {
        const res = await post(
          node,
          '/access/v1/evaluations',
          {
            action: { name: 'payments:read' },
            resource: { type: 'resource_server', id: 'risk' },
            evaluations: [...BLOCKED.map((b) => b.agent), 'active-bot'].map((id) => ({
              subject: { type: 'agent', id },
            })),
          },
          pep,
        )
        assert.equal(res.status, 200, JSON.stringify(res.json))
        assert.deepEqual(
          res.json.evaluations.map((e: { decision: boolean; context: { reason?: string } }) => [
            e.decision,
            e.context.reason,
          ]),
          [...BLOCKED.map(() => [false, 'agent_inactive']), [true, undefined]],
        )
      })

      it('issue 8: POST /access/v1/search/subject leaves out agents that may not act', async () => {
        const res = await post(
          node,
          '/access/v1/search/subject',
          {
            subject: { type: 'agent' },
            action: { name: 'payments:read' },
            resource: { type: 'resource_server', id: 'risk' },
          },
          pep,
        )
        assert.equal(res.status, 200, JSON.stringify(res.json))
        assert.deepEqual(
          res.json.results.map((r: { id: string }) => r.id),
          ['active-bot', 'care-assistant'],
        )
      })

      it('issue 8: POST /access/v1/search/resource and /search/action find nothing for an agent that may not act', async () => {
        for (const { agent: id } of BLOCKED) {
          const resources = await post(
            node,
            '/access/v1/search/resource',
            { subject: { type: 'agent', id }, action: { name: 'read' }, resource: { type: 'doc' } },
            pep,
          )
          assert.deepEqual(resources.json.results, [], id)
          const actions = await post(
            node,
            '/access/v1/search/action',
            { subject: { type: 'agent', id }, resource: { type: 'resource_server', id: 'risk' } },
            pep,
          )
          assert.deepEqual(actions.json.results, [], id)
        }
        const found = await post(
          node,
          '/access/v1/search/resource',
          {
            subject: { type: 'agent', id: 'active-bot' },
            action: { name: 'read' },
            resource: { type: 'doc' },
          },
          pep,
        )
        assert.deepEqual(found.json.results, [{ type: 'doc', id: 'plan' }])
      })

      it('issue 8: POST /api/v1/decisions/explain shows the gate that stopped each blocked agent', async () => {
        for (const { agent: id, cause } of BLOCKED) {
          const res = await explain({
            principal: { type: 'agent', id },
            action: 'payments:read',
            resource: { type: 'resource_server', id: 'risk' },
            mode: 'autonomous',
          })
          assert.equal(res.status, 200, res.text)
          assert.equal(res.json.decision, 'deny')
          assert.deepEqual(res.json.policies, [])
          assert.equal(res.json.gate.reason, 'agent_inactive')
          assert.equal(res.json.gate.cause, cause)
        }
        const old = await explain({
          principal: { type: 'agent', id: 'old-sub' },
          action: 'payments:read',
          resource: { type: 'resource_server', id: 'risk' },
        })
        assert.equal(old.json.gate.message, 'parent agent old-lead has expired')
        const record = (await audit('type=policy.explain&principal=agent:old-sub')).at(-1)
        assert.equal(record?.reason, 'agent_inactive')
        assert.equal(record?.details.cause, 'parent_inactive')
        assert.equal(record?.details.explanation, 'parent agent old-lead has expired')
        const older = await explain({
          principal: { type: 'agent', id: 'old-subsub' },
          action: 'payments:read',
          resource: { type: 'resource_server', id: 'risk' },
        })
        assert.equal(older.json.gate.message, 'ancestor agent old-lead has expired')
      })

      it('issue 8: the token endpoint refuses each blocked agent with invalid_client, the sub-agent of an expired agent too', async () => {
        for (const { agent: id } of BLOCKED) {
          const res = await token(id, { scope: 'payments:read', resource: RISK })
          assert.equal(res.status, 401, `${id}: ${JSON.stringify(res.json)}`)
          assert.equal(res.json.error, 'invalid_client')
        }
        const old = await token('old-sub', { scope: 'payments:read', resource: RISK })
        assert.match(String(old.json.error_description), /parent agent old-lead has expired/)
        // Introspection authenticates its caller the same way.
        const introspect = await fetch(`${node.node.url}/oauth/introspect`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            token: 'x',
            client_id: 'old-sub',
            client_secret: secrets['old-sub'] ?? '',
          }),
        })
        assert.equal(introspect.status, 401)
        assert.equal(((await introspect.json()) as { error: string }).error, 'invalid_client')
        assert.equal((await token('active-bot', { scope: 'payments:read', resource: RISK })).status, 200)
      })
    })

    describe('ceiling: what an agent may ever do bounds every answer', () => {
      it('issue 8: POST /access/v1/evaluation denies an action beyond the ceiling with beyond_ceiling', async () => {
        const res = await evaluate(ask('care-scheduler', 'payments:read', ['resource_server', 'risk']))
        assert.deepEqual(res.json, {
          decision: false,
          context: { determining_policies: [], reason: 'beyond_ceiling' },
        })
        const record = await lastDecision('agent:care-scheduler')
        assert.equal(record?.reason, 'beyond_ceiling')
        assert.equal(
          (await evaluate(ask('care-scheduler', 'schedule:write', ['resource_server', 'scheduling']))).json
            .decision,
          true,
        )
      })

      it('issue 8: resource patterns match a resource server audience; elsewhere only entries without patterns count', async () => {
        const decide = async (action: string, resource: [string, string]) =>
          (await evaluate(ask('active-bot', action, resource))).json
        assert.equal((await decide('cases:write', ['resource_server', 'risk'])).decision, true)
        assert.equal((await decide('read', ['doc', 'plan'])).decision, true)
        assert.equal((await decide('archive', ['doc', 'plan'])).context.reason, 'beyond_ceiling')
      })

      it('issue 8: an authorization_details type beyond the ceiling is denied on AuthZEN and invalid_authorization_details at the token endpoint', async () => {
        const res = await evaluate(ask('care-assistant', 'payment_initiation', ['resource_server', 'risk']))
        assert.equal(res.json.context.reason, 'beyond_ceiling')
        const refused = await token('care-assistant', {
          resource: RISK,
          authorization_details: '[{"type":"payment_initiation"}]',
        })
        assert.equal(refused.status, 400)
        assert.equal(refused.json.error, 'invalid_authorization_details')
        assert.match(String(refused.json.error_description), /beyond the ceiling of care-assistant/)
        const ok = await token('active-bot', {
          resource: RISK,
          authorization_details: '[{"type":"payment_initiation"}]',
        })
        assert.equal(ok.status, 200, JSON.stringify(ok.json))
      })

      it("issue 8: an action the resource server does not offer is unknown_action, whatever the agent's ceiling", async () => {
        const res = await evaluate(ask('care-assistant', 'schedule:write', ['resource_server', 'risk']))
        assert.deepEqual(res.json.context, { determining_policies: [], reason: 'unknown_action' })
        const nowhere = await evaluate(ask('active-bot', 'payments:read', ['resource_server', 'nowhere']))
        assert.equal(nowhere.json.context.reason, 'unknown_action')
        // The gate is about the resource, not the principal: a human asking gets the same answer.
        const human = await evaluate({
          ...ask('x', 'schedule:write', ['resource_server', 'risk']),
          subject: { type: 'human', id: 'carol@example.com' },
        })
        assert.equal(human.json.context.reason, 'unknown_action')
      })

      it('issue 8: POST /access/v1/evaluations answers beyond_ceiling per item', async () => {
        const res = await post(
          node,
          '/access/v1/evaluations',
          {
            subject: { type: 'agent', id: 'care-scheduler' },
            evaluations: [
              { action: { name: 'payments:read' }, resource: { type: 'resource_server', id: 'risk' } },
              { action: { name: 'schedule:write' }, resource: { type: 'resource_server', id: 'scheduling' } },
            ],
          },
          pep,
        )
        assert.deepEqual(
          res.json.evaluations.map((e: { decision: boolean; context: { reason?: string } }) => [
            e.decision,
            e.context.reason,
          ]),
          [
            [false, 'beyond_ceiling'],
            [true, undefined],
          ],
        )
      })

      it('issue 8: POST /access/v1/search/subject leaves out agents whose ceiling lacks the action', async () => {
        const res = await post(
          node,
          '/access/v1/search/subject',
          {
            subject: { type: 'agent' },
            action: { name: 'schedule:write' },
            resource: { type: 'resource_server', id: 'scheduling' },
          },
          pep,
        )
        assert.deepEqual(
          res.json.results.map((r: { id: string }) => r.id),
          ['care-assistant', 'care-scheduler'],
        )
      })

      it('issue 8: POST /access/v1/search/resource finds only resources the ceiling allows the action on', async () => {
        const search = async (id: string, action: string) =>
          (
            await post(
              node,
              '/access/v1/search/resource',
              {
                subject: { type: 'agent', id },
                action: { name: action },
                resource: { type: 'resource_server' },
              },
              pep,
            )
          ).json.results
        assert.deepEqual(await search('care-scheduler', 'payments:read'), [])
        assert.deepEqual(await search('care-scheduler', 'schedule:write'), [
          { type: 'resource_server', id: 'scheduling' },
        ])
      })

      it("issue 8: POST /access/v1/search/action lists the resource server's own actions within the ceiling only", async () => {
        const actions = async (id: string, server: string) =>
          (
            await post(
              node,
              '/access/v1/search/action',
              { subject: { type: 'agent', id }, resource: { type: 'resource_server', id: server } },
              pep,
            )
          ).json.results.map((r: { name: string }) => r.name)
        assert.deepEqual(await actions('active-bot', 'risk'), [
          'cases:write',
          'payment_initiation',
          'payments:read',
        ])
        assert.deepEqual(await actions('care-scheduler', 'risk'), [])
        // payments:read is within the care assistant's ceiling, but the scheduling server does not offer it.
        assert.deepEqual(await actions('care-assistant', 'scheduling'), ['schedule:write'])
        assert.deepEqual(await actions('active-bot', 'scheduling'), [])
      })

      it('issue 8: POST /api/v1/decisions/explain shows beyond_ceiling; the token endpoint answers invalid_scope', async () => {
        const res = await explain({
          principal: { type: 'agent', id: 'care-scheduler' },
          action: 'payments:read',
          resource: { type: 'resource_server', id: 'risk' },
          mode: 'autonomous',
        })
        assert.equal(res.json.decision, 'deny')
        assert.deepEqual(res.json.gate, {
          reason: 'beyond_ceiling',
          cause: 'beyond_ceiling',
          message: 'payments:read is beyond the ceiling of agent care-scheduler',
        })
        const refused = await token('care-scheduler', { scope: 'payments:read', resource: RISK })
        assert.equal(refused.json.error, 'invalid_scope')
        assert.match(String(refused.json.error_description), /beyond the ceiling of care-scheduler/)
      })
    })

    describe('the delegator is an entity from the registry', () => {
      const DELEGATED =
        '@id("for-an-active-human") permit (principal is agent, action, resource) when { context has delegator && context.delegator.status == "active" };'

      it('issue 8: context.delegator naming a registered human who is not the sponsor is loaded (AuthZEN)', async () => {
        await setPolicies(DELEGATED)
        for (const delegator of ['carol@example.com', 'human:carol@example.com']) {
          const res = await evaluate(
            ask('active-bot', 'payments:read', ['resource_server', 'risk'], { mode: 'delegated', delegator }),
          )
          assert.deepEqual(res.json, {
            decision: true,
            context: { determining_policies: ['gates/for-an-active-human'] },
          })
        }
        // The sponsor is Mandate's to set: a caller's, whatever its shape, is dropped unread (no 400, no lookup).
        for (const sponsor of [42, 'zed@example.com']) {
          const res = await evaluate(
            ask('active-bot', 'payments:read', ['resource_server', 'risk'], {
              delegator: 'carol@example.com',
              sponsor,
            }),
          )
          assert.equal(res.status, 200, JSON.stringify(res.json))
          assert.equal(res.json.decision, true)
        }
        const inactive = await evaluate(
          ask('active-bot', 'payments:read', ['resource_server', 'risk'], { delegator: 'dave@example.com' }),
        )
        assert.deepEqual(inactive.json, { decision: false, context: { determining_policies: [] } })
      })

      it('issue 8: a delegator the registry does not know is a 400 naming the field, per item in a batch', async () => {
        await setPolicies(DELEGATED)
        const unknown = await evaluate(
          ask('active-bot', 'payments:read', ['resource_server', 'risk'], { delegator: 'zed@example.com' }),
        )
        assert.equal(unknown.status, 400)
        assert.equal(unknown.json.fields[0].path, '/context/delegator')
        assert.match(unknown.json.fields[0].message, /names no registered human \(zed@example\.com\)/)
        const batch = await post(
          node,
          '/access/v1/evaluations',
          {
            ...ask('active-bot', 'payments:read', ['resource_server', 'risk']),
            evaluations: [
              { context: { delegator: 'zed@example.com' } },
              { context: { delegator: 'carol@example.com' } },
            ],
          },
          pep,
        )
        assert.equal(batch.status, 200)
        assert.equal(batch.json.evaluations[0].context.error.status, 400)
        assert.match(
          batch.json.evaluations[0].context.error.message,
          /context\.delegator names no registered human/,
        )
        assert.equal(batch.json.evaluations[1].decision, true)
        const search = await post(
          node,
          '/access/v1/search/subject',
          {
            subject: { type: 'agent' },
            action: { name: 'payments:read' },
            resource: { type: 'resource_server', id: 'risk' },
            context: { delegator: 'zed@example.com' },
          },
          pep,
        )
        assert.equal(search.status, 400)
        const notAName = await evaluate(
          ask('active-bot', 'payments:read', ['resource_server', 'risk'], {
            delegator: { id: 'carol@example.com' },
          }),
        )
        assert.equal(notAName.status, 400)
        assert.equal(notAName.json.fields[0].path, '/context/delegator')
      })

      it('issue 8: explain loads the delegator given as --delegator or in the context; an unknown one is a 400', async () => {
        await setPolicies(DELEGATED)
        const base = {
          principal: { type: 'agent', id: 'active-bot' },
          action: 'payments:read',
          resource: { type: 'resource_server', id: 'risk' },
        }
        assert.equal(
          (await explain({ ...base, mode: 'delegated', delegator: 'carol@example.com' })).json.decision,
          'allow',
        )
        assert.equal(
          (await explain({ ...base, context: { delegator: 'carol@example.com' } })).json.decision,
          'allow',
        )
        const unknown = await explain({ ...base, mode: 'delegated', delegator: 'zed@example.com' })
        assert.equal(unknown.status, 400)
        assert.equal(unknown.json.fields[0].path, '/delegator')
        const unknownInContext = await explain({ ...base, context: { delegator: 'zed@example.com' } })
        assert.equal(unknownInContext.status, 400)
        assert.equal(unknownInContext.json.fields[0].path, '/context/delegator')
      })
    })

    describe('audit records carry the mode and delegator decided on', () => {
      it('issue 8: an AuthZEN decision records context.mode and the delegator (found by the delegator too)', async () => {
        await setPolicies(ALLOW_ALL)
        await evaluate(
          ask('active-bot', 'payments:read', ['resource_server', 'risk'], {
            mode: 'delegated',
            delegator: 'carol@example.com',
          }),
        )
        const record = (await audit('type=policy.decision&principal=human:carol@example.com')).at(-1)
        assert.equal(record?.mode, 'delegated')
        assert.equal(record?.details.delegator, 'carol@example.com')
        assert.ok(record?.subjects.includes('agent:active-bot'))

        await evaluate(
          ask('active-bot', 'payments:read', ['resource_server', 'risk'], { mode: 'autonomous' }),
        )
        assert.equal((await lastDecision('agent:active-bot'))?.mode, 'autonomous')
        // Without a mode, or with one Mandate does not know, the record says none.
        for (const context of [undefined, { mode: 'sideways' }]) {
          await evaluate(ask('active-bot', 'payments:read', ['resource_server', 'risk'], context))
          const plain = await lastDecision('agent:active-bot')
          assert.equal(plain?.mode, null)
          assert.equal(plain?.details.delegator, undefined)
        }
      })

      it('issue 8: batches, searches and explanations record the mode and delegator too', async () => {
        await setPolicies(ALLOW_ALL)
        const context = { mode: 'delegated', delegator: 'carol@example.com' }
        await post(
          node,
          '/access/v1/evaluations',
          { ...ask('active-bot', 'read', ['doc', 'plan'], context), evaluations: [{}] },
          pep,
        )
        await post(
          node,
          '/access/v1/search/resource',
          {
            subject: { type: 'agent', id: 'active-bot' },
            action: { name: 'read' },
            resource: { type: 'doc' },
            context,
          },
          pep,
        )
        await explain({
          principal: { type: 'agent', id: 'active-bot' },
          action: 'read',
          resource: { type: 'doc', id: 'plan' },
          context,
        })
        for (const type of ['policy.decision', 'policy.search', 'policy.explain']) {
          const record = (await audit(`type=${type}&principal=human:carol@example.com`)).at(-1)
          assert.equal(record?.mode, 'delegated', type)
          assert.equal(record?.details.delegator, 'carol@example.com', type)
        }
      })
    })

    describe("callers never set Mandate's attributes, wherever the entity is placed", () => {
      const view = (subject: Record<string, unknown>, resource: Record<string, unknown>) => ({
        subject,
        action: { name: 'view' },
        resource: { type: 'human', ...resource },
      })

      it('issue 8: subject = resource: status in the resource properties of an unregistered human is ignored', async () => {
        await setPolicies(
          '@id("active") permit (principal is human, action == Action::"view", resource is human) when { principal.status == "active" };',
        )
        const ghost = { type: 'human', id: 'ghost' }
        const res = await evaluate(view(ghost, { id: 'ghost', properties: { status: 'active' } }))
        assert.equal(res.json.decision, false)
        assert.equal(res.json.context.reason, 'evaluation_error', 'the ghost has no status at all')
        const asSubject = await evaluate(
          view({ ...ghost, properties: { status: 'active' } }, { id: 'ghost' }),
        )
        assert.equal(asSubject.json.decision, false)
      })

      it("issue 8: subject = resource: an optional attribute the registry lacks (a human's name) cannot be added", async () => {
        await setPolicies(
          '@id("mallory") permit (principal is human, action == Action::"view", resource is human) when { resource has name && resource.name == "Mallory" };',
        )
        const carol = { type: 'human', id: 'carol@example.com' }
        const res = await evaluate(view(carol, { id: 'carol@example.com', properties: { name: 'Mallory' } }))
        assert.equal(res.json.decision, false)
      })

      it("issue 8: a referenced entity placed as the resource (the agent's sponsor) keeps the registry's attributes", async () => {
        await setPolicies(
          '@id("mallory") permit (principal is agent, action == Action::"view", resource is human) when { resource has name && resource.name == "Mallory" };',
        )
        const res = await evaluate(
          view(
            { type: 'agent', id: 'active-bot' },
            { id: 'alice@example.com', properties: { name: 'Mallory' } },
          ),
        )
        assert.equal(res.json.decision, false)
      })

      it("issue 8: a parent placed as the resource keeps the registry's attributes (model_provider)", async () => {
        await setPolicies(
          '@id("approved-parent") permit (principal is agent, action == Action::"inspect", resource is agent) when { principal in resource && resource has model_provider && resource.model_provider == "approved" };',
        )
        const res = await evaluate({
          subject: { type: 'agent', id: 'care-scheduler' },
          action: { name: 'inspect' },
          resource: { type: 'agent', id: 'care-assistant', properties: { model_provider: 'approved' } },
        })
        assert.equal(res.status, 200, JSON.stringify(res.json))
        assert.equal(res.json.decision, false)
        // The same resource placed first (a human asking) is filtered as before.
        const first = await evaluate({
          subject: { type: 'human', id: 'carol@example.com' },
          action: { name: 'inspect' },
          resource: { type: 'agent', id: 'care-assistant', properties: { model_provider: 'approved' } },
        })
        assert.equal(first.json.decision, false)
      })

      it("issue 8: the principal placed first keeps the registry's attributes (model_provider, status)", async () => {
        await setPolicies(
          '@id("approved") permit (principal is agent, action == Action::"inspect", resource is agent) when { principal has model_provider && principal.model_provider == "approved" };',
        )
        const res = await evaluate({
          subject: {
            type: 'agent',
            id: 'care-scheduler',
            properties: { model_provider: 'approved', status: 'active' },
          },
          action: { name: 'inspect' },
          resource: { type: 'agent', id: 'care-assistant' },
        })
        assert.equal(res.json.decision, false)
        await setPolicies(ALLOW_ALL)
        assert.equal(
          (
            await evaluate({
              subject: { type: 'agent', id: 'care-scheduler' },
              action: { name: 'inspect' },
              resource: { type: 'agent', id: 'care-assistant' },
            })
          ).json.decision,
          true,
          'the policies, not the filter, decide the control case',
        )
      })
    })
  })
}
