// Registry principals and application entities as Cedar sees them (Mandate's attributes, the declared ones, their
// parents), and a request's caller-supplied values and context turned into Cedar values, checked against what Cedar
// can hold. The entity store keeps the registry's side in memory; the cedar-wasm path gets it as JSON.
import { isIP } from 'node:net'
import type { CedarValueJson, EntityJson } from '@cedar-policy/cedar-wasm/nodejs'
import type { Directory } from '../registry/directory.ts'
import type { AttributeDeclaration, EntityType } from '../registry/model.ts'
import {
  CedarRecord,
  cedarSet,
  EvaluationError,
  type ExtensionValue,
  type UidSource,
  type Value,
} from './compiled/values.ts'
import type { EntityRef } from './evaluator.ts'
import { builtinAttributes } from './schema.ts'

/** A principal or resource as a request names it, with the attributes the caller adds. */
export interface RequestEntity extends EntityRef {
  properties?: Record<string, unknown> | undefined
}

/** A request the decision point cannot evaluate as sent: the caller's error, answered 400 with the field named. */
export class InvalidDecisionRequest extends Error {
  constructor(
    message: string,
    /** JSON Pointer to the offending field of the request (`/context/delegator`), `/` when it is the whole. */
    readonly path = '/',
  ) {
    super(message)
  }
}

/** A request value Cedar cannot represent (fractional numbers, nesting beyond the limit). */
export class UnrepresentableValue extends InvalidDecisionRequest {}

// Why a JSON number is no Cedar Long: a fraction, or a whole number JSON.parse could not read exactly (beyond ±2^53, it
// was rounded; deciding on it would decide on another number).
function unsafeNumber(where: string, value: number): string {
  return Number.isInteger(value)
    ? `${where} is beyond ±2^53 (${Number.MAX_SAFE_INTEGER}), which a JSON number does not carry exactly: send it as a string`
    : `${where} must be a whole number (Cedar has no fractions)`
}

const MAX_DEPTH = 16

/**
 * What the registry knows about an entity, as Cedar sees it: Mandate's attributes and the declared ones, and its
 * parents (groups, a sub-agent's parent, an application entity's parents). Undefined when the registry does not know it.
 */
export function registryEntity(
  directory: Directory,
  declarations: ReadonlyMap<string, EntityType>,
  ref: EntityRef,
): EntityJson | undefined {
  const uid = { type: ref.type, id: ref.id }
  const d = directory
  const groups = (kind: 'human' | 'agent' | 'workload') =>
    d.groupsOf(kind, ref.id).map((id) => ({ type: 'group', id }))
  switch (ref.type) {
    case 'human': {
      const human = d.human(ref.id)
      if (!human) return undefined
      return {
        uid,
        attrs: {
          ...declaredAttributes(declarations, 'human', human.attributes ?? {}),
          status: human.status,
          ...(human.email ? { email: human.email } : {}),
          ...(human.name ? { name: human.name } : {}),
        },
        parents: groups('human'),
      }
    }
    case 'agent':
    case 'workload': {
      const client = d.client(ref.id)
      if (!client || client.kind !== ref.type) return undefined
      if (client.kind === 'workload')
        return {
          uid,
          attrs: {
            ...declaredAttributes(declarations, 'workload', client.principal.attributes ?? {}),
            status: client.principal.status,
          },
          parents: groups('workload'),
        }
      const agent = client.principal
      return {
        uid,
        attrs: {
          ...declaredAttributes(declarations, 'agent', agent.attributes ?? {}),
          status: agent.status,
          classification: agent.classification,
          sponsor: { __entity: { type: 'human', id: agent.sponsor } },
          ...(agent.parent ? { parent: { __entity: { type: 'agent', id: agent.parent } } } : {}),
          ...(agent.model
            ? {
                model_provider: agent.model.provider,
                model_name: agent.model.name,
                ...(agent.model.version ? { model_version: agent.model.version } : {}),
              }
            : {}),
        },
        parents: [...groups('agent'), ...(agent.parent ? [{ type: 'agent', id: agent.parent }] : [])],
      }
    }
    case 'group':
      return d.group(ref.id) ? { uid, attrs: {}, parents: [] } : undefined
    case 'resource_server': {
      const server = d.resourceServerById(ref.id)
      if (!server) return undefined
      return { uid, attrs: { audience: server.audience, scopes: [...server.scopes] }, parents: [] }
    }
    default: {
      const entity = d.entity(`${ref.type}:${ref.id}`)
      if (!entity) return undefined
      return {
        uid,
        attrs: declaredAttributes(declarations, ref.type, entity.attributes),
        parents: entity.parents.map(parseUid),
      }
    }
  }
}

