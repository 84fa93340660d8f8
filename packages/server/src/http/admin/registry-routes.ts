// Admin REST API for every registry kind: create, read, replace, merge-patch, list with filters and cursors, remove.
import { type TObject, type TSchema, Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ValidationFailed } from '../../errors/mandate-error.ts'
import { type RegistryKind, registryKinds } from '../../registry/model.ts'
import type { Registry } from '../../registry/registry.ts'
import { listFilters } from '../../registry/stores.ts'
import { changeContext } from './auth.ts'
import { BODY_ERRORS, changeResultSchema, errorResponses, ref } from './schemas.ts'

// How summaries name each kind, with its article.
const names: Record<RegistryKind, { one: string; many: string; a: string }> = {
  Human: { one: 'human', many: 'humans', a: 'a' },
  Workload: { one: 'workload', many: 'workloads', a: 'a' },
  Agent: { one: 'agent', many: 'agents', a: 'an' },
  Group: { one: 'group', many: 'groups', a: 'a' },
  TrustedIssuer: { one: 'trusted issuer', many: 'trusted issuers', a: 'a' },
  ResourceServer: { one: 'resource server', many: 'resource servers', a: 'a' },
  Policy: { one: 'policy set', many: 'policy sets', a: 'a' },
  EntityType: { one: 'entity type', many: 'entity types', a: 'an' },
  Entity: { one: 'entity', many: 'entities', a: 'an' },
}

// What DELETE does to each kind: principals keep their record and history; the rest is removed.
function deletion(kind: RegistryKind): { summary: string; description: string } {
  const { one, a } = names[kind]
  if (kind === 'Agent' || kind === 'Workload')
    return {
      summary: `Retire ${a} ${one}`,
      description: `Retirement is final: the ${one} is kept with status \`retired\` and can no longer authenticate.`,
    }
  if (kind === 'Human')
    return {
      summary: 'Deactivate a human',
      description: 'The human is kept with status `inactive`; every active agent they sponsor is suspended.',
    }
  return { summary: `Delete ${a} ${one}`, description: `Answers \`{"deleted": true}\`.` }
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
    const { one, many, a } = names[kind]
    const IdParams = idParams(kind)
    const withOptionalId: TSchema = {
      ...schema,
      required: (schema.required ?? []).filter((name: string) => name !== 'id'),
    }
    const Changed = changeResultSchema(kind, `The ${one} as stored, and what changed.`)
    const filters = listFilters[kind]
    const ListQuery = Type.Object(
      {
        limit: Type.Optional(
          Type.Integer({ minimum: 1, maximum: 500, default: 50, description: 'Page size.' }),
        ),
        cursor: Type.Optional(
          Type.String({ maxLength: 200, description: 'The `next_cursor` of the previous page.' }),
        ),
        ...Object.fromEntries(
          filters.map((f) => [
            f,
            Type.Optional(
              Type.String({ minLength: 1, maxLength: 2048, description: `Only ${many} whose ${f} is this.` }),
            ),
          ]),
        ),
      },
      { additionalProperties: false },
    )
    const accepted = new Set(['limit', 'cursor', ...filters])
    const filterHelp = filters.length > 0 ? `filters: ${filters.join(', ')}` : `${many} have no filters`

    app.post(
      `/${plural}`,
      {
        schema: {
          tags,
          summary: `Create ${a} ${one}`,
          description: `Answers 201 with a \`Location\` header; an id that exists is 409 (use PUT to create or replace).`,
          body: schema,
          response: { 201: Changed, ...errorResponses(...BODY_ERRORS, 409) },
        },
      },
      async (request, reply) => {
        const result = await registry.create(kind, request.body, changeContext(request))
        void reply.status(201).header('location', `/api/v1/${plural}/${encodeURIComponent(result.object.id)}`)
        return result
      },
    )

    app.get(
      `/${plural}`,
      {
        schema: {
          tags,
          summary: `List ${many}`,
          description: `In id order, a page at a time: pass \`next_cursor\` as \`cursor\` for the next page (null on the last). Filters match exactly and combine; an unknown query parameter is 400 (${filterHelp}).`,
          querystring: ListQuery,
          response: {
            200: Type.Object(
              {
                items: Type.Array(ref(kind)),
                next_cursor: Type.Union([Type.String(), Type.Null()], {
                  description: 'Pass as `cursor` for the next page; null on the last page.',
                }),
              },
              { description: `A page of ${many}.` },
            ),
            ...errorResponses(400),
          },
        },
        // Before schema validation, so that the answer names the filters this kind has.
        preValidation: async (request) => {
          const unknown = Object.keys(request.query as Record<string, unknown>).filter(
            (k) => !accepted.has(k),
          )
          if (unknown.length > 0)
            throw new ValidationFailed(
              unknown.map((name) => ({
                path: `/querystring/${name}`,
                message: `is not a filter of ${plural} (${filterHelp}; paging: limit, cursor)`,
              })),
              `unknown query parameter${unknown.length > 1 ? 's' : ''}`,
            )
        },
      },
      async (request) => {
        const query = request.query as { limit: number; cursor?: string } & Record<string, string | undefined>
        const items = await registry.list(kind, {
          filters: Object.fromEntries(filters.map((f) => [f, query[f]])),
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
      {
        schema: {
          tags,
          summary: `Read ${a} ${one}`,
          description: 'The `ETag` header carries the version, for `If-Match` on a later write.',
          params: IdParams,
          response: { 200: ref(kind, `The ${one}.`), ...errorResponses(400, 404) },
        },
      },
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
          summary: `Create or replace ${a} ${one}`,
          description:
            'Idempotent: 201 when created, 200 when replaced or unchanged (an equal document writes and records nothing). The id in the path wins; `If-Match: "version"` makes the write conditional.',
          params: IdParams,
          body: withOptionalId,
          response: { 200: Changed, 201: Changed, ...errorResponses(...BODY_ERRORS, 409) },
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
          summary: `Change ${a} ${one} with a merge patch`,
          description:
            'An RFC 7396 JSON merge patch (`application/merge-patch+json` or `application/json`): members replace, `null` removes. The result is validated like a PUT; `If-Match: "version"` makes it conditional.',
          params: IdParams,
          body: Type.Object({}, { additionalProperties: true }),
          response: { 200: Changed, ...errorResponses(...BODY_ERRORS, 404, 409) },
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

    const removal = deletion(kind)
    app.delete(
      `/${plural}/:id`,
      {
        schema: {
          tags,
          ...removal,
          params: IdParams,
          response: {
            200:
              kind === 'Agent' || kind === 'Workload' || kind === 'Human'
                ? Changed
                : Type.Object({ deleted: Type.Literal(true) }, { description: `The ${one} is deleted.` }),
            ...errorResponses(400, 404, 409),
          },
        },
      },
      async (request) => registry.remove(kind, (request.params as { id: string }).id, changeContext(request)),
    )
  }
}
