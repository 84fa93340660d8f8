// How Cedar combines the policies of a set (the Cedar corpus holds one policy per test): deny unless a permit applies
// and no forbid does; a policy whose condition errors is skipped and reported; every policy, link included, is reported
// by the id it is loaded under. Each case is checked against cedar-wasm (the expectation is Cedar's) and against the
// evaluator under test.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { EntityJson } from '../../src/policy/cedar.ts'
import type { EntityRef } from '../../src/policy/evaluator.ts'
import {
  type CaseOutcome,
  type CedarCase,
  decideWith,
  decideWithCedarWasm,
  evaluatorUnderTest,
  type TemplateLinkCase,
} from '../support/cedar-cases.ts'

const alice: EntityRef = { type: 'User', id: 'alice' }
const bob: EntityRef = { type: 'User', id: 'bob' }
const report: EntityRef = { type: 'Doc', id: 'report' }

const entities: EntityJson[] = [
  { uid: alice, attrs: { level: 3 }, parents: [{ type: 'Group', id: 'staff' }] },
  { uid: bob, attrs: { level: 1 }, parents: [] },
  { uid: { type: 'Group', id: 'staff' }, attrs: {}, parents: [] },
  { uid: report, attrs: { owner: { __entity: alice } }, parents: [{ type: 'Folder', id: 'shared' }] },
  { uid: { type: 'Folder', id: 'shared' }, attrs: {}, parents: [] },
]

interface CombiningCase {
  name: string
  policies: Array<[id: string, text: string]>
  templates?: Array<[id: string, text: string]>
  links?: TemplateLinkCase[]
  principal?: EntityRef
  expected: CaseOutcome
}

const decided = (
  decision: 'allow' | 'deny',
  determining: string[] = [],
  erroring: string[] = [],
): CaseOutcome => ({
  kind: 'decided',
  decision,
  determining,
  erroring,
})

const PERMIT_ALL = 'permit (principal, action, resource);'
const FORBID_ALL = 'forbid (principal, action, resource);'
// `nickname` is no attribute of anyone: reading it is an evaluation error.
const PERMIT_ERRORING = 'permit (principal, action, resource) when { principal.nickname == "al" };'
const FORBID_ERRORING = 'forbid (principal, action, resource) when { principal.nickname == "al" };'

const many = Array.from({ length: 60 }, (_, i): [string, string] =>
  i % 2 === 0
    ? [`p${i}`, `permit (principal == User::"u${i}", action, resource);`]
    : [
        `p${i}`,
        `permit (principal, action == Action::"read", resource) when { principal.level == ${i % 7} };`,
      ],
)

