// fast-check arbitraries for Cedar authorization cases: policy sets (static policies, templates and their links),
// entity graphs and requests, drawn from one small vocabulary of types, ids, actions and attribute names so that
// scopes, `in`, `==` and attribute reads meet the request's entities often. Expressions cover the whole language,
// including what errors (overflow, wrong operand types, missing attributes and entities, bad extension strings).
import fc from 'fast-check'
import type { CedarValueJson, EntityJson } from '../../src/policy/cedar.ts'
import type { EntityRef } from '../../src/policy/evaluator.ts'
import {
  type CedarCase,
  cedarString,
  entityLiteral,
  type PolicyText,
  type TemplateLinkCase,
} from './cedar-cases.ts'

type Arb<T> = fc.Arbitrary<T>

// ---------------------------------------------------------------------------------------------------------------
// Vocabulary: a few common names (weighted up so that they collide) and odd ones (rarer) that test escaping.

const weighted = <T>(entries: ReadonlyArray<readonly [T, number]>): Arb<T> =>
  fc.oneof(...entries.map(([value, weight]) => ({ arbitrary: fc.constant(value), weight })))

const entityType = weighted<string>([
  ['User', 4],
  ['Group', 3],
  ['Doc', 3],
  ['App::Folder', 2],
])
const ODD_IDS = [
  '',
  ' ',
  'a b',
  'quo"te',
  'back\\slash',
  "it's",
  'ünïcödé',
  '😀',
  '*',
  'line\nbreak',
  'tab\t',
  '\0',
]
const entityId = fc.oneof(
  {
    arbitrary: weighted<string>([
      ['alice', 6],
      ['bob', 3],
      ['g', 1],
    ]),
    weight: 8,
  },
  { arbitrary: fc.constantFrom(...ODD_IDS), weight: 1 },
)
const entityRef: Arb<EntityRef> = fc.record({ type: entityType, id: entityId })
const ACTIONS = ['read', 'write', 'all', 'odd "action"'] as const
const actionName = weighted<string>([
  ['read', 5],
  ['write', 4],
  ['all', 2],
  ['odd "action"', 1],
])
const TAG_KEYS = ['k', 'level', 'weird key']
const tagKey = fc.constantFrom(...TAG_KEYS)

// Attribute names, each with the type its value usually has, so that most reads type-check and some do not.
const ATTRS = [
  'owner',
  'level',
  'name',
  'flag',
  'tags',
  'info',
  'addr',
  'since',
  'amount',
  'weird key',
] as const
type AttrName = (typeof ATTRS)[number]
const attrName = fc.constantFrom<AttrName>(...ATTRS)
const IDENT_ATTRS = ATTRS.filter((a) => /^[a-z]+$/.test(a))

// ---------------------------------------------------------------------------------------------------------------
// Values as JSON (entities, context). Whole numbers stay within safe integers: cedar-wasm's JavaScript interface
// rounds beyond 2^53, so exactness there is tested from policy text only.

