// Compiles one Cedar policy, in its JSON form (the EST cedar-wasm gives), into JavaScript closures over the compiled
// evaluator's values: a scope test that never fails and a condition that may raise an EvaluationError. Constant
// sub-expressions (literals, sets and records of literals, extension calls on literals) are computed once, here.
// Whatever this compiler does not know is an UnsupportedConstruct: the caller then evaluates the whole set elsewhere.
import { type Extensions, InvalidInput, uidFromJson, valueFromJson } from './json-values.ts'
import {
  CedarRecord,
  CedarSet,
  type CompiledRequest,
  cedarEquals,
  cedarSet,
  type EntityLookup,
  EntityUid,
  EvaluationError,
  ExtensionValue,
  type Long,
  long,
  type Value,
} from './values.ts'

/** A construct the compiler does not handle; `construct` names it (for the metric and the log line). */
export class UnsupportedConstruct extends Error {
  constructor(readonly construct: string) {
    super(`the compiled evaluator does not handle ${construct}`)
  }
}

/** A compiled expression: evaluates against one request and its entities, or throws an EvaluationError. */
export type Evaluate = (request: CompiledRequest, entities: EntityLookup) => Value

/** A scope test (`principal in ...`, `action == ...`): never fails. */
export type ScopeTest = (request: CompiledRequest, entities: EntityLookup) => boolean

/** How one of principal, action, resource is constrained by a policy's scope. */
export interface ScopeConstraint {
  /** The entity type it must have (`==`, `is`), or undefined when any type may match. */
  type: string | undefined
  /** For the action: the entities it must be or descend from (undefined: any action). */
  entities: readonly EntityUid[] | undefined
}

/** One compiled policy. */
export interface CompiledPolicy {
  id: string
  effect: 'permit' | 'forbid'
  principal: ScopeConstraint
  action: ScopeConstraint
  resource: ScopeConstraint
  /** The whole scope. */
  scope: ScopeTest
  /** The conditions, in order; undefined when there are none. Throws an EvaluationError when one errors. */
  condition: ((request: CompiledRequest, entities: EntityLookup) => boolean) | undefined
}

/** Slot values of a template link (`?principal`, `?resource`). */
export type SlotValues = ReadonlyMap<string, EntityUid>

type Json = Record<string, unknown>

interface Node {
  run: Evaluate
  /** Set when the expression is a constant (then `run` returns it). */
  constant?: Value
}

function isObject(json: unknown): json is Json {
  return typeof json === 'object' && json !== null && !Array.isArray(json)
}

/** Compiles a policy (or a template with its slot values) from its JSON form. */
export function compilePolicy(
  id: string,
  est: unknown,
  extensions: Extensions,
  slots: SlotValues = new Map(),
): CompiledPolicy {
  if (!isObject(est)) throw new UnsupportedConstruct('a policy that is not a JSON object')
  const effect = est.effect
  if (effect !== 'permit' && effect !== 'forbid') throw new UnsupportedConstruct(`effect ${String(effect)}`)
  const compiler = new Compiler(extensions, slots)
  const principal = compiler.scope(est.principal, 'principal')
  const action = compiler.scope(est.action, 'action')
  const resource = compiler.scope(est.resource, 'resource')
  const conditions = est.conditions ?? []
  if (!Array.isArray(conditions)) throw new UnsupportedConstruct('conditions that are not a list')
  const tests = [principal.test, action.test, resource.test].filter((t) => t !== undefined)
  return {
    id,
    effect,
    principal: principal.constraint,
    action: action.constraint,
    resource: resource.constraint,
    scope: allOf(tests),
    condition: conditions.length === 0 ? undefined : compiler.conditions(conditions),
  }
}

function allOf(tests: ScopeTest[]): ScopeTest {
  const [a, b, c] = tests
  if (!a) return () => true
  if (!b) return a
  if (!c) return (r, s) => a(r, s) && b(r, s)
  return (r, s) => a(r, s) && b(r, s) && c(r, s)
}

function typeError(expected: string, got: Value): EvaluationError {
  return new EvaluationError(`type error: expected ${expected}, got ${typeName(got)}`)
}

function typeName(value: Value): string {
  switch (typeof value) {
    case 'boolean':
      return 'bool'
    case 'number':
    case 'bigint':
      return 'long'
    case 'string':
      return 'string'
  }
  if (value instanceof EntityUid) return `entity of type ${value.type}`
  if (value instanceof CedarSet) return 'set'
  if (value instanceof CedarRecord) return 'record'
  return value.extension
}

