// Reads declarative documents (YAML or JSON, several per file) for `mandate apply` and the policy tools, and orders
// them by dependency.
import { parseAllDocuments, type YAMLError } from 'yaml'
import { orderForApply } from '../registry/apply-order.ts'
import { type RegistryKind, registryKinds } from '../registry/model.ts'
import { CliFailure, ExitCode } from './output.ts'

/** A document's kind: every registry kind. */
export type DocumentKind = RegistryKind

/** The URL path of each kind. */
export const documentKinds = Object.fromEntries(
  Object.entries(registryKinds).map(([kind, { plural }]) => [kind, { path: plural }]),
) as { [K in DocumentKind]: { path: (typeof registryKinds)[K]['plural'] } }

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

/** Orders documents so that references resolve (see `orderForApply`); the same kind and id twice is refused. */
export function orderDocuments(documents: Document[]): Document[] {
  const seen = new Set<string>()
  for (const doc of documents) {
    const key = `${doc.kind}/${doc.id}`
    if (seen.has(key)) throw new CliFailure(`${doc.source}: ${key} appears twice`, ExitCode.failed)
    seen.add(key)
  }
  return orderForApply(documents)
}
