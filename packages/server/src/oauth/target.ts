// Which resource server a token is for (RFC 8707) and whether the requested scopes and authorization details
// (RFC 9396) are ones it accepts.

import { findUnstorable } from '../audit/storable.ts'
import {
  InvalidAuthorizationDetails,
  InvalidRequest,
  InvalidScope,
  InvalidTarget,
} from '../errors/oauth-error.ts'
import type { Directory } from '../registry/directory.ts'
import type { ResourceServer, Stored } from '../registry/model.ts'

/** RFC 6749 §3.3 scope: space-delimited scope-tokens. */
export function parseScope(scope: string | undefined): string[] {
  if (scope === undefined) return []
  const tokens = scope.split(' ').filter((s) => s.length > 0)
  for (const token of tokens)
    if (!/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(token))
      throw new InvalidScope('scope contains invalid characters')
  return [...new Set(tokens)]
}

/**
 * Resolves the resource server for `resources` (RFC 8707 §2: absolute URIs without fragment). With no resource,
 * the one resource server accepting every requested scope is used; anything ambiguous or unknown is invalid_target.
 * Each scope must be one the resource server accepts (invalid_scope).
 */
export function resolveTarget(
  directory: Directory,
  resources: readonly string[],
  scopes: readonly string[],
): Stored<ResourceServer> {
  if (resources.length > 1)
    throw new InvalidTarget('one resource per token: request a token for each resource')
  const resource = resources[0]
  let target: Stored<ResourceServer> | undefined
  if (resource !== undefined) {
    const exact = directory.resourceServer(resource)
    // A registered audience, once found well formed, is not parsed again on every request.
    if (!(exact && wellFormed.has(resource))) {
      if (!isAbsoluteUriWithoutFragment(resource))
        throw new InvalidTarget('resource must be an absolute URI without a fragment')
      if (exact) {
        if (wellFormed.size >= MAX_WELL_FORMED) wellFormed.clear()
        wellFormed.add(resource)
      }
    }
    target =
      exact ?? directory.resourceServer(resource.endsWith('/') ? resource.slice(0, -1) : `${resource}/`)
    if (!target) throw new InvalidTarget('resource is not a registered resource server')
  } else {
    const candidates =
      scopes.length === 0
        ? []
        : [...directory.resourceServers()].filter((rs) => scopes.every((s) => rs.scopes.includes(s)))
    if (candidates.length !== 1)
      throw new InvalidTarget('resource is required: name the resource server the token is for')
    target = candidates[0] as Stored<ResourceServer>
  }
  const unknown = scopes.filter((s) => !target.scopes.includes(s))
  if (unknown.length > 0)
    throw new InvalidScope(`scope not accepted by ${target.audience}: ${unknown.join(' ')}`)
  return target
}

/** RFC 9396 §2: a JSON array of objects, each with a `type` the resource server accepts. */
export function parseAuthorizationDetails(
  text: string | undefined,
  target: ResourceServer,
): Array<Record<string, unknown>> | undefined {
  if (text === undefined) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new InvalidAuthorizationDetails('authorization_details is not JSON')
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || parsed.length > 50)
    throw new InvalidAuthorizationDetails('authorization_details must be a non-empty JSON array')
  // What the token carries must be what was asked: 1e400 would be signed as null.
  const unstorable = findUnstorable(parsed)
  if (unstorable)
    throw new InvalidAuthorizationDetails(`authorization_details${unstorable.path} ${unstorable.message}`)
  return parsed.map((entry, i) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry))
      throw new InvalidAuthorizationDetails(`authorization_details[${i}] must be an object`)
    const type = (entry as { type?: unknown }).type
    if (typeof type !== 'string')
      throw new InvalidAuthorizationDetails(`authorization_details[${i}] has no type`)
    if (!target.authorization_details_types.includes(type))
      throw new InvalidAuthorizationDetails(
        `authorization_details type ${type} is not accepted by ${target.audience}`,
      )
    for (const field of ['locations', 'actions', 'datatypes', 'privileges'] as const) {
      const value = (entry as Record<string, unknown>)[field]
      if (value !== undefined && (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))) {
        throw new InvalidAuthorizationDetails(
          `authorization_details[${i}].${field} must be an array of strings`,
        )
      }
    }
    return entry as Record<string, unknown>
  })
}

// Resource indicators naming a registered resource server that were found absolute URIs without a fragment (a
// property of the string alone), at most MAX_WELL_FORMED of them.
const wellFormed = new Set<string>()
const MAX_WELL_FORMED = 10_000

function isAbsoluteUriWithoutFragment(value: string): boolean {
  if (value.includes('#') || value.length > 2048) return false
  try {
    return new URL(value).protocol.length > 1
  } catch {
    return false
  }
}

/** Reads a single-valued parameter that must be present. */
export function required(params: Readonly<Record<string, string | undefined>>, name: string): string {
  const value = params[name]
  if (value === undefined || value === '') throw new InvalidRequest(`${name} is required`)
  return value
}
