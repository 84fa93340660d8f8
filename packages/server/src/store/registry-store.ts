// The storage contract shared by every registry aggregate: a document per row, a few indexed columns for filters, and
// an optimistic version counter.
import { sql } from 'kysely'
import { Conflict } from '../errors/mandate-error.ts'
import { type Executor, isUniqueViolation } from './database.ts'
import type { RegistryRow, Tables } from './tables.ts'

/** A document as stored: the document plus the store's bookkeeping. */
export type Stored<T> = T & { version: number; created_at: string; updated_at: string }

/** The tables that hold registry documents: every table whose rows are registry rows. */
type RegistryTable = { [T in keyof Tables]: Tables[T] extends RegistryRow ? T : never }[keyof Tables]

/** A page request: filters on indexed columns, a cursor (the last id seen) and a page size. */
export interface ListQuery {
  filters?: Record<string, string | undefined>
  after?: string | undefined
  limit: number
}

/** How one aggregate maps onto its table. */
export interface RegistryTableSpec<T> {
  table: RegistryTable
  /** Indexed columns derived from the document, kept in step with it on every write. */
  columns: (doc: T) => Record<string, string | number | null>
  /** Columns that `list` may filter on, by filter name. */
  filters: Record<string, string>
}

/** Generic store for one registry aggregate; every method runs on the executor it is given (database or transaction). */
export class RegistryStore<T extends { id: string }> {
  constructor(private readonly spec: RegistryTableSpec<T>) {}

  /** The filters `list` accepts. */
  get filterNames(): string[] {
    return Object.keys(this.spec.filters)
  }

  /** The object with this id, or undefined. */
  async get(ex: Executor, id: string): Promise<Stored<T> | undefined> {
    // PostgreSQL text cannot hold U+0000, so no stored id contains it.
    if (id.includes('\u0000')) return undefined
    const row = await ex.selectFrom(this.spec.table).selectAll().where('id', '=', id).executeTakeFirst()
    return row ? toStored<T>(row) : undefined
  }

  /** The objects with these ids that exist, in no particular order. */
  async getMany(ex: Executor, ids: readonly string[]): Promise<Stored<T>[]> {
    const wanted = ids.filter((id) => !id.includes('\u0000'))
    const found: Stored<T>[] = []
    // Well under SQLite's limit of bound parameters per statement.
    for (let i = 0; i < wanted.length; i += 500) {
      const rows = await ex
        .selectFrom(this.spec.table)
        .selectAll()
        .where('id', 'in', wanted.slice(i, i + 500))
        .execute()
      for (const row of rows) found.push(toStored<T>(row))
    }
    return found
  }

  /** One page of objects in id order, after the cursor, matching every filter. */
  async list(ex: Executor, query: ListQuery): Promise<Stored<T>[]> {
    if ([query.after, ...Object.values(query.filters ?? {})].some((v) => v?.includes('\u0000'))) return []
    let q = ex.selectFrom(this.spec.table).selectAll().orderBy('id').limit(query.limit)
    if (query.after !== undefined) q = q.where('id', '>', query.after)
    for (const [name, value] of Object.entries(query.filters ?? {})) {
      const column = this.spec.filters[name]
      // The column comes from the spec, never from the request.
      if (column && value !== undefined) q = q.where(sql.ref<string>(column), '=', value)
    }
    return (await q.execute()).map((row) => toStored<T>(row))
  }

  /** Inserts a new object at version 1; a duplicate id is a Conflict. */
  async insert(ex: Executor, doc: T, now: string): Promise<Stored<T>> {
    try {
      await ex
        .insertInto(this.spec.table)
        .values({
          id: doc.id,
          doc: JSON.stringify(doc),
          version: 1,
          created_at: now,
          updated_at: now,
          ...this.spec.columns(doc),
        } as never)
        .execute()
    } catch (error) {
      if (isUniqueViolation(error)) throw new Conflict(`${doc.id} already exists`)
      throw error
    }
    return { ...doc, version: 1, created_at: now, updated_at: now }
  }

  /** Replaces an object if it is still at `expectedVersion`; otherwise a Conflict. */
  async update(ex: Executor, current: Stored<T>, doc: T, now: string): Promise<Stored<T>> {
    const result = await ex
      .updateTable(this.spec.table)
      .set({
        doc: JSON.stringify(doc),
        version: current.version + 1,
        updated_at: now,
        ...this.spec.columns(doc),
      } as never)
      .where('id', '=', doc.id)
      .where('version', '=', current.version)
      .executeTakeFirst()
    if (Number(result.numUpdatedRows) !== 1) throw new Conflict(`${doc.id} was changed concurrently; retry`)
    return { ...doc, version: current.version + 1, created_at: current.created_at, updated_at: now }
  }

  /** Deletes an object; answers whether it existed. */
  async delete(ex: Executor, id: string): Promise<boolean> {
    const result = await ex.deleteFrom(this.spec.table).where('id', '=', id).executeTakeFirst()
    return Number(result.numDeletedRows) > 0
  }
}

// The parsed document is fresh, so the bookkeeping is set on it rather than copied into another object: a node loads
// every registry object through here at start.
function toStored<T>(row: Tables[RegistryTable]): Stored<T> {
  const stored = JSON.parse(row.doc) as Stored<T>
  stored.version = row.version
  stored.created_at = row.created_at
  stored.updated_at = row.updated_at
  return stored
}
