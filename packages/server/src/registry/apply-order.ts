// The order in which several documents are written so that their references resolve: kinds in the order of
// REGISTRY_KINDS (what others refer to first), parent agents before their sub-agents, and otherwise as given.
import { type RegistryKind, registryKinds } from './model.ts'

/** A document to apply, as far as ordering needs it. */
export interface OrderedDocument {
  kind: RegistryKind
  id: string
  body: Record<string, unknown>
}

const KIND_ORDER = new Map(Object.keys(registryKinds).map((kind, index) => [kind, index]))

/** Sorts documents (a copy) into the order they can be written in; stable for documents that do not depend on each other. */
export function orderForApply<T extends OrderedDocument>(documents: readonly T[]): T[] {
  const agents = new Map(documents.filter((d) => d.kind === 'Agent').map((d) => [d.id, d]))
  // How many of the given agents are above this one: a parent is written before its sub-agents.
  const depth = (doc: T): number => {
    let d = 0
    let parent = doc.kind === 'Agent' ? doc.body.parent : undefined
    while (typeof parent === 'string' && d < 16) {
      const next = agents.get(parent)
      if (!next) break
      d++
      parent = next.body.parent
    }
    return d
  }
  return documents
    .map((doc, index) => ({ doc, index, depth: depth(doc) }))
    .sort(
      (a, b) =>
        (KIND_ORDER.get(a.doc.kind) ?? 0) - (KIND_ORDER.get(b.doc.kind) ?? 0) ||
        a.depth - b.depth ||
        a.index - b.index,
    )
    .map((x) => x.doc)
}
