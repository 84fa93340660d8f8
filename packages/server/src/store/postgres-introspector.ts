// What Kysely's migrator asks the database (which schemas and tables exist), answered from the catalog of one schema
// with plain catalog reads. Kysely's own PostgreSQL introspector reads every column of every table of every schema and
// calls pg_get_serial_sequence on each: when another node or tenant drops a schema while that query runs, the
// function fails with "schema ... does not exist" and the migration (so the node's start) fails with it.
import {
  type DatabaseIntrospector,
  type DatabaseMetadata,
  type DatabaseMetadataOptions,
  type Kysely,
  PostgresDialect,
  type PostgresDialectConfig,
  type SchemaMetadata,
  sql,
  type TableMetadata,
} from 'kysely'

class SchemaIntrospector implements DatabaseIntrospector {
  constructor(
    // biome-ignore lint/suspicious/noExplicitAny: Kysely's introspector contract takes any database.
    private readonly db: Kysely<any>,
    private readonly schema: string | undefined,
  ) {}

  async getSchemas(): Promise<SchemaMetadata[]> {
    const { rows } = await sql<{ name: string }>`select nspname as name from pg_catalog.pg_namespace`.execute(
      this.db,
    )
    return rows.map((row) => ({ name: row.name }))
  }

  // Tables without their columns: the migrator needs only names, and nothing else reads them.
  async getTables(): Promise<TableMetadata[]> {
    const { rows } = await sql<{ name: string; schema: string; kind: string }>`
      select c.relname as name, n.nspname as schema, c.relkind as kind
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'v')
        and n.nspname = ${this.schema === undefined ? sql`current_schema()` : this.schema}`.execute(this.db)
    return rows.map((row) => ({ name: row.name, schema: row.schema, isView: row.kind === 'v', columns: [] }))
  }

  async getMetadata(_options?: DatabaseMetadataOptions): Promise<DatabaseMetadata> {
    return { tables: await this.getTables() }
  }
}

/** PostgreSQL for Kysely, with an introspector confined to `schema` (the search path's first schema when absent). */
export class SchemaPostgresDialect extends PostgresDialect {
  constructor(
    config: PostgresDialectConfig,
    private readonly schema: string | undefined,
  ) {
    super(config)
  }

  // biome-ignore lint/suspicious/noExplicitAny: as PostgresDialect declares it.
  override createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SchemaIntrospector(db, this.schema)
  }
}
