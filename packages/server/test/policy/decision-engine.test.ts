// The decision point's engine: the compiled evaluator decides over the registry's entities held in memory (no slice,
// no JSON), a registry change is seen by the very next decision, cedar-wasm (MANDATE_POLICY_ENGINE=cedar-wasm) decides
// the same, and a policy set the compiler does not handle is evaluated by cedar-wasm with the construct reported.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AuditBatcher } from '../../src/audit/audit-batcher.ts'
import { Metrics } from '../../src/http/metrics.ts'
import { CompiledEvaluator } from '../../src/policy/compiled/evaluator.ts'
import { internedUids } from '../../src/policy/compiled/values.ts'
import { CedarWasmEvaluator } from '../../src/policy/evaluator.ts'
import { type DecisionRequest, PolicyDecisionPoint } from '../../src/policy/pdp.ts'
import { startTestNode, storeKinds, type TestNode, type TestStore } from '../support/harness.ts'
import { pepKey, post } from './authzen-fixture.ts'

const POLICIES = `
@id("editors") permit (principal in group::"editors", action == Action::"edit", resource is doc)
  when { resource has level && resource.level < 3 };
@id("owners") permit (principal, action in [Action::"edit", Action::"view"], resource is doc)
  when { resource has owner && resource.owner == principal };
@id("folder-readers") permit (principal is human, action == Action::"view", resource in folder::"public");
@id("frozen") forbid (principal, action == Action::"edit", resource in folder::"frozen");
@id("caller-tagged") permit (principal is human, action == Action::"view", resource is doc)
  when { resource has tag && resource.tag == "open" };
`