const SAFE_EDGES = [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 31, -(2 ** 31), 2 ** 32]
const jsonLong = fc.oneof(
  { arbitrary: fc.integer({ min: -3, max: 10 }), weight: 6 },
  { arbitrary: fc.constantFrom(...SAFE_EDGES), weight: 1 },
)
const jsonString = fc.oneof(
  { arbitrary: entityId, weight: 3 },
  { arbitrary: fc.string({ maxLength: 4 }), weight: 1 },
)
// `{"type", "id"}` without `__entity` is a record, not an entity, when there is no schema.
const jsonEntity: Arb<CedarValueJson> = fc.oneof(
  { arbitrary: entityRef.map((ref) => ({ __entity: { type: ref.type, id: ref.id } })), weight: 9 },
  { arbitrary: entityRef.map((ref) => ({ type: ref.type, id: ref.id })), weight: 1 },
)
// Several spellings of one value (10.0.0.1 and 10.0.0.1/32, 1.5 and 1.50, a date and its midnight, 1h and 60m) test
// equality; dates before 1970 test the rounding of toDate and toTime.
const IPS = [
  '10.0.0.1',
  '10.0.0.1/32',
  '10.0.0.0/8',
  '192.168.1.1',
  '127.0.0.1',
  '::1',
  '0:0:0:0:0:0:0:1',
  'ff02::1',
  '2001:db8::/32',
  '224.0.0.1',
]
const DECIMALS = [
  '0.0',
  '1.5',
  '1.50',
  '-1.5',
  '1.2345',
  '922337203685477.5807',
  '-922337203685477.5808',
  '3',
]
const DATETIMES = [
  '2024-10-15',
  '2024-10-15T00:00:00Z',
  '2024-10-15T11:35:00Z',
  '2024-10-15T11:35:00.123Z',
  '2024-10-15T11:35:00+0100',
  '2024-10-15T11:35:00-2359',
  '1970-01-01',
  '1969-12-31T23:59:59.999Z',
  '0001-01-01',
]
const DURATIONS = ['1d2h3m4s5ms', '-1h', '0ms', '60m', '1h', '1h30m', '-2d', '-1ms', '9223372036854775807ms']
// Now and then a value Cedar cannot build (the whole request is refused), or partial evaluation's unknown.
const INVALID_EXTENSIONS: CedarValueJson[] = [
  { __extn: { fn: 'decimal', arg: '1.23456' } },
  { __extn: { fn: 'ip', arg: '::ffff:127.0.0.1' } },
  { __extn: { fn: 'datetime', arg: '2024-02-30' } },
  { __extn: { fn: 'duration', arg: '1d1d' } },
  { __extn: { fn: 'nosuchfunction', arg: '1' } },
  // cedar-wasm reads this one as partial evaluation's unknown value: a policy reading it errors.
  { __extn: { fn: 'unknown', arg: '1' } },
  { __extn: { fn: 'decimal', arg: 1 } },
]
const jsonExtension: Arb<CedarValueJson> = fc.oneof(
  { arbitrary: fc.constantFrom(...IPS).map((arg) => ({ __extn: { fn: 'ip', arg } })), weight: 30 },
  {
    arbitrary: fc
      .constantFrom(...DECIMALS.filter((d) => d.includes('.')))
      .map((arg) => ({ __extn: { fn: 'decimal', arg } })),
    weight: 30,
  },
  {
    arbitrary: fc.constantFrom(...DATETIMES).map((arg) => ({ __extn: { fn: 'datetime', arg } })),
    weight: 30,
  },
  {
    arbitrary: fc.constantFrom(...DURATIONS).map((arg) => ({ __extn: { fn: 'duration', arg } })),
    weight: 30,
  },
  { arbitrary: fc.constantFrom(...INVALID_EXTENSIONS), weight: 1 },
)

const { jsonValue } = fc.letrec<{ jsonValue: CedarValueJson }>((tie) => ({
  jsonValue: fc.oneof(
    { depthSize: 'small', maxDepth: 3, depthIdentifier: 'json' },
    fc.boolean(),
    jsonLong,
    jsonString,
    jsonEntity,
    jsonExtension,
    fc.array(tie('jsonValue'), { maxLength: 3, depthIdentifier: 'json' }),
    fc.dictionary(fc.constantFrom('a', 'b', 'weird key'), tie('jsonValue'), {
      maxKeys: 3,
      depthIdentifier: 'json',
    }),
  ),
}))

const jsonByAttr: Record<AttrName, Arb<CedarValueJson>> = {
  owner: jsonEntity,
  level: jsonLong,
  name: jsonString,
  flag: fc.boolean(),
  tags: fc.array(fc.oneof(jsonString, jsonLong, jsonEntity), { maxLength: 3 }),
  info: fc.record(
    {
      a: jsonLong,
      b: fc.record({ c: fc.oneof(jsonString, jsonLong) }, { requiredKeys: [] }),
      'weird key': jsonString,
    },
    { requiredKeys: [] },
  ),
  addr: jsonExtension,
  since: jsonExtension,
  amount: fc.oneof(jsonLong, jsonExtension),
  'weird key': jsonValue,
}