const cases: CombiningCase[] = [
  {
    name: 'a forbid that applies overrides a permit that applies: deny, determined by the forbid',
    policies: [
      ['permit', PERMIT_ALL],
      ['forbid', FORBID_ALL],
    ],
    expected: decided('deny', ['forbid']),
  },
  {
    name: 'two permits that apply both determine the allow',
    policies: [
      ['owner', 'permit (principal, action, resource) when { resource.owner == principal };'],
      ['staff', 'permit (principal in Group::"staff", action == Action::"read", resource);'],
    ],
    expected: decided('allow', ['owner', 'staff']),
  },
  {
    name: 'a forbid whose condition errors is skipped: the permit decides, the forbid is reported',
    policies: [
      ['permit', PERMIT_ALL],
      ['forbid', FORBID_ERRORING],
    ],
    expected: decided('allow', ['permit'], ['forbid']),
  },
  {
    name: 'a permit whose condition errors is skipped: default deny, the permit is reported',
    policies: [['permit', PERMIT_ERRORING]],
    expected: decided('deny', [], ['permit']),
  },
  {
    name: 'an erroring permit does not keep another permit from allowing',
    policies: [
      ['broken', PERMIT_ERRORING],
      ['fine', PERMIT_ALL],
    ],
    expected: decided('allow', ['fine'], ['broken']),
  },
  {
    name: 'an erroring forbid does not hide another forbid that applies',
    policies: [
      ['permit', PERMIT_ALL],
      ['broken', FORBID_ERRORING],
      ['forbid', 'forbid (principal, action, resource in Folder::"shared");'],
    ],
    expected: decided('deny', ['forbid'], ['broken']),
  },
  {
    name: 'a forbid that does not apply leaves the permit to decide',
    policies: [
      ['permit', PERMIT_ALL],
      ['forbid', 'forbid (principal == User::"bob", action, resource);'],
    ],
    expected: decided('allow', ['permit']),
  },
  {
    name: 'no policy applies: default deny, nothing determining, nothing erroring',
    policies: [
      ['bob only', 'permit (principal == User::"bob", action, resource);'],
      ['writes', 'forbid (principal, action == Action::"write", resource);'],
    ],
    expected: decided('deny'),
  },
  {
    name: 'an empty policy set denies',
    policies: [],
    expected: decided('deny'),
  },
  {
    name: 'policies are reported by the ids they are loaded under, whatever their text order',
    policies: [
      ['policy2', PERMIT_ALL],
      ['policy10', PERMIT_ALL],
      ['policy1', PERMIT_ALL],
      ['policy0', PERMIT_ERRORING],
    ],
    expected: decided('allow', ['policy1', 'policy10', 'policy2'], ['policy0']),
  },
  {
    name: 'an @id annotation does not rename the policy: the id is the one it is loaded under',
    policies: [['loaded-as', `@id("annotated")\n${PERMIT_ALL}`]],
    expected: decided('allow', ['loaded-as']),
  },
  {
    name: 'of 60 policies, exactly those that apply determine',
    policies: many,
    expected: decided('allow', ['p17', 'p3', 'p31', 'p45', 'p59']),
  },
  {
    name: 'template links: each link is a policy of its own, reported by its link id',
    policies: [],
    templates: [['owner-in', 'permit (principal == ?principal, action, resource in ?resource);']],
    links: [
      {
        templateId: 'owner-in',
        id: 'alice-shared',
        principal: alice,
        resource: { type: 'Folder', id: 'shared' },
      },
      {
        templateId: 'owner-in',
        id: 'bob-shared',
        principal: bob,
        resource: { type: 'Folder', id: 'shared' },
      },
      { templateId: 'owner-in', id: 'alice-report', principal: alice, resource: report },
    ],
    expected: decided('allow', ['alice-report', 'alice-shared']),
  },
  {
    name: 'a linked forbid template overrides a static permit',
    policies: [['permit', PERMIT_ALL]],
    templates: [['ban', 'forbid (principal in ?principal, action, resource);']],
    links: [
      { templateId: 'ban', id: 'ban-bob', principal: bob },
      { templateId: 'ban', id: 'ban-staff', principal: { type: 'Group', id: 'staff' } },
    ],
    expected: decided('deny', ['ban-staff']),
  },
  {
    name: 'a template without links decides nothing',
    policies: [],
    templates: [['unused', 'permit (principal == ?principal, action, resource);']],
    links: [],
    expected: decided('deny'),
  },
  {
    name: 'a linked template whose condition errors is reported by its link id',
    policies: [['permit', PERMIT_ALL]],
    templates: [
      ['t', 'forbid (principal, action, resource == ?resource) when { principal.nickname == "al" };'],
    ],
    links: [{ templateId: 't', id: 'link', resource: report }],
    expected: decided('allow', ['permit'], ['link']),
  },
]

function caseOf(c: CombiningCase): CedarCase {
  return {
    policies: c.policies.map(([id, text]) => ({ id, text })),
    templates: (c.templates ?? []).map(([id, text]) => ({ id, text })),
    links: c.links ?? [],
    entities,
    request: { principal: c.principal ?? alice, action: 'read', resource: report, context: {} },
  }
}

describe('combining the policies of a set', () => {
  const evaluator = evaluatorUnderTest()
  for (const c of cases)
    it(c.name, () => {
      assert.deepEqual(decideWithCedarWasm(caseOf(c)), c.expected, 'cedar-wasm')
      assert.deepEqual(decideWith(evaluator, caseOf(c)), c.expected, 'the evaluator')
    })
})
