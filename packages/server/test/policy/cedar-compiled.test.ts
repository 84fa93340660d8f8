// The compiled Cedar evaluator on what the Cedar corpus does not exercise: several policies in one set and their ids,
// templates and links, the fallback to cedar-wasm and its report, exact 64-bit integers, nested `has`, missing
// entities. Wherever cedar-wasm can run a case, both evaluators must give the same answer.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CEDAR_EXTENSIONS, CompiledEvaluator } from '../../src/policy/compiled/evaluator.ts'
import { parseJson } from '../../src/policy/compiled/json.ts'
import { EntityMap } from '../../src/policy/compiled/json-values.ts'
import { CedarRecord, EvaluationError, entityUid } from '../../src/policy/compiled/values.ts'
import {
  CedarWasmEvaluator,
  EngineFailure,
  type Evaluation,
  type EvaluationRequest,
  preparsedSets,
  type TemplatedPolicies,
} from '../../src/policy/evaluator.ts'

const ENTITIES: EvaluationRequest['entities'] = [
  {
    uid: { type: 'User', id: 'alice' },
    attrs: { age: 30, team: 'red', profile: { address: { city: 'Paris' } } },
    parents: [{ type: 'Group', id: 'staff' }],
  },
  { uid: { type: 'User', id: 'bob' }, attrs: { age: 17, team: 'blue', profile: {} }, parents: [] },
  { uid: { type: 'Group', id: 'staff' }, attrs: {}, parents: [{ type: 'Group', id: 'everyone' }] },
  {
    uid: { type: 'Doc', id: 'plan' },
    attrs: { owner: { __entity: { type: 'User', id: 'alice' } } },
    parents: [],
    tags: { level: 3 },
  },
  { uid: { type: 'Action', id: 'read' }, attrs: {}, parents: [{ type: 'Action', id: 'readers' }] },
]

function request(
  principal: string,
  action: string,
  resource: string,
  context: EvaluationRequest['context'] = {},
) {
  const [pt, pid] = principal.split(':') as [string, string]
  const [rt, rid] = resource.split(':') as [string, string]
  return {
    principal: { type: pt, id: pid },
    action,
    resource: { type: rt, id: rid },
    context,
    entities: ENTITIES,
  }
}

const ids = (answer: Evaluation) => ({
  decision: answer.decision,
  determining: answer.determining,
  errors: answer.errors.map((e) => e.policy).sort(),
})

/** Loads the set in both evaluators and returns the compiled answer, after checking cedar-wasm gives the same. */
function decideBoth(
  policies: Record<string, string>,
  req: EvaluationRequest,
  templated?: TemplatedPolicies,
): ReturnType<typeof ids> {
  const compiled = new CompiledEvaluator({ extensions: CEDAR_EXTENSIONS })
  compiled.load(new Map(Object.entries(policies)), templated)
  assert.equal(compiled.fallback, undefined, 'the set is compiled')
  const reference = new CedarWasmEvaluator()
  reference.load(new Map(Object.entries(policies)), templated)
  const answer = ids(compiled.evaluate(req))
  assert.deepEqual(answer, ids(reference.evaluate(req)), 'same answer as cedar-wasm')
  return answer
}

