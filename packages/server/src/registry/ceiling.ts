// A principal's ceiling: the most it may ever be granted, as actions optionally limited to resource patterns.
import type { CeilingEntry } from './model.ts'

/** Turns a resource pattern (`*` matches any run of characters) into an anchored regular expression. */
function patternToRegExp(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  )
}

const compiled = new Map<string, RegExp>()

function matches(pattern: string, resource: string): boolean {
  let re = compiled.get(pattern)
  if (!re) {
    re = patternToRegExp(pattern)
    if (compiled.size > 10_000) compiled.clear()
    compiled.set(pattern, re)
  }
  return re.test(resource)
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