// Only declared attributes reach Cedar, typed as declared (policies were validated against those declarations).
function declaredAttributes(
  declarations: ReadonlyMap<string, EntityType>,
  type: string,
  values: Record<string, unknown>,
): Record<string, CedarValueJson> {
  const declared = declarations.get(type)?.attributes
  if (!declared) return {}
  const attrs: Record<string, CedarValueJson> = {}
  for (const [name, declaration] of Object.entries(declared)) {
    const value = values[name]
    if (value === undefined || value === null) continue
    try {
      attrs[name] = toCedar(value, declaration, `${type}.${name}`, 0)
    } catch {
      // A stored value that no longer fits its declaration is left out; policies reading it get an error (deny).
    }
  }
  return attrs
}

/** `record:101` → `{ type: 'record', id: '101' }`. */
export function parseUid(uid: string): EntityRef {
  const colon = uid.indexOf(':')
  return { type: uid.slice(0, colon), id: uid.slice(colon + 1) }
}

// JSON to Cedar: integers are Longs (Cedar has no fractions), `Entity` declarations turn `type:id` or a bare id into a
// reference, objects become records.
function toCedar(
  value: unknown,
  declaration: AttributeDeclaration | undefined,
  where: string,
  depth: number,
): CedarValueJson {
  if (depth > MAX_DEPTH) throw new UnrepresentableValue(`${where} is nested too deeply`)
  if (declaration?.type === 'Entity' && typeof value === 'string') {
    const type = declaration.entity_type ?? ''
    const id = value.startsWith(`${type}:`) ? value.slice(type.length + 1) : value
    return { __entity: { type, id } }
  }
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      if (!Number.isSafeInteger(value)) throw new UnrepresentableValue(unsafeNumber(where, value))
      return value
    case 'object': {
      if (value === null) throw new UnrepresentableValue(`${where} is null`)
      if (Array.isArray(value))
        return value.map((item, i) => toCedar(item, undefined, `${where}[${i}]`, depth + 1))
      const record: Record<string, CedarValueJson> = {}
      for (const [k, v] of Object.entries(value)) {
        // `__entity`, `__extn` and `__expr` are escapes in Cedar's JSON: a caller must not forge references with them.
        if (k.startsWith('__'))
          throw new UnrepresentableValue(`${where}.${k}: names starting with __ are reserved`)
        if (v === null || v === undefined) continue
        record[k] = toCedar(v, undefined, `${where}.${k}`, depth + 1)
      }
      return record
    }
    default:
      throw new UnrepresentableValue(`${where} has no Cedar form`)
  }
}

/** How a declared context attribute is given in JSON when Cedar wants more than a string: an entity, an address. */
export type TypedContext = Record<string, { entityType: string } | { ip: true }>

/**
 * Converts a request's context (JSON) to a Cedar record. Attributes the action declares as entities take `type:id`
 * (or a bare id) and become references; declared IP addresses become `ipaddr` values.
 */