describe('compiled Cedar evaluator: several policies', () => {
  const set = {
    'allow-staff': 'permit(principal in Group::"everyone", action in Action::"readers", resource);',
    'allow-owner': 'permit(principal, action, resource is Doc) when { resource.owner == principal };',
    'deny-minors': 'forbid(principal is User, action, resource) when { principal.age < 18 };',
    broken: 'permit(principal, action == Action::"write", resource) when { principal.missing == 1 };',
    'deny-blue-write':
      'forbid(principal, action == Action::"write", resource) unless { principal.team != "blue" };',
  }

  it('allow: every satisfied permit determines, under their own ids', () => {
    assert.deepEqual(decideBoth(set, request('User:alice', 'read', 'Doc:plan')), {
      decision: 'allow',
      determining: ['allow-owner', 'allow-staff'],
      errors: [],
    })
  })

  it('deny: the satisfied forbids determine, the satisfied permits do not', () => {
    assert.deepEqual(decideBoth(set, request('User:bob', 'write', 'Doc:plan')), {
      decision: 'deny',
      determining: ['deny-blue-write', 'deny-minors'],
      errors: ['broken'],
    })
  })

  it('a policy whose condition errors is skipped and reported; the others still decide', () => {
    assert.deepEqual(decideBoth(set, request('User:alice', 'write', 'Doc:plan')), {
      decision: 'allow',
      determining: ['allow-owner'],
      errors: ['broken'],
    })
  })

  it('no satisfied permit: deny with nothing determining', () => {
    assert.deepEqual(decideBoth(set, request('User:alice', 'write', 'User:bob')), {
      decision: 'deny',
      determining: [],
      errors: ['broken'],
    })
  })

  it('the index by action and by type skips policies whose scope cannot match, without changing answers', () => {
    const scoped = {
      a: 'permit(principal is User, action == Action::"read", resource is Doc);',
      b: 'permit(principal == User::"bob", action in [Action::"write", Action::"readers"], resource);',
      c: 'forbid(principal, action, resource is User) when { resource.age > 20 };',
    }
    for (const who of ['User:alice', 'User:bob', 'Group:staff'])
      for (const what of ['read', 'write', 'delete'])
        for (const on of ['Doc:plan', 'User:alice', 'User:bob']) decideBoth(scoped, request(who, what, on))
  })
})

describe('compiled Cedar evaluator: the in-memory path', () => {
  it('decide reads the entity store it is given: an action joining a group is seen by the next decision', () => {
    const compiled = new CompiledEvaluator()
    compiled.load(new Map([['group', 'permit(principal, action in Action::"readers", resource);']]))
    const req = {
      principal: entityUid('User', 'alice'),
      action: entityUid('Action', 'list'),
      resource: entityUid('Doc', 'plan'),
      context: new CedarRecord(new Map()),
    }
    const before = new EntityMap(ENTITIES, CEDAR_EXTENSIONS)
    assert.equal(compiled.decide(req, before).decision, 'deny')
    const after = new EntityMap(
      [
        ...ENTITIES,
        { uid: { type: 'Action', id: 'list' }, attrs: {}, parents: [{ type: 'Action', id: 'readers' }] },
      ],
      CEDAR_EXTENSIONS,
    )
    assert.deepEqual(ids(compiled.decide(req, after)), {
      decision: 'allow',
      determining: ['group'],
      errors: [],
    })
    assert.equal(compiled.decide(req, before).decision, 'deny')
  })
})

describe('compiled Cedar evaluator: templates and links', () => {
  const templated: TemplatedPolicies = {
    templates: new Map([
      ['share', 'permit(principal == ?principal, action == Action::"read", resource in ?resource);'],
      ['block', 'forbid(principal in ?principal, action, resource) when { context.risky };'],
    ]),
    links: [
      {
        id: 'share-bob',
        template: 'share',
        principal: { type: 'User', id: 'bob' },
        resource: { type: 'Doc', id: 'plan' },
      },
      { id: 'block-staff', template: 'block', principal: { type: 'Group', id: 'staff' } },
    ],
  }

  it('a link is its template with the slots filled, under the link id', () => {
    assert.deepEqual(decideBoth({}, request('User:bob', 'read', 'Doc:plan', { risky: false }), templated), {
      decision: 'allow',
      determining: ['share-bob'],
      errors: [],
    })
    assert.deepEqual(decideBoth({}, request('User:alice', 'read', 'Doc:plan', { risky: true }), templated), {
      decision: 'deny',
      determining: ['block-staff'],
      errors: [],
    })
    decideBoth({}, request('User:alice', 'read', 'Doc:plan', { risky: 1 }), templated)
  })

  it('a link that leaves a slot empty, fills one the template lacks, or names no template, does not load', () => {
    const compiled = new CompiledEvaluator({ extensions: CEDAR_EXTENSIONS })
    assert.throws(
      () =>
        compiled.load(new Map(), { templates: templated.templates, links: [{ id: 'x', template: 'share' }] }),
      EngineFailure,
    )
    assert.throws(
      () => compiled.load(new Map(), { templates: new Map(), links: [{ id: 'x', template: 'nope' }] }),
      EngineFailure,
    )
    // cedar-wasm refuses the same sets.
    const bob = { type: 'User', id: 'bob' }
    const extra = {
      templates: templated.templates,
      links: [{ id: 'x', template: 'block', principal: bob, resource: bob }],
    }
    assert.throws(() => compiled.load(new Map(), extra), EngineFailure)
    assert.throws(() => new CedarWasmEvaluator().load(new Map(), extra), EngineFailure)
    const missing = {
      templates: templated.templates,
      links: [{ id: 'x', template: 'share', principal: bob }],
    }
    assert.throws(() => compiled.load(new Map(), missing), EngineFailure)
    assert.throws(() => new CedarWasmEvaluator().load(new Map(), missing), EngineFailure)
  })
})

