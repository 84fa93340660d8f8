// Validates input against the registry's JSON Schemas and reports every invalid field as a JSON Pointer.
import type { TSchema } from '@sinclair/typebox'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import * as ajvFormats from 'ajv-formats'
import { type FieldError, ValidationFailed } from '../errors/mandate-error.ts'

// ajv-formats is CommonJS; under ESM its function arrives as the default export's `default`.
const addFormats = ajvFormats.default.default

/** An ajv instance as the registry and the HTTP layer use it: defaults applied, all errors reported, discriminators on. */
export function createAjv(options: { coerceTypes?: boolean | 'array' } = {}): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    useDefaults: true,
    coerceTypes: options.coerceTypes ?? false,
    discriminator: true,
    strict: false,
  })
  addFormats(ajv)
  return ajv
}

const ajv = createAjv()
// Compiled forms of the schemas this code declares (constants, never request data): compiled code rather than state,
// with nothing to invalidate and nothing a test could need to reset, so it is the one module-level memo left.
const compiled = new WeakMap<TSchema, ValidateFunction>()

/** Turns ajv errors into field errors: one per problem, with a pointer a user can find in their document. */
export function toFieldErrors(errors: ErrorObject[] | null | undefined, prefix = ''): FieldError[] {
  const fields: FieldError[] = []
  const seen = new Set<string>()
  // A union of literals fails once per literal and once more for the union: say it once, listing the choices.
  const choices = new Map<string, unknown[]>()
  for (const error of errors ?? [])
    if (error.keyword === 'const')
      choices.set(error.instancePath, [...(choices.get(error.instancePath) ?? []), error.params.allowedValue])
  for (const error of errors ?? []) {
    let path = `${prefix}${error.instancePath}`
    let message = error.message ?? 'is invalid'
    const literals = choices.get(error.instancePath)
    if (literals && literals.length > 1 && (error.keyword === 'const' || error.keyword === 'anyOf')) {
      message = `must be one of ${literals.map((v) => JSON.stringify(v)).join(', ')}`
    } else if (error.keyword === 'additionalProperties') {
      path = `${path}/${String(error.params.additionalProperty)}`
      message = 'is not a known field'
    } else if (error.keyword === 'required') {
      path = `${path}/${String(error.params.missingProperty)}`
      message = 'is required'
    } else if (error.keyword === 'enum' || error.keyword === 'const') {
      message = `must be ${JSON.stringify(error.params.allowedValue ?? error.params.allowedValues)}`
    }
    const key = `${path}\u0000${message}`
    if (seen.has(key)) continue
    seen.add(key)
    fields.push({ path: path || '/', message })
  }
  return fields
}

/** Validates `input` (cloned, so the caller's object is untouched) and returns it with defaults applied. */
export function validateAgainst<T>(schema: TSchema, input: unknown, prefix = ''): T {
  let validate = compiled.get(schema)
  if (!validate) {
    validate = ajv.compile(schema)
    compiled.set(schema, validate)
  }
  const value = structuredClone(input)
  if (!validate(value)) throw new ValidationFailed(toFieldErrors(validate.errors, prefix))
  return value as T
}

/** RFC 7396 JSON Merge Patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch
  const result: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {}
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete result[key]
    else result[key] = mergePatch(result[key], value)
  }
  return result
}