function asBool(value: Value): boolean {
  if (typeof value !== 'boolean') throw typeError('bool', value)
  return value
}

function asLong(value: Value): Long {
  if (typeof value !== 'number' && typeof value !== 'bigint') throw typeError('long', value)
  return value
}

function asEntity(value: Value): EntityUid {
  if (!(value instanceof EntityUid)) throw typeError('entity', value)
  return value
}

function asSet(value: Value): CedarSet {
  if (!(value instanceof CedarSet)) throw typeError('set', value)
  return value
}

function asString(value: Value): string {
  if (typeof value !== 'string') throw typeError('string', value)
  return value
}

/** `entity in ancestor`: the entity itself, or one of its ancestors (none when the store does not hold it). */
function isIn(entity: EntityUid, ancestor: EntityUid, entities: EntityLookup): boolean {
  return entity === ancestor || entities.get(entity)?.ancestors.has(ancestor) === true
}

/** Cedar's `in` with an entity or a set of entities on the right. */
function inValue(entity: EntityUid, right: Value, entities: EntityLookup): boolean {
  if (right instanceof EntityUid) return isIn(entity, right, entities)
  if (!(right instanceof CedarSet)) throw typeError('entity or set', right)
  // Every element must be an entity, even after a match (Cedar checks them all first).
  for (const item of right.items) asEntity(item)
  const ancestors = entities.get(entity)?.ancestors
  for (const item of right.items) if (item === entity || ancestors?.has(item as EntityUid)) return true
  return false
}

function add(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    const sum = a + b
    // Both operands are safe integers: a safe result is exact, an unsafe one is redone in bigint.
    if (Number.isSafeInteger(sum)) return sum
  }
  return long(BigInt(a) + BigInt(b))
}

function subtract(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    const difference = a - b
    if (Number.isSafeInteger(difference)) return difference
  }
  return long(BigInt(a) - BigInt(b))
}

function multiply(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    const product = a * b
    // -0 is not a Long: 0 * -5 is 0.
    if (Number.isSafeInteger(product)) return product === 0 ? 0 : product
  }
  return long(BigInt(a) * BigInt(b))
}

function negate(a: Long): Long {
  if (typeof a === 'number') return a === 0 ? 0 : -a
  return long(-a)
}

/** Cedar's ordering: Longs, or extension values where Cedar defines it. */
function compare(a: Value, b: Value, extensions: Extensions): number {
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint'))
    return a < b ? -1 : a > b ? 1 : 0
  if (a instanceof ExtensionValue && b instanceof ExtensionValue) {
    const order = extensions.compare(a, b)
    if (order !== undefined) return order
    throw new EvaluationError(`type error: ${a.extension} and ${b.extension} cannot be compared`)
  }
  throw new EvaluationError(`type error: ${typeName(a)} and ${typeName(b)} cannot be compared`)
}

function attribute(value: Value, name: string, entities: EntityLookup): Value {
  let found: Value | undefined
  if (value instanceof EntityUid) {
    const entity = entities.get(value)
    if (!entity) throw new EvaluationError(`entity ${value.key} does not exist`)
    found = entity.attrs.get(name)
    if (found === undefined)
      throw new EvaluationError(`${value.key} has no attribute ${JSON.stringify(name)}`)
    return found
  }
  if (value instanceof CedarRecord) {
    found = value.get(name)
    if (found === undefined) throw new EvaluationError(`record has no attribute ${JSON.stringify(name)}`)
    return found
  }
  throw typeError('entity or record', value)
}

function hasAttribute(value: Value, name: string, entities: EntityLookup): boolean {
  if (value instanceof EntityUid) return entities.get(value)?.attrs.has(name) === true
  if (value instanceof CedarRecord) return value.has(name)
  throw typeError('entity or record', value)
}

/** A `like` pattern as an anchored regular expression over code points. */
function likePattern(pattern: unknown): RegExp {
  if (!Array.isArray(pattern)) throw new UnsupportedConstruct('a like pattern that is not a list')
  let source = ''
  for (const element of pattern) {
    if (element === 'Wildcard') source += '[\\s\\S]*'
    else if (isObject(element) && typeof element.Literal === 'string')
      source += element.Literal.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')
    else throw new UnsupportedConstruct('a like pattern element')
  }
  return new RegExp(`^${source}$`, 'u')
}

const VARIABLES = new Set(['principal', 'action', 'resource', 'context'])

class Compiler {
  constructor(
    private readonly extensions: Extensions,
    private readonly slots: SlotValues,
  ) {}

