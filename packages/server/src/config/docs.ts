// Renders the configuration reference (docs/configuration.md) and the annotated example config from the schema.
import type { TSchema } from '@sinclair/typebox'
import { Kind } from '@sinclair/typebox'
import { ConfigSchema, optionMeta } from './schema.ts'

const options = Object.entries(ConfigSchema.properties as Record<string, TSchema>)

function typeOf(schema: TSchema): string {
  if (schema[Kind] === 'Union') return (schema.anyOf as TSchema[]).map((s) => `\`${s.const}\``).join(' \\| ')
  if (schema[Kind] === 'Integer') return 'integer'
  return String(schema[Kind]).toLowerCase()
}

function defaultOf(schema: TSchema): string {
  const meta = optionMeta(schema)
  if (meta.defaultText) return meta.defaultText
  return schema.default === undefined ? '(none)' : `\`${String(schema.default)}\``
}

/** The Markdown reference of every option. */
export function renderConfigReference(): string {
  const lines = [
    '# Configuration',
    '',
    '<!-- Generated from packages/server/src/config/schema.ts by `npm run docs:config`; a test fails when this file drifts. -->',
    '',
    'Mandate reads its configuration from environment variables and, optionally, a YAML or JSON file named by `MANDATE_CONFIG` (or `mandate serve --config FILE`) whose keys are the names below. Environment variables override the file. An invalid value stops start-up with a message naming the setting; secret values are never printed.',
    '',
    '| setting | file key | type | default | description |',
    '|---|---|---|---|---|',
  ]
  for (const [key, schema] of options) {
    const meta = optionMeta(schema)
    const description = `${schema.description ?? ''}${meta.secret ? ' **Secret.**' : ''}`.replaceAll(
      '|',
      '\\|',
    )
    lines.push(`| \`${meta.env}\` | \`${key}\` | ${typeOf(schema)} | ${defaultOf(schema)} | ${description} |`)
  }
  lines.push('', 'An annotated example file is in [`examples/mandate.yaml`](../examples/mandate.yaml).', '')
  return lines.join('\n')
}

/** An annotated YAML config file with every option commented out at its default. */
export function renderExampleConfig(): string {
  const lines = [
    '# Mandate configuration file. Generated from the schema by `npm run docs:config`.',
    '# Every key is optional; environment variables override this file.',
    '',
  ]
  for (const [key, schema] of options) {
    const meta = optionMeta(schema)
    lines.push(
      `# ${schema.description ?? ''}`.replaceAll('`', ''),
      `# env: ${meta.env}${meta.secret ? ' (secret)' : ''}`,
    )
    lines.push(schema.default === undefined ? `# ${key}:` : `# ${key}: ${JSON.stringify(schema.default)}`, '')
  }
  return lines.join('\n')
}