for (const kind of storeKinds) {
  describe(`the decision engine (${kind.name})`, () => {
    let store: TestStore
    let node: TestNode
    let pep: string

    const put = async (path: string, body: Record<string, unknown>) => {
      const res = await node.call('PUT', path, { body })
      assert.ok(res.status < 300, `${path}: ${res.text}`)
      return res.json
    }
    const decide = async (
      subject: string,
      action: string,
      resource: string,
      extra: Record<string, unknown> = {},
    ) => {
      const res = await post(
        node,
        '/access/v1/evaluation',
        {
          subject: { type: 'human', id: subject },
          action: { name: action },
          resource: { type: 'doc', id: resource },
          ...extra,
        },
        pep,
      )
      assert.equal(res.status, 200, JSON.stringify(res.json))
      return res.json as { decision: boolean; context: { determining_policies: string[] } }
    }

    before(async () => {
      store = kind.create()
      node = await startTestNode(store)
      pep = await pepKey(node)
      for (const h of ['alice', 'bob', 'carol'])
        await put(`/api/v1/humans/${h}`, { email: `${h}@example.com`, name: h })
      await put('/api/v1/entity-types/folder', { attributes: {}, member_of: ['folder'], actions: [] })
      await put('/api/v1/entity-types/doc', {
        attributes: {
          owner: { type: 'Entity', entity_type: 'human' },
          level: { type: 'Long' },
          tag: { type: 'String' },
        },
        member_of: ['folder'],
        actions: ['edit', 'view'],
      })
      await put('/api/v1/entities/folder:public', { parents: [] })
      await put('/api/v1/entities/folder:frozen', { parents: [] })
      await put('/api/v1/entities/folder:inner', { parents: ['folder:public'] })
      await put('/api/v1/entities/doc:d1', { attributes: { owner: 'human:bob', level: 1 }, parents: [] })
      await put('/api/v1/groups/editors', { members: [{ kind: 'human', id: 'carol' }] })
      await put('/api/v1/policies/docs', { policies: POLICIES })
    })
    after(async () => {
      await node?.close()
      store?.drop()
    })

    it('decides with the compiled evaluator over the entities in memory, with no fallback', async () => {
      assert.equal((await decide('carol', 'edit', 'd1')).decision, true)
      const status = node.node.pdp.engineStatus()
      assert.deepEqual(status, { engine: 'compiled', fallbackDecisions: 0 })
    })

    it('a registry change is seen by the next decision: membership, attributes, parents, deletions', async () => {
      assert.deepEqual(await decide('alice', 'edit', 'd1'), {
        decision: false,
        context: { determining_policies: [] },
      })
      await put('/api/v1/groups/editors', {
        members: [
          { kind: 'human', id: 'carol' },
          { kind: 'human', id: 'alice' },
        ],
      })
      assert.deepEqual((await decide('alice', 'edit', 'd1')).context.determining_policies, ['docs/editors'])
      await put('/api/v1/entities/doc:d1', { attributes: { owner: 'human:bob', level: 5 }, parents: [] })
      assert.equal((await decide('alice', 'edit', 'd1')).decision, false)
      assert.equal((await decide('bob', 'edit', 'd1')).decision, true)
      // A parent's parent changing reaches the document through the ancestors the store keeps.
      assert.equal((await decide('alice', 'view', 'd1')).decision, false)
      await put('/api/v1/entities/doc:d1', {
        attributes: { owner: 'human:bob', level: 1 },
        parents: ['folder:inner'],
      })
      assert.deepEqual((await decide('alice', 'view', 'd1')).context.determining_policies, [
        'docs/folder-readers',
      ])
      await put('/api/v1/entities/folder:inner', { parents: ['folder:frozen'] })
      assert.equal((await decide('alice', 'view', 'd1')).decision, false)
      assert.deepEqual((await decide('bob', 'edit', 'd1')).context.determining_policies, ['docs/frozen'])
      assert.equal((await node.call('DELETE', '/api/v1/groups/editors')).status < 300, true)
      await put('/api/v1/entities/folder:inner', { parents: [] })
      assert.equal((await decide('carol', 'edit', 'd1')).decision, false)
    })

    it("a caller's properties add attributes the registry does not hold, never replace those it does", async () => {
      await put('/api/v1/entities/doc:d2', { attributes: { owner: 'human:bob', level: 1 }, parents: [] })
      const tagged = {
        resource: { type: 'doc', id: 'd2', properties: { tag: 'open', owner: 'human:alice' } },
      }
      const answer = await decide('alice', 'view', 'd2', tagged)
      assert.deepEqual(answer.context.determining_policies, ['docs/caller-tagged'])
      assert.equal(
        (await decide('alice', 'edit', 'd2', tagged)).decision,
        false,
        'the stored owner stays bob',
      )
    })

    it('ids only requests name are not interned: 100,000 of them leave the table as it was', async () => {
      const pdp = node.node.pdp
      const ask = (i: number, owner: string) =>
        pdp.evaluate({
          principal: { type: 'human', id: `visitor-${i}` },
          action: 'view',
          resource: { type: 'doc', id: `page-${i}`, properties: { owner } },
          context: { note: `n-${i}` },
        })
      // Within one request, every reference to an id is one uid: `resource.owner == principal` holds.
      assert.deepEqual((await ask(-1, 'human:visitor--1')).determining, ['docs/owners'])
      assert.equal((await ask(-2, 'human:someone-else')).decision, 'deny')
      const before = internedUids()
      for (let i = 0; i < 100_000; i++) {
        const decision = await ask(i, `human:visitor-${i}`)
        if (decision.decision !== 'allow') assert.fail(`request ${i}: ${JSON.stringify(decision)}`)
      }
      assert.equal(internedUids(), before)
      // Registered ids are the interned ones: the registry's attributes and groups still apply.
      assert.deepEqual((await decide('bob', 'edit', 'd1')).context.determining_policies, ['docs/owners'])
    })

    it('cedar-wasm (MANDATE_POLICY_ENGINE=cedar-wasm) decides every request as the compiled evaluator does', async () => {
      const recorder = new AuditBatcher(node.node.database, node.node.audit)
      const wasm = new PolicyDecisionPoint({
        directory: node.node.directory,
        recorder,
        evaluator: new CedarWasmEvaluator(),
        cacheSize: 0,
      })
      const compiled = new PolicyDecisionPoint({
        directory: node.node.directory,
        recorder,
        evaluator: new CompiledEvaluator({ extensions: { functions: new Map(), compare: () => undefined } }),
        cacheSize: 0,
      })
      await put('/api/v1/groups/editors', { members: [{ kind: 'human', id: 'carol' }] })
      let allowed = 0
      for (const subject of ['alice', 'bob', 'carol', 'nobody'])
        for (const action of ['edit', 'view'])
          for (const resource of ['d1', 'd2', 'missing']) {
            const request: DecisionRequest = {
              principal: { type: 'human', id: subject },
              action,
              resource: { type: 'doc', id: resource },
            }
            const a = await compiled.evaluate(request)
            const b = await wasm.evaluate(request)
            assert.deepEqual(a, b, `${subject} ${action} ${resource}`)
            if (a.decision === 'allow') allowed++
          }
      assert.ok(allowed > 0)
      assert.equal(compiled.engineStatus().engine, 'compiled')
      assert.equal(wasm.engineStatus().engine, 'cedar-wasm')
    })

    it('a policy set using a construct the compiler does not handle is evaluated by cedar-wasm, named in a metric and a warning', async () => {
      const warned: string[] = []
      const pdp = new PolicyDecisionPoint({
        directory: node.node.directory,
        recorder: new AuditBatcher(node.node.database, node.node.audit),
        evaluator: new CompiledEvaluator({ extensions: { functions: new Map(), compare: () => undefined } }),
        onFallback: (construct) => warned.push(construct),
      })
      await put('/api/v1/policies/network', {
        policies:
          '@id("office") permit (principal is human, action == Action::"view", resource is doc) when { context has client_ip && context.client_ip.isInRange(ip("10.0.0.0/8")) };',
      })
      const request = (address: string): DecisionRequest => ({
        principal: { type: 'human', id: 'carol' },
        action: 'view',
        resource: { type: 'doc', id: 'd1' },
        context: { client_ip: address },
      })
      assert.deepEqual((await pdp.evaluate(request('10.1.2.3'))).determining, ['network/office'])
      assert.equal((await pdp.evaluate(request('192.0.2.1'))).decision, 'deny')
      assert.equal(warned.length, 1)
      assert.match(warned[0] ?? '', /isInRange/)
      assert.equal(pdp.engineStatus().fallback, warned[0])
      assert.equal(pdp.engineStatus().fallbackDecisions, 2)
      // The node's metrics report it.
      const metrics = () =>
        new Metrics(
          () => node.node.audit.status(),
          () => pdp.engineStatus(),
        ).registry.metrics()
      assert.match(
        await metrics(),
        /mandate_policy_fallback\{construct="the function or operator isInRange"\} 1/,
      )
      assert.match(await metrics(), /mandate_policy_fallback_decisions_total 2/)
      assert.equal((await node.call('DELETE', '/api/v1/policies/network')).status < 300, true)
      assert.equal((await pdp.evaluate(request('10.1.2.3'))).decision, 'deny')
      assert.match(await metrics(), /mandate_policy_fallback\{construct=""\} 0/)
    })
  })
}
