// Admin REST API for every registry kind: create, read, replace, merge-patch, list with filters and cursors, remove.
import { type TObject, type TSchema, Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ValidationFailed } from '../../errors/mandate-error.ts'
import { type RegistryKind, registryKinds } from '../../registry/model.ts'
import type { Registry } from '../../registry/registry.ts'
import { changeContext } from './auth.ts'

/** Filters each kind's list endpoint accepts, mapped onto indexed columns by the store. */
const listFilters: Record<RegistryKind, string[]> = {
  Human: ['status'],
  Workload: ['status'],
  Agent: ['status', 'classification', 'sponsor', 'parent'],
  Group: [],
  TrustedIssuer: ['type', 'issuer'],
  ResourceServer: ['audience'],
  Policy: [],
  EntityType: [],
  Entity: ['type'],
}

// Entity ids (`<type>:<id>`) are longer than the other kinds' ids.
const idParams = (kind: RegistryKind) =>
  Type.Object({ id: Type.String({ minLength: 1, maxLength: kind === 'Entity' ? 600 : 128 }) })

/** Encodes a list cursor (the last id of the page); opaque to clients. */
export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url')
}

function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined
  const id = Buffer.from(cursor, 'base64url').toString('utf8')
  if (id.length === 0 || encodeCursor(id) !== cursor)
    throw new ValidationFailed([
      { path: '/querystring/cursor', message: 'is not a cursor this API returned' },
    ])
  return id
}

// `If-Match: "3"` (or 3) makes a write conditional on the stored version.
function ifVersion(request: FastifyRequest): number | undefined {
  const header = request.headers['if-match']
  if (header === undefined) return undefined
  const match = /^(?:W\/)?(?:"(\d{1,15})"|(\d{1,15}))$/.exec(String(header))
  const version = match?.[1] ?? match?.[2]
  if (version === undefined)
    throw new ValidationFailed([{ path: '/headers/if-match', message: 'must be a version number' }])
  return Number(version)
}

/** Registers the routes of every kind under the current prefix. */
export function registerRegistryRoutes(app: FastifyInstance, registry: Registry): void {
  for (const [kind, { plural, schema }] of Object.entries(registryKinds) as Array<
    [RegistryKind, { plural: string; schema: TObject }]
  >) {
    const tags = [plural]
    const IdParams = idParams(kind)
    const withOptionalId: TSchema = {
      ...schema,
      required: (schema.required ?? []).filter((name: string) => name !== 'id'),
    }
    const ListQuery = Type.Object({
      limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
      cursor: Type.Optional(Type.String({ maxLength: 200 })),
      ...Object.fromEntries(
        listFilters[kind].map((f) => [f, Type.Optional(Type.String({ minLength: 1, maxLength: 2048 }))]),
      ),
    })

    app.post(
      `/${plural}`,
      { schema: { tags, summary: `Create a ${kind}`, body: schema } },
      async (request, reply) => {
        const result = await registry.create(kind, request.body, changeContext(request))
        void reply.status(201).header('location', `/api/v1/${plural}/${encodeURIComponent(result.object.id)}`)
        return result
      },
    )

    app.get(
      `/${plural}`,
      { schema: { tags, summary: `List ${plural}`, querystring: ListQuery } },
      async (request) => {
        const query = request.query as { limit: number; cursor?: string } & Record<string, string | undefined>
        const filters = Object.fromEntries(listFilters[kind].map((f) => [f, query[f]]))
        const items = await registry.list(kind, {
          filters,
          after: decodeCursor(query.cursor),
          limit: query.limit + 1,
        })
        const page = items.slice(0, query.limit)
        const last = page.at(-1)
        return { items: page, next_cursor: items.length > query.limit && last ? encodeCursor(last.id) : null }
      },
    )

    app.get(
      `/${plural}/:id`,
      { schema: { tags, summary: `Read a ${kind}`, params: IdParams } },
      async (request, reply) => {
        const object = await registry.get(kind, (request.params as { id: string }).id)
        void reply.header('etag', `"${object.version}"`)
        return object
      },
    )

    app.put(
      `/${plural}/:id`,
      {
        schema: {
          tags,
          summary: `Create or replace a ${kind} (idempotent)`,
          params: IdParams,
          body: withOptionalId,
        },
      },
      async (request, reply) => {
        const result = await registry.put(
          kind,
          (request.params as { id: string }).id,
          request.body,
          changeContext(request),
          ifVersion(request),
        )
        void reply.status(result.change === 'created' ? 201 : 200)
        return result
      },
    )

    app.patch(
      `/${plural}/:id`,
      {
        schema: {
          tags,
          summary: `Change a ${kind} with a JSON merge patch (RFC 7396)`,
          params: IdParams,
          body: Type.Object({}, { additionalProperties: true }),
        },
      },
      async (request) =>
        registry.patch(
          kind,
          (request.params as { id: string }).id,
          request.body,
          changeContext(request),
          ifVersion(request),
        ),
    )

    app.delete(
      `/${plural}/:id`,
      {
        schema: {
          tags,
          summary:
            kind === 'Agent' || kind === 'Workload'
              ? `Retire a ${kind}`
              : kind === 'Human'
                ? 'Deactivate a human (suspends the agents they sponsor)'
                : `Delete a ${kind}`,
          params: IdParams,
        },
      },
      async (request) => registry.remove(kind, (request.params as { id: string }).id, changeContext(request)),
    )
  }
}