/** Attributes by name, mostly of the type the name suggests. */
const jsonAttrs: Arb<Record<string, CedarValueJson>> = fc
  .uniqueArray(
    fc
      .tuple(attrName, fc.nat(9))
      .chain(([name, roll]) =>
        (roll === 0 ? jsonValue : jsonByAttr[name]).map((value) => [name, value] as const),
      ),
    { maxLength: 5, selector: ([name]) => name },
  )
  .map((pairs) => Object.fromEntries(pairs))

const jsonTags: Arb<Record<string, CedarValueJson>> = fc.dictionary(
  tagKey,
  fc.oneof(jsonString, jsonLong, jsonValue),
  {
    maxKeys: 2,
  },
)

const uidKey = (ref: EntityRef) => `${ref.type}::${JSON.stringify(ref.id)}`

const entityBody = (uid: Arb<EntityRef>): Arb<EntityJson> =>
  fc
    .record({
      uid,
      attrs: jsonAttrs,
      // Mostly containers as parents, so that hierarchies form; anything (cycles included) now and then.
      parents: fc.uniqueArray(
        fc.oneof(
          {
            arbitrary: fc.record({ type: fc.constantFrom('Group', 'App::Folder'), id: entityId }),
            weight: 4,
          },
          { arbitrary: entityRef, weight: 1 },
        ),
        { maxLength: 3, selector: uidKey },
      ),
      tags: fc.option(jsonTags, { nil: undefined, freq: 2 }),
    })
    .map(({ tags, ...entity }) => (tags === undefined ? entity : { ...entity, tags }))
const entityJson = entityBody(entityRef)

const actionEntities: Arb<EntityJson[]> = fc.subarray([...ACTIONS]).chain((names) =>
  fc.tuple(
    ...names.map((name) =>
      fc
        .subarray(
          ACTIONS.filter((n) => n !== name),
          { maxLength: 2 },
        )
        .map(
          (parents): EntityJson => ({
            uid: { type: 'Action', id: name },
            attrs: {},
            parents: parents.map((id) => ({ type: 'Action', id })),
          }),
        ),
    ),
  ),
)

/** An entity graph: distinct entities of the vocabulary, with attributes, tags and parents, and some actions. */
export const entitiesArb: Arb<EntityJson[]> = fc
  .tuple(
    fc.uniqueArray(entityJson, { maxLength: 7, selector: (e) => uidKey(e.uid as EntityRef) }),
    actionEntities,
  )
  .map(([entities, actions]) => [...entities, ...actions])

// ---------------------------------------------------------------------------------------------------------------
// Expressions, by the type they usually have. Every compound is parenthesized: precedence is cedar-wasm's parser's
// business, both evaluators read its output.

const LONG_LITERALS = [
  '9223372036854775807',
  '-9223372036854775808',
  '9223372036854775806',
  '-9223372036854775807',
  '4611686018427387904',
  '9007199254740991',
  '9007199254740992',
  '9007199254740993',
  '-9007199254740993',
  '3037000500',
]
const longLiteral = fc.oneof(
  { arbitrary: fc.integer({ min: -3, max: 10 }).map(String), weight: 5 },
  { arbitrary: fc.constantFrom(...LONG_LITERALS), weight: 2 },
)
const stringLiteral = fc
  .tuple(fc.oneof({ arbitrary: entityId, weight: 4 }, { arbitrary: tagKey, weight: 1 }), fc.boolean())
  .map(([s, escapeNonAscii]) => cedarString(s, escapeNonAscii))
const entityLiteralArb = entityRef.map(entityLiteral)
const actionLiteral = actionName.map((name) => `Action::${cedarString(name)}`)
const typeName = fc.oneof(
  { arbitrary: entityType, weight: 6 },
  { arbitrary: fc.constant('Action'), weight: 1 },
)

// `like` patterns: `*` is the wildcard, `\*` a literal star; other characters are escaped like string literals.
const likePattern = fc
  .array(
    fc.oneof(
      { arbitrary: fc.constant('*'), weight: 3 },
      { arbitrary: fc.constant('\\*'), weight: 1 },
      {
        arbitrary: fc
          .constantFrom('a', 'li', 'ce', 'b', 'o', ' ', 'ü', '😀', '"', '\\', '\n')
          .map((s) => cedarString(s).slice(1, -1)),
        weight: 4,
      },
    ),
    { maxLength: 5 },
  )
  .map((parts) => `"${parts.join('')}"`)

