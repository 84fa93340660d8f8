// Reads declarative documents (YAML or JSON, several per file) for `mandate apply` and orders them by dependency.
import { parseAllDocuments, type YAMLError } from 'yaml'
import { CliFailure, ExitCode } from './output.ts'

/** A document's kind, its URL path and the order kinds are applied in (what others refer to comes first). */
export const documentKinds = {
  TrustedIssuer: { path: 'trusted-issuers', order: 0 },
  ResourceServer: { path: 'resource-servers', order: 0 },
  Human: { path: 'humans', order: 1 },
  Workload: { path: 'workloads', order: 2 },
  Agent: { path: 'agents', order: 3 },
  Group: { path: 'groups', order: 4 },
  EntityType: { path: 'entity-types', order: 5 },
  Entity: { path: 'entities', order: 6 },
  Policy: { path: 'policies', order: 7 },
} as const

export type DocumentKind = keyof typeof documentKinds

/** One document to apply, with where it came from for messages. */
export interface Document {
  kind: DocumentKind
  id: string
  body: Record<string, unknown>
  source: string
}

const kindNames = new Map<string, DocumentKind>()
for (const [kind, { path }] of Object.entries(documentKinds) as Array<[DocumentKind, { path: string }]>) {
  for (const name of [kind, kind.toLowerCase(), path, path.replace(/s$/, ''), path.replace('-', '')])
    kindNames.set(name.toLowerCase(), kind)
}

/** Resolves a kind as users type it (`agent`, `Agents`, `trusted-issuer`, `TrustedIssuer`). */
export function resolveKind(name: string): DocumentKind {
  const kind = kindNames.get(name.toLowerCase())
  if (!kind)
    throw new CliFailure(
      `unknown kind ${JSON.stringify(name)}; one of ${Object.keys(documentKinds).join(', ')}`,
      ExitCode.usage,
    )
  return kind
}

/**
 * The YAML parser's messages, whole: each names the line and column and shows the line it points at. Every problem
 * is listed, not only the first.
 */
export function describeYamlErrors(source: string, errors: readonly YAMLError[]): string {
  return errors
    .map((error) => `${source}: ${error.message.trimEnd().replaceAll('\n', '\n  ')}`.replace(/ +$/gm, ''))
    .join('\n')
}

/** Parses every document in `text`: YAML streams (`---`), a JSON object, or a JSON array of objects. */
export function parseDocuments(text: string, source: string): Document[] {
  const items: Array<{ value: unknown; where: string }> = []
  const parsed = parseAllDocuments(text, { uniqueKeys: true })
  const streams = Array.isArray(parsed) ? parsed : [parsed]
  const errors = streams.flatMap((stream) => stream.errors)
  if (errors.length > 0) throw new CliFailure(describeYamlErrors(source, errors), ExitCode.failed)
  for (const [index, stream] of streams.entries()) {
    const value: unknown = stream.toJS()
    if (value === null || value === undefined) continue
    if (!Array.isArray(value)) items.push({ value, where: `${source}: document ${index + 1}` })
    else
      for (const [i, v] of value.entries())
        items.push({ value: v, where: `${source}: document ${index + 1}[${i}]` })
  }
  return items.map(({ value, where }) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new CliFailure(`${where}: must be a mapping with a kind`, ExitCode.failed)
    const { kind, ...body } = value as Record<string, unknown>
    if (typeof kind !== 'string')
      throw new CliFailure(
        `${where}: has no kind (one of ${Object.keys(documentKinds).join(', ')})`,
        ExitCode.failed,
      )
    const resolved = kindNames.get(kind.toLowerCase())
    if (!resolved || resolved !== kind)
      throw new CliFailure(
        `${where}: unknown kind ${JSON.stringify(kind)}; one of ${Object.keys(documentKinds).join(', ')}`,
        ExitCode.failed,
      )
    if (typeof body.id !== 'string' || body.id === '')
      throw new CliFailure(`${where}: ${kind} has no id`, ExitCode.failed)
    return { kind: resolved, id: body.id, body, source: where }
  })
}

/** Orders documents so that references resolve: kinds in dependency order, parent agents before their sub-agents. */
export function orderDocuments(documents: Document[]): Document[] {
  const seen = new Set<string>()
  for (const doc of documents) {
    const key = `${doc.kind}/${doc.id}`
    if (seen.has(key)) throw new CliFailure(`${doc.source}: ${key} appears twice`, ExitCode.failed)
    seen.add(key)
  }
  const depth = (doc: Document): number => {
    let d = 0
    let parent = doc.kind === 'Agent' ? doc.body.parent : undefined
    while (typeof parent === 'string' && d < 16) {
      d++
      const next = documents.find((x) => x.kind === 'Agent' && x.id === parent)
      parent = next?.body.parent
    }
    return d
  }
  return documents
    .map((doc, index) => ({ doc, index, depth: depth(doc) }))
    .sort(
      (a, b) =>
        documentKinds[a.doc.kind].order - documentKinds[b.doc.kind].order ||
        a.depth - b.depth ||
        a.index - b.index,
    )
    .map((x) => x.doc)
}