  scope(
    json: unknown,
    variable: 'principal' | 'action' | 'resource',
  ): {
    constraint: ScopeConstraint
    test: ScopeTest | undefined
  } {
    if (!isObject(json)) throw new UnsupportedConstruct(`a ${variable} scope that is not a JSON object`)
    const pick = (r: CompiledRequest): EntityUid => r[variable]
    switch (json.op) {
      case 'All':
        return { constraint: { type: undefined, entities: undefined }, test: undefined }
      case '==': {
        const uid = this.scopeEntity(json)
        return {
          constraint: { type: uid.type, entities: [uid] },
          test: (r) => pick(r) === uid,
        }
      }
      case 'in': {
        if (Array.isArray(json.entities)) {
          const uids = json.entities.map(uidFromJson)
          return {
            constraint: { type: undefined, entities: uids },
            test: (r, s) => uids.some((uid) => isIn(pick(r), uid, s)),
          }
        }
        const uid = this.scopeEntity(json)
        return {
          constraint: { type: undefined, entities: [uid] },
          test: (r, s) => isIn(pick(r), uid, s),
        }
      }
      case 'is': {
        const type = json.entity_type
        if (typeof type !== 'string') throw new UnsupportedConstruct(`an is scope without a type`)
        if (json.in === undefined)
          return { constraint: { type, entities: undefined }, test: (r) => pick(r).type === type }
        const uid = this.scopeEntity(json.in)
        return {
          constraint: { type, entities: [uid] },
          test: (r, s) => {
            const entity = pick(r)
            return entity.type === type && isIn(entity, uid, s)
          },
        }
      }
    }
    throw new UnsupportedConstruct(`scope operator ${String(json.op)}`)
  }

  private scopeEntity(json: unknown): EntityUid {
    if (!isObject(json)) throw new UnsupportedConstruct('a scope entity that is not a JSON object')
    if (typeof json.slot === 'string') {
      const uid = this.slots.get(json.slot)
      if (!uid) throw new UnsupportedConstruct(`an unfilled slot ${json.slot}`)
      return uid
    }
    try {
      return uidFromJson(json.entity)
    } catch (error) {
      if (error instanceof InvalidInput) throw new UnsupportedConstruct('a scope entity of unknown form')
      throw error
    }
  }

  conditions(conditions: unknown[]): (r: CompiledRequest, s: EntityLookup) => boolean {
    const parts = conditions.map((condition) => {
      if (!isObject(condition) || (condition.kind !== 'when' && condition.kind !== 'unless'))
        throw new UnsupportedConstruct('a condition of unknown kind')
      return { when: condition.kind === 'when', body: this.expr(condition.body).run }
    })
    if (parts.length === 1) {
      const [{ when, body }] = parts as [{ when: boolean; body: Evaluate }]
      return when ? (r, s) => asBool(body(r, s)) : (r, s) => !asBool(body(r, s))
    }
    return (r, s) => {
      for (const { when, body } of parts) if (asBool(body(r, s)) !== when) return false
      return true
    }
  }