describe('compiled Cedar evaluator: falling back to cedar-wasm', () => {
  it('a construct the compiler does not handle sends the whole set to cedar-wasm, and is reported', () => {
    const reported: string[] = []
    const compiled = new CompiledEvaluator({
      extensions: { functions: new Map(), compare: () => undefined },
      onFallback: (construct) => reported.push(construct),
    })
    const policies = new Map([
      ['p', 'permit(principal, action, resource) when { ip("10.0.0.1").isInRange(ip("10.0.0.0/8")) };'],
      ['q', 'forbid(principal == User::"bob", action, resource);'],
    ])
    compiled.load(policies)
    assert.deepEqual(reported, ['the function or operator isInRange'])
    assert.equal(compiled.fallback, 'the function or operator isInRange')
    assert.deepEqual(ids(compiled.evaluate(request('User:alice', 'read', 'Doc:plan'))), {
      decision: 'allow',
      determining: ['p'],
      errors: [],
    })
    assert.equal(ids(compiled.evaluate(request('User:bob', 'read', 'Doc:plan'))).decision, 'deny')
    // The in-memory path cannot hand cedar-wasm its entities: it refuses rather than guess.
    const entities = new EntityMap(ENTITIES, CEDAR_EXTENSIONS)
    const uid = entityUid('User', 'alice')
    assert.throws(
      () =>
        compiled.decide(
          {
            principal: uid,
            action: entityUid('Action', 'read'),
            resource: uid,
            context: new CedarRecord(new Map()),
          },
          entities,
        ),
      EngineFailure,
    )
    // Loading a set the compiler handles brings the compiled path back.
    compiled.load(new Map([['q', 'forbid(principal == User::"bob", action, resource);']]))
    assert.equal(compiled.fallback, undefined)
  })

  it('reloads in and out of the fallback reuse one cedar-wasm set, emptied while the compiled set decides', () => {
    const compiled = new CompiledEvaluator({ extensions: { functions: new Map(), compare: () => undefined } })
    const before = preparsedSets()
    const fallbackSet = (user: string) =>
      new Map([
        ['p', 'permit(principal, action, resource) when { ip("10.0.0.1").isInRange(ip("10.0.0.0/8")) };'],
        ['q', `forbid(principal == User::"${user}", action, resource);`],
      ])
    for (let i = 0; i < 50; i++) {
      const user = i % 2 === 0 ? 'bob' : 'alice'
      compiled.load(fallbackSet(user))
      assert.ok(compiled.fallback)
      // The set just loaded decides, not an earlier one.
      assert.equal(ids(compiled.evaluate(request(`User:${user}`, 'read', 'Doc:plan'))).decision, 'deny')
      const other = user === 'bob' ? 'alice' : 'bob'
      assert.equal(ids(compiled.evaluate(request(`User:${other}`, 'read', 'Doc:plan'))).decision, 'allow')
      assert.equal(preparsedSets(), before + 1, 'one cedar-wasm set, whatever the number of reloads')
      if (i % 10 === 9) {
        compiled.load(new Map([['q', 'forbid(principal == User::"bob", action, resource);']]))
        assert.equal(compiled.fallback, undefined)
        assert.equal(preparsedSets(), before, 'the compiled set decides: the cedar-wasm set is emptied')
      }
    }
    // A set that does not load leaves the one loaded before it deciding.
    compiled.load(fallbackSet('bob'))
    assert.throws(() =>
      compiled.load(new Map([['p', 'permit(principal, action, resource) when { x.isInRange(']])),
    )
    assert.equal(ids(compiled.evaluate(request('User:bob', 'read', 'Doc:plan'))).decision, 'deny')
    assert.equal(preparsedSets(), before + 1)
  })

  it('a literal beyond 2^53 that cannot be matched with the text is not guessed: cedar-wasm evaluates the set', () => {
    // JavaScript orders the record's integer-like keys, so the JSON form's numbers no longer follow the text.
    const text =
      'permit(principal, action, resource) when { {"2": 1, "1": 9223372036854775807}["1"] == 9223372036854775807 };'
    const reported: string[] = []
    const compiled = new CompiledEvaluator({
      extensions: CEDAR_EXTENSIONS,
      onFallback: (c) => reported.push(c),
    })
    compiled.load(new Map([['p', text]]))
    assert.equal(reported.length, 1)
    assert.match(reported[0] ?? '', /beyond 2\^53/)
    assert.equal(compiled.evaluate(request('User:alice', 'read', 'Doc:plan')).decision, 'allow')
  })

  it('a set that does not parse is an engine failure, as with cedar-wasm', () => {
    const compiled = new CompiledEvaluator({ extensions: CEDAR_EXTENSIONS })
    assert.throws(() => compiled.load(new Map([['p', 'permit(principal, action);']])), EngineFailure)
  })
})

