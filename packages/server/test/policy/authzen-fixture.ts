// Loads a scenario of Mandate documents (entity types, entities, policies) into a running node through the admin API,
// and gives a PEP key for the AuthZEN API.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { documentKinds } from '../../src/cli/documents.ts'
import type { TestNode } from '../support/harness.ts'

const here = dirname(fileURLToPath(import.meta.url))

/**
 * The public AuthZEN interop vectors (read-only, outside the project): `authzen/` in TEST_CONFORMANCE_DIR, by default
 * in the `shared/conformance` directory beside the checkout.
 */
export const VECTORS = process.env.TEST_CONFORMANCE_DIR
  ? resolve(process.env.TEST_CONFORMANCE_DIR, 'authzen')
  : join(here, '../../../../../shared/conformance/authzen')

/** Why the vectors cannot be read (where they were looked for, how to point elsewhere), or undefined. */
export function missingVectors(): string | undefined {
  if (existsSync(join(VECTORS, 'interop'))) return undefined
  return (
    `the AuthZEN interop vectors are not at ${VECTORS} (no interop/ there). They are read from ` +
    '../shared/conformance/authzen beside the checkout, or from authzen/ in TEST_CONFORMANCE_DIR: run ' +
    '`TEST_CONFORMANCE_DIR=/path/to/conformance npm test`.'
  )
}

/** Reads a JSON file of the vectors. */
// biome-ignore lint/suspicious/noExplicitAny: vector files are read as data
export function vectors(path: string): any {
  return JSON.parse(readFileSync(join(VECTORS, path), 'utf8'))
}

/** Applies every document of a YAML file, in file order, through the admin API. */
export async function applyFile(node: TestNode, file: string): Promise<number> {
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJSON() as Record<string, unknown>)
  for (const { kind, ...doc } of docs) {
    const path = documentKinds[kind as keyof typeof documentKinds]?.path
    if (!path) throw new Error(`${file}: unknown kind ${String(kind)}`)
    const res = await node.call('PUT', `/api/v1/${path}/${encodeURIComponent(String(doc.id))}`, { body: doc })
    if (res.status >= 300) throw new Error(`${file}: ${kind} ${String(doc.id)}: ${res.status} ${res.text}`)
  }
  return docs.length
}

/** The fixture file of a scenario. */
export function scenario(name: string): string {
  return join(here, 'fixtures/authzen', `${name}.yaml`)
}

/** A `pep` API key for the AuthZEN API. */
export async function pepKey(node: TestNode): Promise<string> {
  const issued = await node.node.adminTokens.issue({
    name: 'pep',
    role: 'pep',
    actor: { kind: 'system', id: 'test' },
  })
  if (!issued) throw new Error('no pep key issued')
  return issued.token
}

/** An HTTP answer with its JSON body. */
export interface JsonAnswer {
  status: number
  // biome-ignore lint/suspicious/noExplicitAny: AuthZEN answers are read as data
  json: any
  headers: Headers
}

/** POSTs JSON to the node with a bearer credential. */
export async function post(node: TestNode, path: string, body: unknown, key: string): Promise<JsonAnswer> {
  const res = await fetch(`${node.node.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers }
}