const attrAccess = (target: string, name: string) =>
  /^[a-z]+$/.test(name) ? `${target}.${name}` : `${target}[${cedarString(name)}]`

const EXTENSION_STRINGS: Record<string, readonly string[]> = {
  // Cedar refuses IPv4 embedded in IPv6.
  ip: [...IPS, '10.0.0.256', 'not an ip', '::1/129', '::ffff:127.0.0.1'],
  decimal: [...DECIMALS, '1.23456', '1.', 'x', '922337203685477.5808'],
  datetime: [...DATETIMES, '2024-13-01', '2024-10-15T25:00:00Z', 'yesterday', '2024-10-15T11:35:00+2500'],
  duration: [...DURATIONS, '1x', '', '1h1d', '9223372036854775807ms', '-9223372036854775808ms'],
}

interface Exprs {
  bool: string
  long: string
  str: string
  entity: string
  set: string
  record: string
  ip: string
  decimal: string
  datetime: string
  duration: string
  any: string
}

const DEPTH = { depthSize: 'small', maxDepth: 4, depthIdentifier: 'expr', withCrossShrink: true } as const

const exprs = fc.letrec<Exprs>((untypedTie) => {
  // Every expression is Cedar text.
  const tie = (key: keyof Exprs) => untypedTie(key) as Arb<string>
  // Mostly the expected type, now and then anything (a type error at run time, most of the time).
  const loose = (key: keyof Exprs) =>
    fc.oneof({ arbitrary: tie(key), weight: 9 }, { arbitrary: tie('any'), weight: 1 })
  const bin = (op: string, a: Arb<string>, b: Arb<string>) =>
    fc.tuple(a, b).map(([x, y]) => `(${x} ${op} ${y})`)
  const call = (target: Arb<string>, method: string, ...args: Arb<string>[]) =>
    fc.tuple(target, ...args).map(([t, ...a]) => `${t}.${method}(${a.join(', ')})`)
  const ite = (key: keyof Exprs) =>
    fc.tuple(loose('bool'), tie(key), tie(key)).map(([c, t, e]) => `(if ${c} then ${t} else ${e})`)
  const scopeVar = fc.constantFrom('principal', 'resource', 'context', 'action')
  const entityVar = weighted([
    ['principal', 4],
    ['resource', 4],
    ['action', 1],
  ])
  const read = (names: readonly string[]) =>
    fc
      .tuple(
        fc.oneof({ arbitrary: scopeVar, weight: 4 }, { arbitrary: tie('entity'), weight: 1 }),
        fc.constantFrom(...names),
      )
      .map(([t, n]) => attrAccess(t, n))
  const extensionCall = (fn: keyof typeof EXTENSION_STRINGS) =>
    fc.oneof(
      {
        arbitrary: fc.constantFrom(...(EXTENSION_STRINGS[fn] ?? [])).map((s) => `${fn}(${cedarString(s)})`),
        weight: 8,
      },
      // Built from a run-time value, with a wrong argument type, or with the wrong number of arguments.
      { arbitrary: loose('str').map((s) => `${fn}(${s})`), weight: 1 },
      { arbitrary: fc.constantFrom(`${fn}()`, `${fn}("1", "2")`, `${fn}(1)`), weight: 1 },
    )
  const comparison = fc.constantFrom('<', '<=', '>', '>=')
  const often = (weight: number, arbitrary: Arb<string>) => ({ arbitrary, weight })
  return {
    bool: fc.oneof(
      DEPTH,
      fc.constantFrom('true', 'false'),
      read(['flag']),
      often(
        3,
        fc
          .tuple(tie('any'), fc.constantFrom('==', '!='), tie('any'))
          .map(([a, op, b]) => `(${a} ${op} ${b})`),
      ),
      often(
        5,
        fc.tuple(tie('long'), comparison, loose('long')).map(([a, op, b]) => `(${a} ${op} ${b})`),
      ),
      fc.tuple(tie('datetime'), comparison, loose('datetime')).map(([a, op, b]) => `(${a} ${op} ${b})`),
      fc.tuple(tie('duration'), comparison, loose('duration')).map(([a, op, b]) => `(${a} ${op} ${b})`),
      // Extension methods with the wrong number of arguments parse, and fail when evaluated.
      fc
        .tuple(
          fc.oneof(tie('ip'), tie('decimal'), tie('datetime'), tie('duration')),
          fc.constantFrom('lessThan()', 'isLoopback(1)', 'isInRange()', 'toDate(1)', 'offset()', 'toDays(1)'),
        )
        .map(([x, m]) => `${x}.${m}`),
      // Cedar defines no order on decimals and addresses (they have methods): an error, whatever the JSON says.
      fc
        .tuple(fc.oneof(tie('decimal'), tie('ip')), comparison, fc.oneof(tie('decimal'), tie('ip')))
        .map(([a, op, b]) => `(${a} ${op} ${b})`),
      bin('&&', loose('bool'), loose('bool')),
      bin('||', loose('bool'), loose('bool')),
      loose('bool').map((b) => `(!${b})`),
      ite('bool'),
      // `has`: one attribute (any name, quoted when it is no identifier), or a nested path of identifiers.
      fc
        .tuple(loose('entity'), attrName)
        .map(([e, n]) => (/^[a-z]+$/.test(n) ? `(${e} has ${n})` : `(${e} has ${cedarString(n)})`)),
      fc
        .tuple(
          fc.oneof(scopeVar, tie('record')),
          fc.array(fc.constantFrom('info', 'a', 'b', 'c', ...IDENT_ATTRS), { minLength: 1, maxLength: 3 }),
        )
        .map(([e, path]) => `(${e} has ${path.join('.')})`),
      often(2, bin('in', loose('entity'), fc.oneof(tie('entity'), tie('set')))),
      fc.tuple(loose('entity'), typeName).map(([e, t]) => `(${e} is ${t})`),
      fc
        .tuple(loose('entity'), typeName, fc.oneof(tie('entity'), tie('set')))
        .map(([e, t, p]) => `(${e} is ${t} in ${p})`),
      often(
        2,
        fc.tuple(loose('str'), likePattern).map(([s, p]) => `(${s} like ${p})`),
      ),
      call(loose('set'), 'contains', tie('any')),
      call(loose('set'), 'containsAll', loose('set')),
      call(loose('set'), 'containsAny', loose('set')),
      call(loose('set'), 'isEmpty'),
      call(loose('entity'), 'hasTag', loose('str')),
      fc
        .tuple(loose('ip'), fc.constantFrom('isIpv4', 'isIpv6', 'isLoopback', 'isMulticast'))
        .map(([ip, m]) => `${ip}.${m}()`),
      call(loose('ip'), 'isInRange', loose('ip')),
      fc
        .tuple(
          loose('decimal'),
          fc.constantFrom('lessThan', 'lessThanOrEqual', 'greaterThan', 'greaterThanOrEqual'),
          loose('decimal'),
        )
        .map(([a, m, b]) => `${a}.${m}(${b})`),
    ),
    long: fc.oneof(
      DEPTH,
      longLiteral,
      read(['level', 'amount']),
      // Next to the 64-bit edges, where one step overflows (negating the smallest Long included).
      often(
        4,
        fc
          .tuple(
            fc.constantFrom(...LONG_LITERALS),
            fc.constantFrom('+', '-', '*'),
            fc.constantFrom('-1', '0', '1', '2', 'principal.level'),
          )
          .map(([edge, op, step]) => `(${edge} ${op} ${step})`),
      ),
      fc.constantFrom(...LONG_LITERALS).map((edge) => `(-(${edge}))`),
      often(3, bin('+', loose('long'), loose('long'))),
      often(3, bin('-', loose('long'), loose('long'))),
      often(3, bin('*', loose('long'), loose('long'))),
      loose('long').map((x) => `(-${x})`),
      ite('long'),
      call(loose('entity'), 'getTag', loose('str')),
      fc
        .tuple(
          loose('duration'),
          fc.constantFrom('toMilliseconds', 'toSeconds', 'toMinutes', 'toHours', 'toDays'),
        )
        .map(([d, m]) => `${d}.${m}()`),
    ),
    str: fc.oneof(
      DEPTH,
      stringLiteral,
      read(['name']),
      ite('str'),
      call(loose('entity'), 'getTag', stringLiteral),
    ),
    entity: fc.oneof(DEPTH, entityVar, entityLiteralArb, actionLiteral, read(['owner']), ite('entity')),
    set: fc.oneof(
      DEPTH,
      fc
        .array(fc.oneof(entityLiteralArb, stringLiteral, longLiteral), { maxLength: 3 })
        .map((xs) => `[${xs.join(', ')}]`),
      read(['tags']),
      fc.array(fc.oneof(tie('entity'), tie('any')), { maxLength: 3 }).map((xs) => `[${xs.join(', ')}]`),
      ite('set'),
    ),
    record: fc.oneof(
      DEPTH,
      fc.constant('context'),
      read(['info']),
      fc
        .uniqueArray(fc.tuple(fc.constantFrom('a', 'b', '"weird key"', 'c'), tie('any')), {
          maxLength: 3,
          selector: ([k]) => k,
        })
        .map((fields) => `{${fields.map(([k, v]) => `${k}: ${v}`).join(', ')}}`),
      fc.tuple(tie('record'), fc.constantFrom('info', 'b')).map(([r, f]) => `${r}.${f}`),
    ),
    ip: fc.oneof(DEPTH, extensionCall('ip'), read(['addr'])),
    decimal: fc.oneof(DEPTH, extensionCall('decimal'), read(['amount'])),
    datetime: fc.oneof(
      DEPTH,
      extensionCall('datetime'),
      read(['since']),
      call(loose('datetime'), 'offset', loose('duration')),
      call(loose('datetime'), 'toDate'),
    ),
    duration: fc.oneof(
      DEPTH,
      extensionCall('duration'),
      read(['since', 'amount']),
      call(loose('datetime'), 'durationSince', loose('datetime')),
      call(loose('datetime'), 'toTime'),
    ),
    any: fc.oneof(
      DEPTH,
      tie('bool'),
      tie('long'),
      tie('str'),
      tie('entity'),
      tie('set'),
      tie('record'),
      fc.oneof(tie('ip'), tie('decimal'), tie('datetime'), tie('duration')),
      // A record's field, present or not.
      fc.tuple(tie('record'), fc.constantFrom('a', 'b', 'c', 'info')).map(([r, f]) => `${r}.${f}`),
    ),
  }
})

