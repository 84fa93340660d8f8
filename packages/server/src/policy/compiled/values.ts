// Cedar values as the compiled evaluator holds them in memory. Every module of the compiled evaluator (the compiler,
// the extensions, the entity store that feeds it) speaks this one representation:
//
//   Bool      boolean
//   Long      number when it is a safe integer, bigint otherwise (always within 64-bit signed range). The form is
//             canonical: a bigint that fits a safe integer is never produced, so `===` compares two Longs.
//   String    string
//   Entity    EntityUid (interned by `entityUid`, so two references to one entity are the same object)
//   Set       CedarSet
//   Record    CedarRecord
//   Extension ExtensionValue (ipaddr, decimal, datetime, duration)

/** An error while evaluating one policy: Cedar skips that policy and reports it. */
export class EvaluationError extends Error {}

/** An entity reference, interned: compare with `===`. `key` is `Type::"id"` in Cedar's escaped form. */
export class EntityUid {
  private escaped: string | undefined

  /** @internal use `entityUid()` or `RequestUids` */
  constructor(
    readonly type: string,
    readonly id: string,
  ) {}

  /** `Type::"id"`, made on first use (most uids a request names are never keyed). */
  get key(): string {
    this.escaped ??= `${this.type}::${JSON.stringify(this.id)}`
    return this.escaped
  }
}

const interned = new Map<string, Map<string, EntityUid>>()
let internedCount = 0

/**
 * The one EntityUid for a type and id, interned for the life of the process: for the ids the registry, the policies
 * and the schema name. Ids only a request names go through `RequestUids`, so that callers cannot grow the table.
 */
export function entityUid(type: string, id: string): EntityUid {
  let ofType = interned.get(type)
  if (!ofType) {
    ofType = new Map()
    interned.set(type, ofType)
  }
  let uid = ofType.get(id)
  if (!uid) {
    uid = new EntityUid(type, id)
    ofType.set(id, uid)
    internedCount++
  }
  return uid
}

/** How many EntityUids are interned (for tests and diagnostics). */
export function internedUids(): number {
  return internedCount
}

/** Where a conversion gets its EntityUids: interned (`INTERNED`) or for one request (`RequestUids`). */
export interface UidSource {
  uid(type: string, id: string): EntityUid
}

/** Interned uids, for what the registry, the policies and the schema name. */
export const INTERNED: UidSource = { uid: entityUid }

/**
 * The EntityUids of one request: the interned one when the registry or the policies made it, else one made for this
 * request and shared by every reference to it within the request (so `==` and `in` compare as Cedar does), never
 * interned. A request is decided synchronously once its values are made, so no interning can come in between.
 * @example
 * const uids = new RequestUids()
 * uids.uid('doc', 'never-registered') === uids.uid('doc', 'never-registered') // true, and not interned
 */
export class RequestUids implements UidSource {
  private own: Map<string, Map<string, EntityUid>> | undefined

  uid(type: string, id: string): EntityUid {
    const known = interned.get(type)?.get(id)
    if (known) return known
    this.own ??= new Map()
    let ofType = this.own.get(type)
    if (!ofType) {
      ofType = new Map()
      this.own.set(type, ofType)
    }
    let uid = ofType.get(id)
    if (!uid) {
      uid = new EntityUid(type, id)
      ofType.set(id, uid)
    }
    return uid
  }
}

/** An extension value. Subclasses say how two values of the same type compare for equality. */
export abstract class ExtensionValue {
  abstract readonly extension: 'ipaddr' | 'decimal' | 'datetime' | 'duration'
  /** Cedar equality with another value of the same extension type. */
  abstract equals(other: ExtensionValue): boolean
  /** A string equal for equal values and different otherwise (for set membership and hashing). */
  abstract key(): string
}

/** A Cedar set: distinct elements (by Cedar equality), in first-seen order. */
export class CedarSet {
  /** @internal use `cedarSet()` */
  constructor(
    readonly items: readonly Value[],
    private readonly keys: ReadonlySet<string>,
  ) {}
  has(value: Value): boolean {
    return this.keys.has(valueKey(value))
  }
  get size(): number {
    return this.items.length
  }
}

/** A Cedar record: attribute name to value. */
export class CedarRecord {
  constructor(readonly fields: ReadonlyMap<string, Value>) {}
  get(name: string): Value | undefined {
    return this.fields.get(name)
  }
  has(name: string): boolean {
    return this.fields.has(name)
  }
}

export type Long = number | bigint
export type Value = boolean | Long | string | EntityUid | CedarSet | CedarRecord | ExtensionValue

/** Builds a set, dropping duplicates. */
export function cedarSet(values: Iterable<Value>): CedarSet {
  const items: Value[] = []
  const keys = new Set<string>()
  for (const value of values) {
    const key = valueKey(value)
    if (keys.has(key)) continue
    keys.add(key)
    items.push(value)
  }
  return new CedarSet(items, keys)
}

const MIN_LONG = -(2n ** 63n)
const MAX_LONG = 2n ** 63n - 1n

/** A Long in canonical form, or an overflow error. */
export function long(value: bigint): Long {
  if (value < MIN_LONG || value > MAX_LONG) throw new EvaluationError('integer overflow')
  const n = Number(value)
  return Number.isSafeInteger(n) ? n : value
}

/** A string that is equal for Cedar-equal values and different otherwise. */
export function valueKey(value: Value): string {
  switch (typeof value) {
    case 'boolean':
      return value ? 'b1' : 'b0'
    case 'number':
    case 'bigint':
      return `l${value}`
    case 'string':
      return `s${value}`
  }
  if (value instanceof EntityUid) return `e${value.key}`
  if (value instanceof ExtensionValue) return `x${value.extension}:${value.key()}`
  if (value instanceof CedarSet)
    return `[${value.items
      .map(valueKey)
      .sort()
      .map((k) => JSON.stringify(k))
      .join(',')}]`
  return `{${[...value.fields.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(valueKey(v))}`)
    .join(',')}}`
}

/** Cedar equality (`==`): values of different types are unequal, never an error. */
export function cedarEquals(a: Value, b: Value): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object') return false
  if (a instanceof ExtensionValue)
    return b instanceof ExtensionValue && a.extension === b.extension && a.equals(b)
  if (a instanceof CedarSet) {
    if (!(b instanceof CedarSet) || a.size !== b.size) return false
    return a.items.every((item) => b.has(item))
  }
  if (a instanceof CedarRecord) {
    if (!(b instanceof CedarRecord) || a.fields.size !== b.fields.size) return false
    for (const [name, value] of a.fields) {
      const other = b.fields.get(name)
      if (other === undefined || !cedarEquals(value, other)) return false
    }
    return true
  }
  return false
}

/** An entity as the evaluator reads it: attributes, tags and every ancestor (transitively), precomputed. */
export interface CompiledEntity {
  uid: EntityUid
  attrs: CedarRecord
  tags?: CedarRecord | undefined
  /** All ancestors, transitively (not the entity itself). */
  ancestors: ReadonlySet<EntityUid>
}

/** Where the evaluator finds entities: a request's slice, or the node's in-memory store. */
export interface EntityLookup {
  get(uid: EntityUid): CompiledEntity | undefined
}

/** One request in the compiled evaluator's own form: no JSON, no copying. */
export interface CompiledRequest {
  principal: EntityUid
  action: EntityUid
  resource: EntityUid
  context: CedarRecord
}
