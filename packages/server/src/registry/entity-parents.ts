// An entity's parents may not lead back to it. Cedar refuses a hierarchy with a cycle (every member would be `in`
// every other, so a permit on one folder would reach what is filed in another): the write that would close one is
// refused, naming the cycle. It is checked against the registry as the write transaction sees it; registry writes are
// serialized across every node (Database.transact), so two writes that would each close half of a cycle cannot both
// pass, whichever nodes take them.
import type { FieldError } from '../errors/mandate-error.ts'
import type { RuleContext } from './change.ts'
import type { Entity } from './model.ts'

/**
 * The problem with an entity's parents, if they (or their parents, and so on, as stored) include the entity itself.
 * Parents the registry does not hold have no parents of their own.
 * @example
 * // folder:f is in folder:g; putting folder:g in folder:f:
 * await checkEntityParents(rc, { id: 'folder:g', attributes: {}, parents: ['folder:f'] })
 * // [{ path: '/parents/0', message: 'would close a cycle of parents: folder:g in folder:f in folder:g' }]
 */
export async function checkEntityParents(rc: RuleContext, doc: Entity): Promise<FieldError[]> {
  // Breadth first from the direct parents; `via` leads each uid reached back to the direct parent it came from.
  const via = new Map<string, string | undefined>()
  let level: string[] = []
  for (const parent of doc.parents)
    if (!via.has(parent)) {
      via.set(parent, undefined)
      level.push(parent)
    }
  while (level.length > 0) {
    const next: string[] = []
    for (const uid of level) {
      if (uid === doc.id) return [cycleThrough(doc, uid, via)]
      const stored = await rc.stores.entities.get(rc.tx, uid)
      for (const parent of stored?.parents ?? [])
        if (!via.has(parent)) {
          via.set(parent, uid)
          next.push(parent)
        }
    }
    level = next
  }
  return []
}

function cycleThrough(
  doc: Entity,
  reached: string,
  via: ReadonlyMap<string, string | undefined>,
): FieldError {
  const path = [reached]
  for (let at = via.get(reached); at !== undefined; at = via.get(at)) path.push(at)
  path.reverse()
  const index = doc.parents.indexOf(path[0] as string)
  return {
    path: `/parents/${index}`,
    message: `would close a cycle of parents: ${[doc.id, ...path].join(' in ')} (Cedar refuses an entity hierarchy with a cycle)`,
  }
}