  expr(json: unknown): Node {
    if (!isObject(json)) throw new UnsupportedConstruct('an expression that is not a JSON object')
    const keys = Object.keys(json)
    if (keys.length !== 1) throw new UnsupportedConstruct('an expression with several operators')
    const op = keys[0] as string
    const arg = json[op]
    switch (op) {
      case 'Value':
        return this.literal(arg)
      case 'Var': {
        if (typeof arg !== 'string' || !VARIABLES.has(arg))
          throw new UnsupportedConstruct(`variable ${String(arg)}`)
        const variable = arg as 'principal' | 'action' | 'resource' | 'context'
        return { run: (r) => r[variable] }
      }
      case 'Slot':
        throw new UnsupportedConstruct('a template slot in a condition')
      case 'Unknown':
        throw new UnsupportedConstruct('an unknown (partial evaluation)')
      case '!':
        return this.unary(arg, (a) => !asBool(a))
      case 'neg':
        return this.unary(arg, (a) => negate(asLong(a)))
      case 'isEmpty':
        return this.unary(arg, (a) => asSet(a).size === 0)
      case '==':
        return this.equality(arg, true)
      case '!=':
        return this.equality(arg, false)
      case 'in': {
        const { left, right } = this.operands(arg)
        return { run: (r, s) => inValue(asEntity(left(r, s)), right(r, s), s) }
      }
      case '<':
        return this.comparison(arg, (order) => order < 0)
      case '<=':
        return this.comparison(arg, (order) => order <= 0)
      case '>':
        return this.comparison(arg, (order) => order > 0)
      case '>=':
        return this.comparison(arg, (order) => order >= 0)
      case '&&': {
        const { left, right } = this.operands(arg)
        return { run: (r, s) => asBool(left(r, s)) && asBool(right(r, s)) }
      }
      case '||': {
        const { left, right } = this.operands(arg)
        return { run: (r, s) => asBool(left(r, s)) || asBool(right(r, s)) }
      }
      case '+':
        return this.arithmetic(arg, add)
      case '-':
        return this.arithmetic(arg, subtract)
      case '*':
        return this.arithmetic(arg, multiply)
      case 'contains': {
        const { left, right } = this.operands(arg)
        return { run: (r, s) => asSet(left(r, s)).has(right(r, s)) }
      }
      case 'containsAll': {
        const { left, right } = this.operands(arg)
        return {
          run: (r, s) => {
            const set = asSet(left(r, s))
            return asSet(right(r, s)).items.every((item) => set.has(item))
          },
        }
      }
      case 'containsAny': {
        const { left, right } = this.operands(arg)
        return {
          run: (r, s) => {
            const set = asSet(left(r, s))
            return asSet(right(r, s)).items.some((item) => set.has(item))
          },
        }
      }
      case 'hasTag': {
        const { left, right } = this.operands(arg)
        return {
          run: (r, s) => {
            const entity = asEntity(left(r, s))
            const tag = asString(right(r, s))
            return s.get(entity)?.tags?.has(tag) === true
          },
        }
      }
      case 'getTag': {
        const { left, right } = this.operands(arg)
        return {
          run: (r, s) => {
            const uid = asEntity(left(r, s))
            const tag = asString(right(r, s))
            const entity = s.get(uid)
            if (!entity) throw new EvaluationError(`entity ${uid.key} does not exist`)
            const value = entity.tags?.get(tag)
            if (value === undefined) throw new EvaluationError(`${uid.key} has no tag ${JSON.stringify(tag)}`)
            return value
          },
        }
      }
      case '.': {
        const { left, attr } = this.attributeOperands(arg)
        return { run: (r, s) => attribute(left(r, s), attr, s) }
      }
      case 'has':
        return this.has(arg)
      case 'like': {
        if (!isObject(arg)) throw new UnsupportedConstruct('like without operands')
        const left = this.expr(arg.left).run
        const pattern = likePattern(arg.pattern)
        return { run: (r, s) => pattern.test(asString(left(r, s))) }
      }
      case 'is': {
        if (!isObject(arg) || typeof arg.entity_type !== 'string')
          throw new UnsupportedConstruct('is without a type')
        const type = arg.entity_type
        const left = this.expr(arg.left).run
        if (arg.in === undefined) return { run: (r, s) => asEntity(left(r, s)).type === type }
        const ancestor = this.expr(arg.in).run
        return {
          run: (r, s) => {
            const entity = asEntity(left(r, s))
            if (entity.type !== type) return false
            return inValue(entity, ancestor(r, s), s)
          },
        }
      }
      case 'if-then-else': {
        if (!isObject(arg)) throw new UnsupportedConstruct('if-then-else without operands')
        const test = this.expr(arg.if).run
        const then = this.expr(arg.then).run
        const otherwise = this.expr(arg.else).run
        return { run: (r, s) => (asBool(test(r, s)) ? then(r, s) : otherwise(r, s)) }
      }
      case 'Set':
        return this.set(arg)
      case 'Record':
        return this.record(arg)
    }
    return this.extensionCall(op, arg)
  }

  private literal(json: unknown): Node {
    let value: Value
    try {
      value = valueFromJson(json, this.extensions)
    } catch (error) {
      if (error instanceof InvalidInput) throw new UnsupportedConstruct(`the literal (${error.message})`)
      throw error
    }
    return { run: () => value, constant: value }
  }

  private operands(json: unknown): { left: Evaluate; right: Evaluate; leftNode: Node; rightNode: Node } {
    if (!isObject(json)) throw new UnsupportedConstruct('an operator without operands')
    const leftNode = this.expr(json.left)
    const rightNode = this.expr(json.right)
    return { left: leftNode.run, right: rightNode.run, leftNode, rightNode }
  }

  private unary(json: unknown, apply: (value: Value) => Value): Node {
    if (!isObject(json)) throw new UnsupportedConstruct('an operator without its operand')
    const operand = this.expr(json.arg).run
    return { run: (r, s) => apply(operand(r, s)) }
  }