export function contextToCedar(
  context: Record<string, unknown>,
  typed: TypedContext = {},
): Record<string, CedarValueJson> {
  const out: Record<string, CedarValueJson> = {}
  for (const [name, value] of Object.entries(context)) {
    if (value === null || value === undefined) continue
    if (name.startsWith('__'))
      throw new UnrepresentableValue(`context.${name}: names starting with __ are reserved`)
    const kind = Object.hasOwn(typed, name) ? typed[name] : undefined
    if (kind && 'ip' in kind) {
      const ip = typeof value === 'string' ? cedarIpAddress(value) : undefined
      if (ip === undefined)
        throw new UnrepresentableValue(`context.${name} must be an IP address`, `/context/${name}`)
      out[name] = { __extn: { fn: 'ip', arg: ip } }
      continue
    }
    if (kind) {
      if (typeof value !== 'string' || value.length === 0)
        throw new UnrepresentableValue(
          `context.${name} must name a ${kind.entityType} as type:id or id`,
          `/context/${name}`,
        )
      out[name] = toCedar(
        value,
        { type: 'Entity', entity_type: kind.entityType, required: false },
        `context.${name}`,
        0,
      )
      continue
    }
    out[name] = toCedar(value, undefined, `context.${name}`, 0)
  }
  return out
}

/**
 * An address as Cedar's ip() takes it (plain IPv4 or IPv6): an IPv4-mapped IPv6 address (a dual-stack listener's
 * IPv4 client) becomes IPv4, a zone id is dropped; undefined when it is no address.
 */
export function cedarIpAddress(address: string): string | undefined {
  let ip = address.replace(/%.*$/, '')
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip)
  if (mapped?.[1]) ip = mapped[1]
  return isIP(ip) === 0 ? undefined : ip
}

/**
 * Makes an extension value from its call (`ip("10.0.0.1")`) as the engine in use holds it; throws EvaluationError
 * for an argument the function refuses.
 */
export type ExtensionFactory = (fn: string, arg: string) => ExtensionValue

/**
 * A value in Cedar's JSON form (what the registry's entities and Mandate's own facts are built as) in memory.
 * @example
 * valueFromJson({ __entity: { type: 'human', id: 'alice' } }, extension, INTERNED) // entityUid('human', 'alice')
 */
export function valueFromJson(json: CedarValueJson, extension: ExtensionFactory, uids: UidSource): Value {
  switch (typeof json) {
    case 'string':
    case 'boolean':
      return json
    case 'number':
      if (!Number.isSafeInteger(json)) throw new EvaluationError(`${json} is not a Cedar Long`)
      return json
  }
  if (json === null) throw new EvaluationError('null has no Cedar form')
  if (Array.isArray(json)) return cedarSet(json.map((item) => valueFromJson(item, extension, uids)))
  if (
    '__entity' in json &&
    typeof json.__entity === 'object' &&
    json.__entity !== null &&
    !Array.isArray(json.__entity)
  ) {
    const { type, id } = json.__entity as { type: string; id: string }
    return uids.uid(type, id)
  }
  if ('__extn' in json && typeof json.__extn === 'object' && json.__extn !== null) {
    const call = json.__extn as { fn: string; arg?: CedarValueJson }
    if (typeof call.arg !== 'string') throw new EvaluationError(`${call.fn}() takes one string`)
    return extension(call.fn, call.arg)
  }
  const fields = new Map<string, Value>()
  for (const [name, value] of Object.entries(json)) fields.set(name, valueFromJson(value, extension, uids))
  return new CedarRecord(fields)
}

/**
 * A caller's JSON as a Cedar value, directly: what `toCedar` gives, without the JSON form in between. Integers are
 * Longs, `Entity` declarations turn `type:id` or a bare id into a reference, arrays are sets, objects records.
 */