describe('compiled Cedar evaluator: exact 64-bit integers', () => {
  const max = 'permit(principal, action, resource) when'

  function decideCompiled(text: string, context: string) {
    const compiled = new CompiledEvaluator({ extensions: CEDAR_EXTENSIONS })
    compiled.load(new Map([['p', text]]))
    assert.equal(compiled.fallback, undefined)
    const req = request('User:alice', 'read', 'Doc:plan')
    return ids(compiled.evaluate({ ...req, context: parseJson(context) as EvaluationRequest['context'] }))
  }

  it('literals beyond 2^53 keep their exact value (policyToJson alone rounds them)', () => {
    assert.equal(
      decideCompiled(`${max} { 9223372036854775807 - 1 == 9223372036854775806 };`, '{}').decision,
      'allow',
    )
    assert.equal(
      decideCompiled(`${max} { 9223372036854775807 != 9223372036854775806 };`, '{}').decision,
      'allow',
    )
    assert.equal(
      decideCompiled(`${max} { -9223372036854775808 < -9223372036854775807 };`, '{}').decision,
      'allow',
    )
    assert.equal(
      decideCompiled(`${max} { 4611686018427387903 * 2 + 1 == 9223372036854775807 };`, '{}').decision,
      'allow',
    )
  })

  it('overflow is an error of the policy, as in Cedar, never a wrapped or rounded value', () => {
    for (const expr of [
      '9223372036854775807 + 1',
      '-9223372036854775808 - 1',
      '4611686018427387904 * 2',
      '-(-9223372036854775808)',
    ]) {
      const answer = decideBoth({ p: `${max} { ${expr} > 0 };` }, request('User:alice', 'read', 'Doc:plan'))
      assert.deepEqual(answer, { decision: 'deny', determining: [], errors: ['p'] }, expr)
    }
  })

  it('JSON integers beyond 2^53 arrive exact through parseJson and are compared exactly', () => {
    const answer = decideCompiled(
      `${max} { context.n == 9223372036854775807 && context.m + 1 == 9007199254740993 && context.m != context.n };`,
      '{"n": 9223372036854775807, "m": 9007199254740992}',
    )
    assert.equal(answer.decision, 'allow')
    assert.equal(
      decideCompiled(`${max} { context.n == 9223372036854775806 };`, '{"n": 9223372036854775807}').decision,
      'deny',
    )
  })

  it('a JSON integer outside the 64-bit range, or a fraction, is refused rather than rounded', () => {
    const compiled = new CompiledEvaluator({ extensions: CEDAR_EXTENSIONS })
    compiled.load(new Map([['p', `${max} { true };`]]))
    const req = request('User:alice', 'read', 'Doc:plan')
    for (const context of ['{"n": 9223372036854775808}', '{"n": 1.5}', '{"n": 9007199254740993.0}'])
      assert.throws(
        () => compiled.evaluate({ ...req, context: parseJson(context) as EvaluationRequest['context'] }),
        EngineFailure,
      )
  })

  it('parseJson: exact integers, strict syntax, escapes', () => {
    assert.deepEqual(parseJson('[9007199254740991, 9007199254740992, -9223372036854775808, 1e3, 0.5]'), [
      9007199254740991,
      9007199254740992n,
      -9223372036854775808n,
      1000,
      0.5,
    ])
    assert.deepEqual(
      { ...(parseJson('{"a\\u00e9\\n": [true, false, null, "x"]}') as object) },
      {
        'aé\n': [true, false, null, 'x'],
      },
    )
    for (const bad of [
      '{a: 1}',
      '[1,]',
      '01',
      '"\u0001"',
      '{"a": 1} x',
      '',
      'nul',
      '['.repeat(1000) + ']'.repeat(1000),
    ])
      assert.throws(() => parseJson(bad), SyntaxError, bad)
  })
})

