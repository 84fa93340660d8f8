// Attack finding (issue 10, the AuthZEN request built without a JSON round trip): a request whose subject and resource
// name the same unregistered entity, each with its own `properties`, is decided on the subject's description alone.
// With `subject: user:zed {role: manager}` and `resource: user:zed {role: employee}`, a `forbid` on
// `resource.role == "employee"` never fires and the permit on `principal.role == "manager"` allows: the PEP described
// the resource as an employee's and got an allow the forbid was written to stop. Cedar has one record per entity, so
// the request is contradictory; fail closed means refusing it (a 400 naming /resource/properties), or at least not
// letting one description silently replace the other. docs/security.md: "Callers describe, Mandate decides"; errors
// deny. Both engines answer the same today (the merge happens before either).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { pepKey, post } from '../policy/authzen-fixture.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'

const POLICIES = `@id("manager") permit (principal is user, action == Action::"view", resource is user)
when { principal has role && principal.role == "manager" };
@id("not-employees") forbid (principal is user, action == Action::"view", resource is user)
when { resource has role && resource.role == "employee" };`

describe('one entity described twice in an AuthZEN request (issue 10)', () => {
  let store: TestStore
  let test: TestNode
  let key: string

  before(async () => {
    store = sqliteStore()
    test = await startTestNode(store)
    for (const [path, body] of [
      [
        '/api/v1/entity-types/user',
        { principal: true, attributes: { role: { type: 'String', required: false } }, actions: ['view'] },
      ],
      ['/api/v1/policies/p', { policies: POLICIES }],
    ] as const) {
      const res = await test.call('PUT', path, { body })
      assert.equal(res.status, 201, `${path}: ${res.text}`)
    }
    key = await pepKey(test)
  })
  after(async () => {
    await test?.close()
    await store?.drop()
  })

  it('the forbid still applies when the two descriptions are each decided alone (the policies work)', async () => {
    const answer = await post(
      test,
      '/access/v1/evaluation',
      {
        subject: { type: 'user', id: 'amy', properties: { role: 'manager' } },
        action: { name: 'view' },
        resource: { type: 'user', id: 'zed', properties: { role: 'employee' } },
      },
      key,
    )
    assert.equal(answer.status, 200)
    assert.equal(answer.json.decision, false)
  })

  it('subject user:zed {role: manager} and resource user:zed {role: employee} is not an allow', async () => {
    const answer = await post(
      test,
      '/access/v1/evaluation',
      {
        subject: { type: 'user', id: 'zed', properties: { role: 'manager' } },
        action: { name: 'view' },
        resource: { type: 'user', id: 'zed', properties: { role: 'employee' } },
      },
      key,
    )
    // The request is contradictory: refused with a 400 naming the resource's properties, on every path.
    assert.equal(answer.status, 400, JSON.stringify(answer.json))
    assert.equal(answer.json.error, 'validation_failed')
    assert.match(JSON.stringify(answer.json), /resource\/properties/)
    const batch = await post(
      test,
      '/access/v1/evaluations',
      {
        evaluations: [
          {
            subject: { type: 'user', id: 'zed', properties: { role: 'manager' } },
            action: { name: 'view' },
            resource: { type: 'user', id: 'zed', properties: { role: 'employee' } },
          },
        ],
      },
      key,
    )
    assert.ok(
      batch.status === 400 || batch.json.evaluations?.[0]?.decision === false,
      JSON.stringify(batch.json),
    )
    // The same description twice is one entity described once: decided as usual.
    const same = await post(
      test,
      '/access/v1/evaluation',
      {
        subject: { type: 'user', id: 'zed', properties: { role: 'manager' } },
        action: { name: 'view' },
        resource: { type: 'user', id: 'zed', properties: { role: 'manager' } },
      },
      key,
    )
    assert.equal(same.status, 200, JSON.stringify(same.json))
  })
})