// ---------------------------------------------------------------------------------------------------------------
// Policies and templates.

type Slot = '?principal' | '?resource'

// The types requests use for the principal and the resource.
const requestType = {
  principal: weighted([
    ['User', 4],
    ['Group', 1],
    ['Doc', 1],
  ]),
  resource: weighted([
    ['Doc', 4],
    ['App::Folder', 2],
    ['User', 1],
  ]),
}

const headScope = (variable: 'principal' | 'resource', slot: boolean): Arb<string> => {
  // Mostly the types the requests use for this variable, so that scopes match often.
  const scopedType = fc.oneof(
    { arbitrary: requestType[variable], weight: 3 },
    { arbitrary: typeName, weight: 1 },
  )
  const scoped = fc.oneof(
    { arbitrary: fc.record({ type: requestType[variable], id: entityId }).map(entityLiteral), weight: 3 },
    { arbitrary: entityLiteralArb, weight: 1 },
  )
  const container = fc.oneof(
    {
      arbitrary: fc
        .record({ type: fc.constantFrom('Group', 'App::Folder'), id: entityId })
        .map(entityLiteral),
      weight: 2,
    },
    { arbitrary: scoped, weight: 1 },
  )
  if (slot)
    return fc.oneof(
      fc.constant(`${variable} == ?${variable}`),
      fc.constant(`${variable} in ?${variable}`),
      scopedType.map((t) => `${variable} is ${t} in ?${variable}`),
    )
  return fc.oneof(
    { arbitrary: fc.constant(variable), weight: 9 },
    { arbitrary: scoped.map((e) => `${variable} == ${e}`), weight: 2 },
    { arbitrary: container.map((e) => `${variable} in ${e}`), weight: 2 },
    { arbitrary: scopedType.map((t) => `${variable} is ${t}`), weight: 1 },
    { arbitrary: fc.tuple(scopedType, container).map(([t, e]) => `${variable} is ${t} in ${e}`), weight: 1 },
  )
}