describe('compiled Cedar evaluator: has, attributes and missing entities', () => {
  const req = (context: EvaluationRequest['context'], principal = 'User:alice') =>
    request(principal, 'read', 'Doc:plan', context)

  it('has on a nested path is true only when every step is there', () => {
    const text = (path: string) => ({ p: `permit(principal, action, resource) when { ${path} };` })
    assert.equal(decideBoth(text('principal has profile.address.city'), req({})).decision, 'allow')
    assert.equal(decideBoth(text('principal has profile.address.zip'), req({})).decision, 'deny')
    assert.equal(decideBoth(text('principal has profile.address.city'), req({}, 'User:bob')).decision, 'deny')
    assert.equal(decideBoth(text('context has a.b'), req({ a: { b: 1 } })).decision, 'allow')
    assert.equal(decideBoth(text('context has a.b'), req({ c: 1 })).decision, 'deny')
    // A step that is neither a record nor an entity is a type error, as `context has a && context.a has b` is.
    assert.deepEqual(decideBoth(text('context has a.b'), req({ a: 1 })).errors, ['p'])
  })

  it('an entity the store does not hold: has is false, an attribute is an error, in only matches itself', () => {
    const text = (cond: string) => ({ p: `permit(principal, action, resource) when { ${cond} };` })
    const ghost = 'User:ghost'
    assert.equal(decideBoth(text('!(principal has age)'), req({}, ghost)).decision, 'allow')
    assert.deepEqual(decideBoth(text('principal.age > 1'), req({}, ghost)).errors, ['p'])
    assert.equal(decideBoth(text('principal in User::"ghost"'), req({}, ghost)).decision, 'allow')
    assert.equal(decideBoth(text('principal in Group::"staff"'), req({}, ghost)).decision, 'deny')
    assert.equal(decideBoth(text('!principal.hasTag("x")'), req({}, ghost)).decision, 'allow')
    assert.deepEqual(decideBoth(text('principal.getTag("x") == 1'), req({}, ghost)).errors, ['p'])
  })

  it('tags, like with an escaped star, is ... in, sets, if-then-else and == across types', () => {
    const cases: Array<[string, EvaluationRequest['context']]> = [
      ['resource.hasTag("level") && resource.getTag("level") == 3', {}],
      ['context.s like "a\\**"', { s: 'a*bc' }],
      ['context.s like "a\\**"', { s: 'abc' }],
      ['principal is User in Group::"everyone"', {}],
      ['principal is User in [Group::"nobody", Group::"staff"]', {}],
      ['principal in [Group::"staff", 1]', {}],
      [
        '[1, [2, 3], {a: "x"}].contains([3, 2]) && [1, 2].containsAll([2]) && ![1].containsAny([]) && [].isEmpty()',
        {},
      ],
      ['if context.b then 1 == "1" else principal.nope', { b: true }],
      ['if context.b then 1 == "1" else principal.nope', { b: false }],
      ['context.b || principal.nope', { b: true }],
      ['context.b && 1', { b: true }],
      ['User::"alice" == principal && principal != resource', {}],
    ]
    for (const [cond, context] of cases)
      decideBoth({ p: `permit(principal, action, resource) when { ${cond} };` }, req(context))
  })

  it('condition errors are evaluation errors, not engine failures', () => {
    assert.ok(new EvaluationError('x') instanceof Error)
    const compiled = new CompiledEvaluator({ extensions: CEDAR_EXTENSIONS })
    compiled.load(new Map([['p', 'permit(principal, action, resource) when { principal.age + "x" == 1 };']]))
    const answer = compiled.evaluate(req({}))
    assert.equal(answer.decision, 'deny')
    assert.equal(answer.errors[0]?.policy, 'p')
    assert.match(answer.errors[0]?.message ?? '', /type error/)
  })
})
