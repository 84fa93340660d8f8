// Cedar's JSON forms of values and entities (the entity, context and `Value` formats) read into the compiled
// evaluator's values. Integers arrive as number or bigint (see json.ts): both are kept exact or refused, never rounded.
import {
  CedarRecord,
  type CompiledEntity,
  cedarSet,
  type EntityLookup,
  type EntityUid,
  type ExtensionValue,
  entityUid,
  long,
  type Value,
} from './values.ts'

/** Extension functions and comparisons, by Cedar name (see extensions.ts): passed in, so the compiler owns none. */
export interface Extensions {
  /** Functions and methods by the name the EST gives them; methods take their receiver first. */
  functions: ReadonlyMap<string, (args: readonly Value[]) => Value>
  /** `<`, `<=`, `>`, `>=` between extension values; undefined when Cedar does not define it for them. */
  compare(a: ExtensionValue, b: ExtensionValue): number | undefined
}

/** Input that is not a valid Cedar value or entity: the whole request cannot be evaluated. */
export class InvalidInput extends Error {}

/** A JSON value as the converters accept it: JSON.parse's output, where integers may also be bigint. */
export type JsonInput = unknown

function isObject(json: unknown): json is Record<string, unknown> {
  return typeof json === 'object' && json !== null && !Array.isArray(json)
}

/** An entity reference in `{"type", "id"}` or `{"__entity": {...}}` form. */
export function uidFromJson(json: JsonInput): EntityUid {
  const inner = isObject(json) && isObject(json.__entity) ? json.__entity : json
  if (!isObject(inner) || typeof inner.type !== 'string' || typeof inner.id !== 'string')
    throw new InvalidInput(`not an entity reference: ${describe(json)}`)
  return entityUid(inner.type, inner.id)
}

/** A Cedar value from its JSON form (explicit `__entity` and `__extn`, as Cedar's JSON format without a schema). */
export function valueFromJson(json: JsonInput, extensions: Extensions): Value {
  switch (typeof json) {
    case 'boolean':
    case 'string':
      return json
    case 'number':
      if (!Number.isSafeInteger(json)) throw new InvalidInput('a number that is not an exact 64-bit integer')
      return json
    case 'bigint':
      try {
        return long(json)
      } catch {
        throw new InvalidInput('an integer outside the 64-bit range')
      }
  }
  if (Array.isArray(json)) return cedarSet(json.map((item) => valueFromJson(item, extensions)))
  if (!isObject(json)) throw new InvalidInput(`not a Cedar value: ${describe(json)}`)
  if ('__entity' in json) return uidFromJson(json)
  if ('__extn' in json) return extensionFromJson(json.__extn, extensions)
  if ('__expr' in json) throw new InvalidInput('the deprecated __expr form is not supported')
  return recordFromJson(json, extensions)
}

/** A record from a JSON object (context, attributes, tags). */
export function recordFromJson(json: JsonInput, extensions: Extensions): CedarRecord {
  if (!isObject(json)) throw new InvalidInput(`not a record: ${describe(json)}`)
  const fields = new Map<string, Value>()
  for (const key of Object.keys(json)) fields.set(key, valueFromJson(json[key], extensions))
  return new CedarRecord(fields)
}

function extensionFromJson(json: JsonInput, extensions: Extensions): Value {
  if (!isObject(json) || typeof json.fn !== 'string')
    throw new InvalidInput(`not an extension value: ${describe(json)}`)
  const fn = extensions.functions.get(json.fn)
  if (!fn) throw new InvalidInput('an unknown extension function')
  const args = 'args' in json ? json.args : [json.arg]
  if (!Array.isArray(args)) throw new InvalidInput(`not an extension value: ${describe(json)}`)
  try {
    return fn(args.map((arg) => valueFromJson(arg, extensions)))
  } catch (error) {
    throw new InvalidInput(`${json.fn}: ${(error as Error).message}`)
  }
}

/** An entity in Cedar's entity JSON form, before its ancestors are known. */
interface ParsedEntity {
  uid: EntityUid
  attrs: CedarRecord
  tags: CedarRecord | undefined
  parents: EntityUid[]
}

/**
 * An in-memory entity store built from Cedar's entity JSON, with every entity's ancestors precomputed. `extraParents`
 * adds parents (the action groups a schema declares) to entities, creating those that the JSON does not hold.
 */
export class EntityMap implements EntityLookup {
  private readonly entities = new Map<EntityUid, CompiledEntity>()

  constructor(
    json: readonly JsonInput[],
    extensions: Extensions,
    extraParents?: ReadonlyMap<EntityUid, readonly EntityUid[]>,
  ) {
    const parsed = new Map<EntityUid, ParsedEntity>()
    for (const item of json) {
      if (!isObject(item)) throw new InvalidInput(`not an entity: ${describe(item)}`)
      const uid = uidFromJson(item.uid)
      if (parsed.has(uid)) throw new InvalidInput(`duplicate entity ${uid.key}`)
      const parents = item.parents === undefined ? [] : item.parents
      if (!Array.isArray(parents)) throw new InvalidInput(`parents of ${uid.key} is not a list`)
      parsed.set(uid, {
        uid,
        attrs: recordFromJson(item.attrs ?? {}, extensions),
        tags: item.tags === undefined ? undefined : recordFromJson(item.tags, extensions),
        parents: parents.map(uidFromJson),
      })
    }
    for (const [uid, parents] of extraParents ?? []) {
      const entity = parsed.get(uid)
      if (entity) entity.parents.push(...parents)
      else parsed.set(uid, { uid, attrs: new CedarRecord(new Map()), tags: undefined, parents: [...parents] })
    }
    for (const entity of parsed.values()) {
      const ancestors = ancestorsOf(entity.uid, parsed)
      // Cedar refuses a hierarchy with a cycle: an entity that is its own ancestor would satisfy `in` both ways.
      if (ancestors.has(entity.uid)) throw new InvalidInput('the entity hierarchy has a cycle')
      this.entities.set(entity.uid, { uid: entity.uid, attrs: entity.attrs, tags: entity.tags, ancestors })
    }
  }

  get(uid: EntityUid): CompiledEntity | undefined {
    return this.entities.get(uid)
  }
}

// Parents may name entities the store does not hold: they are ancestors all the same, with no parents of their own.
function ancestorsOf(uid: EntityUid, parsed: ReadonlyMap<EntityUid, ParsedEntity>): ReadonlySet<EntityUid> {
  const ancestors = new Set<EntityUid>()
  const pending = [...(parsed.get(uid)?.parents ?? [])]
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (ancestors.has(next)) continue
    ancestors.add(next)
    const parents = parsed.get(next)?.parents
    if (parents) pending.push(...parents)
  }
  return ancestors
}

// What a rejected piece of input is, without its content: a context or an attribute may carry anything.
function describe(json: unknown): string {
  if (json === null) return 'null'
  if (Array.isArray(json)) return 'a list'
  return typeof json === 'object' ? 'an object of another form' : `a ${typeof json}`
}
