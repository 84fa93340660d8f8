// application/x-www-form-urlencoded bodies for the pages' forms, parsed in the plugin scope that registers them (the
// OAuth endpoints parse their own). A field sent twice is kept as an array, so a schema that wants one string refuses it.
import type { FastifyInstance } from 'fastify'

/** Parses form bodies in `scope` into an object of strings (or arrays of strings for repeated fields). */
export function acceptForms(scope: FastifyInstance): void {
  scope.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 65536 },
    (_request, body, done) => {
      // No prototype: a field named __proto__ is a field like any other.
      const fields: Record<string, string | string[]> = Object.create(null)
      for (const [name, value] of new URLSearchParams(body as string)) {
        const previous = fields[name]
        fields[name] =
          previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value]
      }
      done(null, fields)
    },
  )
}
