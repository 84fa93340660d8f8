// A principal's ceiling: the most it may ever be granted, as actions optionally limited to resource patterns.
import type { CeilingEntry } from './model.ts'

/**
 * Whether `resource` matches `pattern`, where `*` matches any run of characters: the pieces between stars must appear
 * in order, the first at the start and the last at the end. No regular expression, so nothing to compile or cache.
 */
function matches(pattern: string, resource: string): boolean {
  const pieces = pattern.split('*')
  const first = pieces[0] ?? ''
  if (pieces.length === 1) return pattern === resource
  const last = pieces[pieces.length - 1] ?? ''
  if (resource.length < first.length + last.length) return false
  if (!resource.startsWith(first) || !resource.endsWith(last)) return false
  // Leftmost placement of each middle piece is enough: it leaves the most room for the pieces after it.
  let at = first.length
  const end = resource.length - last.length
  for (const piece of pieces.slice(1, -1)) {
    const found = resource.indexOf(piece, at)
    if (found < 0 || found + piece.length > end) return false
    at = found + piece.length
  }
  return true
}

/**
 * Whether the ceiling allows `action` on `resource` (a resource server's audience): an entry naming the action with no
 * resource patterns allows it everywhere; one with patterns allows it on matching resources only. Without a resource
 * (the action is asked about something that is not a resource server), only entries without patterns allow it.
 * @example
 * ceilingAllows(['crm:read', { action: 'crm:write', resources: ['https://crm.example.com/*'] }], 'crm:write', 'https://crm.example.com/') // true
 */
export function ceilingAllows(
  ceiling: readonly CeilingEntry[],
  action: string,
  resource: string | undefined,
): boolean {
  return ceiling.some((entry) =>
    typeof entry === 'string'
      ? entry === action
      : entry.action === action &&
        resource !== undefined &&
        entry.resources.some((p) => matches(p, resource)),
  )
}

// Whether every resource matching `inner` also matches `outer`. Sound but not complete: when unsure, it says no.
function patternCovers(outer: string, inner: string): boolean {
  if (outer === inner || outer === '*') return true
  if (!inner.includes('*')) return matches(outer, inner)
  const star = outer.indexOf('*')
  // `prefix*` covers any pattern that starts with the same prefix.
  return star === outer.length - 1 && inner.startsWith(outer.slice(0, -1))
}

/**
 * Whether `outer` allows at least everything `entry` allows: a sub-agent's ceiling must stay within its parent's.
 * @example
 * ceilingCovers([{ action: 'crm:read', resources: ['crm/eu/*'] }], { action: 'crm:read', resources: ['*'] }) // false
 */
export function ceilingCovers(outer: readonly CeilingEntry[], entry: CeilingEntry): boolean {
  const action = typeof entry === 'string' ? entry : entry.action
  const same = outer.filter((o) => (typeof o === 'string' ? o : o.action) === action)
  if (same.some((o) => typeof o === 'string')) return true
  if (typeof entry === 'string') return false
  return entry.resources.every((inner) =>
    same.some((o) => typeof o !== 'string' && o.resources.some((p) => patternCovers(p, inner))),
  )
}