const actionScope: Arb<string> = fc.oneof(
  { arbitrary: fc.constant('action'), weight: 6 },
  { arbitrary: actionLiteral.map((a) => `action == ${a}`), weight: 3 },
  { arbitrary: actionLiteral.map((a) => `action in ${a}`), weight: 2 },
  {
    arbitrary: fc.array(actionLiteral, { maxLength: 3 }).map((as) => `action in [${as.join(', ')}]`),
    weight: 2,
  },
)

const condition: Arb<string> = fc
  .tuple(
    fc.constantFrom('when', 'unless'),
    fc.oneof(
      { arbitrary: exprs.bool, weight: 100 },
      // Not a boolean: an error when evaluated.
      { arbitrary: exprs.any, weight: 5 },
      // A built-in method with the wrong number of arguments does not parse: the whole set does not load.
      { arbitrary: exprs.set.map((x) => `${x}.isEmpty(1)`), weight: 1 },
    ),
  )
  .map(([kind, body]) => `${kind} { ${body} }`)

const annotations: Arb<string[]> = fc.subarray([
  '@doc("generated")',
  '@approval("sponsor")',
  '@max_ttl("60")',
  '@flag',
])

/** One policy's text, with or without slots. */
const policyText = (slots: readonly Slot[]) =>
  fc
    .record({
      annotations,
      effect: weighted([
        ['permit', 3],
        ['forbid', 2],
      ]),
      principal: headScope('principal', slots.includes('?principal')),
      action: actionScope,
      resource: headScope('resource', slots.includes('?resource')),
      conditions: fc.oneof(
        { arbitrary: fc.array(condition, { maxLength: 1 }), weight: 4 },
        { arbitrary: fc.array(condition, { minLength: 2, maxLength: 2 }), weight: 1 },
      ),
    })
    .map(
      (p) =>
        `${p.annotations.map((a) => `${a}\n`).join('')}${p.effect} (\n  ${p.principal},\n  ${p.action},\n  ${p.resource}\n)` +
        `${p.conditions.map((c) => `\n${c}`).join('')};`,
    )