  private equality(json: unknown, equal: boolean): Node {
    const { left, right, rightNode, leftNode } = this.operands(json)
    // A constant that is not a set, record or extension value is equal only to itself (Longs are canonical,
    // entities interned): `===` decides.
    const constant = rightNode.constant ?? leftNode.constant
    if (constant !== undefined && (typeof constant !== 'object' || constant instanceof EntityUid)) {
      const other = rightNode.constant !== undefined ? left : right
      return equal ? { run: (r, s) => other(r, s) === constant } : { run: (r, s) => other(r, s) !== constant }
    }
    return equal
      ? { run: (r, s) => cedarEquals(left(r, s), right(r, s)) }
      : { run: (r, s) => !cedarEquals(left(r, s), right(r, s)) }
  }

  private comparison(json: unknown, test: (order: number) => boolean): Node {
    const { left, right } = this.operands(json)
    const { extensions } = this
    return {
      run: (r, s) => {
        const a = left(r, s)
        const b = right(r, s)
        return test(compare(a, b, extensions))
      },
    }
  }

  private arithmetic(json: unknown, apply: (a: Long, b: Long) => Long): Node {
    const { left, right } = this.operands(json)
    return { run: (r, s) => apply(asLong(left(r, s)), asLong(right(r, s))) }
  }

  private attributeOperands(json: unknown): { left: Evaluate; attr: string } {
    if (!isObject(json) || typeof json.attr !== 'string')
      throw new UnsupportedConstruct('an attribute access form')
    return { left: this.expr(json.left).run, attr: json.attr }
  }

  // `e has a.b.c` is `e has a && e.a has b && e.a.b has c`.
  private has(json: unknown): Node {
    if (!isObject(json)) throw new UnsupportedConstruct('has without operands')
    const path = typeof json.attr === 'string' ? [json.attr] : json.attr
    if (!Array.isArray(path) || path.length === 0 || !path.every((a) => typeof a === 'string'))
      throw new UnsupportedConstruct('a has with an attribute path of unknown form')
    const left = this.expr(json.left).run
    const names = path as string[]
    if (names.length === 1) {
      const [name] = names as [string]
      return { run: (r, s) => hasAttribute(left(r, s), name, s) }
    }
    return {
      run: (r, s) => {
        let value = left(r, s)
        for (let i = 0; i < names.length; i++) {
          const name = names[i] as string
          if (!hasAttribute(value, name, s)) return false
          if (i < names.length - 1) value = attribute(value, name, s)
        }
        return true
      },
    }
  }

  private set(json: unknown): Node {
    if (!Array.isArray(json)) throw new UnsupportedConstruct('a set literal that is not a list')
    const items = json.map((item) => this.expr(item))
    if (items.every((item) => item.constant !== undefined)) {
      const value = cedarSet(items.map((item) => item.constant as Value))
      return { run: () => value, constant: value }
    }
    const runs = items.map((item) => item.run)
    return { run: (r, s) => cedarSet(runs.map((run) => run(r, s))) }
  }

  private record(json: unknown): Node {
    if (!isObject(json)) throw new UnsupportedConstruct('a record literal that is not an object')
    const fields = Object.keys(json).map((name) => ({ name, node: this.expr(json[name]) }))
    if (fields.every(({ node }) => node.constant !== undefined)) {
      const value = new CedarRecord(new Map(fields.map(({ name, node }) => [name, node.constant as Value])))
      return { run: () => value, constant: value }
    }
    return {
      run: (r, s) => new CedarRecord(new Map(fields.map(({ name, node }) => [name, node.run(r, s)]))),
    }
  }

  private extensionCall(name: string, json: unknown): Node {
    const fn = this.extensions.functions.get(name)
    if (!fn) throw new UnsupportedConstruct(`the function or operator ${name}`)
    if (!Array.isArray(json)) throw new UnsupportedConstruct(`a call of ${name} without an argument list`)
    const args = json.map((arg) => this.expr(arg))
    if (args.every((arg) => arg.constant !== undefined)) {
      // Extension functions are pure: call once now. An error is raised when the call is reached, as Cedar does.
      const values = args.map((arg) => arg.constant as Value)
      try {
        const value = fn(values)
        return { run: () => value, constant: value }
      } catch (error) {
        if (!(error instanceof EvaluationError)) throw error
        return {
          run: () => {
            throw error
          },
        }
      }
    }
    const runs = args.map((arg) => arg.run)
    return { run: (r, s) => fn(runs.map((run) => run(r, s))) }
  }
}