function toValue(
  value: unknown,
  declaration: AttributeDeclaration | undefined,
  where: string,
  depth: number,
  uids: UidSource,
): Value {
  if (depth > MAX_DEPTH) throw new UnrepresentableValue(`${where} is nested too deeply`)
  if (declaration?.type === 'Entity' && typeof value === 'string') {
    const type = declaration.entity_type ?? ''
    return uids.uid(type, value.startsWith(`${type}:`) ? value.slice(type.length + 1) : value)
  }
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      if (!Number.isSafeInteger(value)) throw new UnrepresentableValue(unsafeNumber(where, value))
      return value
    case 'object': {
      if (value === null) throw new UnrepresentableValue(`${where} is null`)
      if (Array.isArray(value))
        return cedarSet(value.map((item, i) => toValue(item, undefined, `${where}[${i}]`, depth + 1, uids)))
      const fields = new Map<string, Value>()
      for (const [k, v] of Object.entries(value)) {
        if (k.startsWith('__'))
          throw new UnrepresentableValue(`${where}.${k}: names starting with __ are reserved`)
        if (v === null || v === undefined) continue
        fields.set(k, toValue(v, undefined, `${where}.${k}`, depth + 1, uids))
      }
      return new CedarRecord(fields)
    }
    default:
      throw new UnrepresentableValue(`${where} has no Cedar form`)
  }
}

/**
 * What a caller's properties may contribute to an entity, as values: declared types followed, Mandate's own attributes
 * (an agent's status, sponsor...) dropped whatever the caller sent.
 */
export function callerAttributeValues(
  declarations: ReadonlyMap<string, EntityType>,
  type: string,
  properties: Record<string, unknown>,
  uids: UidSource,
): Map<string, Value> {
  const declared = declarations.get(type)?.attributes ?? {}
  const builtin = builtinNames(type)
  const attrs = new Map<string, Value>()
  for (const name of Object.keys(properties)) {
    const value = properties[name]
    if (value === null || value === undefined) continue
    if (name.startsWith('__'))
      throw new UnrepresentableValue(`${type}.${name}: names starting with __ are reserved`)
    const converted = toValue(
      value,
      Object.hasOwn(declared, name) ? declared[name] : undefined,
      `${type}.${name}`,
      0,
      uids,
    )
    if (!builtin.has(name)) attrs.set(name, converted)
  }
  return attrs
}

// Mandate's own attributes of each type (a constant of the schema), as sets, made once per type.
const builtins = new Map<string, ReadonlySet<string>>()
function builtinNames(type: string): ReadonlySet<string> {
  let names = builtins.get(type)
  if (!names) {
    names = new Set(builtinAttributes(type))
    // Types are caller input: only the few with built-in attributes are kept.
    if (names.size > 0) builtins.set(type, names)
  }
  return names
}

/**
 * A request's context (JSON) as values, directly: as `contextToCedar` converts it, entity references and IP
 * addresses included.
 */
export function contextValues(
  context: Record<string, unknown>,
  typed: TypedContext,
  extension: ExtensionFactory,
  uids: UidSource,
): Map<string, Value> {
  const out = new Map<string, Value>()
  for (const [name, value] of Object.entries(context)) {
    if (value === null || value === undefined) continue
    if (name.startsWith('__'))
      throw new UnrepresentableValue(`context.${name}: names starting with __ are reserved`)
    const kind = Object.hasOwn(typed, name) ? typed[name] : undefined
    if (kind && 'ip' in kind) {
      const ip = typeof value === 'string' ? cedarIpAddress(value) : undefined
      if (ip === undefined)
        throw new UnrepresentableValue(`context.${name} must be an IP address`, `/context/${name}`)
      out.set(name, extension('ip', ip))
      continue
    }
    if (kind) {
      if (typeof value !== 'string' || value.length === 0)
        throw new UnrepresentableValue(
          `context.${name} must name a ${kind.entityType} as type:id or id`,
          `/context/${name}`,
        )
      out.set(
        name,
        toValue(
          value,
          { type: 'Entity', entity_type: kind.entityType, required: false },
          `context.${name}`,
          0,
          uids,
        ),
      )
      continue
    }
    out.set(name, toValue(value, undefined, `context.${name}`, 0, uids))
  }
  return out
}