// Ids that sort unlike the text order, so that an evaluator reporting ids by position or re-sorting is caught.
const POLICY_IDS = ['policy0', 'policy1', 'policy2', 'policy10', 'read-own', 'Z', 'a.b:c', 'deny all']

// The id is the policy's `@id` annotation when it has one (as Mandate names policies), else only the key it is loaded
// under.
const staticPolicies: Arb<PolicyText[]> = fc
  .uniqueArray(
    fc.record({ id: fc.constantFrom(...POLICY_IDS), annotated: fc.boolean(), text: policyText([]) }),
    {
      minLength: 1,
      maxLength: 6,
      selector: (p) => p.id,
    },
  )
  .map((policies) =>
    policies.map(({ id, annotated, text }) => ({
      id,
      text: annotated ? `@id(${cedarString(id)})\n${text}` : text,
    })),
  )

const SLOTS: Slot[][] = [['?principal'], ['?resource'], ['?principal', '?resource']]

const templateArb: Arb<{
  text: string
  slots: Slot[]
  links: Array<{ principal: EntityRef; resource: EntityRef }>
}> = fc.constantFrom(...SLOTS).chain((slots) =>
  fc.record({
    slots: fc.constant(slots),
    text: policyText(slots),
    links: fc.array(fc.record({ principal: entityRef, resource: entityRef }), { maxLength: 3 }),
  }),
)

/** A policy set: 1 to 6 static policies, and now and then templates with their links. */
export const policySetArb: Arb<Pick<CedarCase, 'policies' | 'templates' | 'links'>> = fc
  .tuple(
    staticPolicies,
    fc.oneof(
      { arbitrary: fc.constant([]), weight: 3 },
      { arbitrary: fc.array(templateArb, { maxLength: 2 }), weight: 1 },
    ),
  )
  .map(([policies, templates]) => {
    const named: PolicyText[] = templates.map((t, i) => ({ id: `template${i}`, text: t.text }))
    const links: TemplateLinkCase[] = templates.flatMap((t, i) =>
      t.links.map((link, j) => ({
        templateId: `template${i}`,
        id: `link${i}.${j}`,
        principal: t.slots.includes('?principal') ? link.principal : undefined,
        resource: t.slots.includes('?resource') ? link.resource : undefined,
      })),
    )
    return { policies, templates: named, links }
  })

// ---------------------------------------------------------------------------------------------------------------
// Requests.

const contextArb: Arb<Record<string, CedarValueJson>> = jsonAttrs

/** A request from the same vocabulary. */
export const requestArb: Arb<CedarCase['request']> = fc.record({
  principal: fc.record({ type: requestType.principal, id: entityId }),
  action: actionName,
  resource: fc.record({ type: requestType.resource, id: entityId }),
  context: contextArb,
})

/** Entities and a request; the request's principal and resource exist most of the time. */
export const situationArb: Arb<Pick<CedarCase, 'entities' | 'request'>> = fc
  .record({
    entities: entitiesArb,
    request: requestArb,
    principal: fc.option(entityBody(fc.constant({ type: '', id: '' })), { freq: 5, nil: undefined }),
    resource: fc.option(entityBody(fc.constant({ type: '', id: '' })), { freq: 5, nil: undefined }),
    keepCycles: fc.nat(29).map((n) => n === 0),
    escapedUids: fc.nat(9).map((n) => n === 0),
  })
  .map(({ entities, request, principal, resource, keepCycles, escapedUids }) => {
    const all = [
      ...(principal ? [{ ...principal, uid: request.principal }] : []),
      ...(resource ? [{ ...resource, uid: request.resource }] : []),
      ...entities,
    ]
    // Cedar refuses two entities with one uid: the first one placed stays.
    const seen = new Set<string>()
    const distinct = all.filter((e) => {
      const key = uidKey(e.uid as EntityRef)
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
    const graph = keepCycles ? distinct : distinct.map(withoutCycles)
    // Cedar reads a uid written `{"__entity": {"type", "id"}}` as well.
    const escaped = (uid: EntityJson['uid']) => ({ __entity: uid as EntityRef })
    return {
      entities: escapedUids
        ? graph.map((e) => ({ ...e, uid: escaped(e.uid), parents: e.parents.map(escaped) }))
        : graph,
      request,
    }
  })

/** A whole case: policy set, entities and request. */
export const cedarCaseArb: Arb<CedarCase> = fc
  .tuple(policySetArb, situationArb)
  .map(([set, situation]) => ({ ...set, ...situation }))

// Cedar refuses a hierarchy with a cycle (the whole request fails): keep one now and then, and otherwise only parents
// that rank above their child, Groups and Folders above Users and Docs, action groups above actions.
const TYPE_RANK: Record<string, number> = { User: 0, Doc: 1, Group: 2, 'App::Folder': 3, Action: 4 }
const ACTION_RANK: Record<string, number> = { read: 0, write: 1, 'odd "action"': 2, all: 3 }
const ranksAbove = (parent: EntityRef, child: EntityRef): boolean => {
  const byType = (TYPE_RANK[parent.type] ?? 0) - (TYPE_RANK[child.type] ?? 0)
  if (byType !== 0) return byType > 0
  if (parent.type === 'Action') return (ACTION_RANK[parent.id] ?? 0) > (ACTION_RANK[child.id] ?? 0)
  return parent.id > child.id
}
const withoutCycles = (entity: EntityJson): EntityJson => ({
  ...entity,
  parents: entity.parents.filter((p) => ranksAbove(p as EntityRef, entity.uid as EntityRef)),
})
