// Reads configuration from a file and the environment, applies defaults and refuses anything invalid, naming the setting.
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { Kind, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { parseDocument } from 'yaml'
import { decodeMasterKey, MASTER_KEY_FORMAT } from '../tokens/master-key.ts'
import { type Config, ConfigSchema, optionMeta } from './schema.ts'

/** One problem with one setting. */
export interface ConfigProblem {
  /** The setting as the user wrote it: an environment variable or `file:key`. */
  setting: string
  message: string
}

/** Thrown when the configuration is invalid; lists every problem, never a secret's value. */
export class ConfigError extends Error {
  readonly code = 'invalid_configuration'
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p.setting}: ${p.message}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/** Where configuration comes from. Environment values override the file; `overrides` (from CLI flags or tests) override both. */
export interface ConfigSources {
  env?: NodeJS.ProcessEnv
  /** Path of a YAML or JSON config file (also `MANDATE_CONFIG`). */
  file?: string
  overrides?: Partial<Record<keyof Config, unknown>>
}

const options = ConfigSchema.properties as Record<string, TSchema>

/**
 * Builds a validated configuration.
 * @example
 * const config = loadConfig({ env: process.env })
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? {}
  const problems: ConfigProblem[] = []
  const raw: Record<string, unknown> = {}
  const origin: Record<string, string> = {}

  const file = sources.file ?? env.MANDATE_CONFIG
  if (file) {
    const fromFile = readConfigFile(file, problems)
    for (const [key, value] of Object.entries(fromFile)) {
      if (!Object.hasOwn(options, key)) {
        problems.push({ setting: `${file}:${key}`, message: 'unknown setting' })
        continue
      }
      raw[key] = value
      origin[key] = `${file}:${key}`
    }
  }
  for (const [key, schema] of Object.entries(options)) {
    const name = optionMeta(schema).env
    const text = env[name]
    if (text === undefined || text === '') continue
    raw[key] = coerce(schema, text)
    origin[key] = name
  }
  for (const [key, value] of Object.entries(sources.overrides ?? {})) {
    if (value === undefined) continue
    raw[key] = value
    origin[key] = `--${key}`
  }

  const withDefaults = Value.Default(ConfigSchema, structuredClone(raw)) as Record<string, unknown>
  for (const error of Value.Errors(ConfigSchema, withDefaults)) {
    const key = error.path.split('/')[1] ?? ''
    const schema = options[key]
    const setting = origin[key] ?? (schema ? optionMeta(schema).env : key)
    const shown =
      schema && !optionMeta(schema).secret && key in raw ? ` (got ${JSON.stringify(raw[key])})` : ''
    problems.push({ setting, message: `${describeExpectation(schema, error.message)}${shown}` })
  }
  // Checks across settings, run whatever else failed so that every problem is reported at once.
  if (typeof raw.issuer === 'string') checkIssuer(raw.issuer, origin.issuer ?? 'MANDATE_ISSUER', problems)
  if (typeof raw.masterKey === 'string' && decodeMasterKey(raw.masterKey) === undefined) {
    problems.push({ setting: origin.masterKey ?? 'MANDATE_MASTER_KEY', message: MASTER_KEY_FORMAT })
  }
  if (typeof raw.trustProxy === 'string') {
    const wrong = raw.trustProxy.split(',').filter((entry) => !isAddressOrRange(entry.trim()))
    if (wrong.length > 0)
      problems.push({
        setting: origin.trustProxy ?? 'MANDATE_TRUST_PROXY',
        message: `must list IP addresses or CIDR ranges, comma-separated (not ${wrong.map((w) => JSON.stringify(w.trim())).join(', ')})`,
      })
  }
  if ((raw.tlsCertFile === undefined) !== (raw.tlsKeyFile === undefined)) {
    problems.push({
      setting: origin.tlsKeyFile ?? origin.tlsCertFile ?? 'MANDATE_TLS_KEY_FILE',
      message: 'set both MANDATE_TLS_CERT_FILE and MANDATE_TLS_KEY_FILE, or neither',
    })
  }
  if (raw.tlsClientCaFile !== undefined && raw.tlsCertFile === undefined) {
    problems.push({
      setting: origin.tlsClientCaFile ?? 'MANDATE_TLS_CLIENT_CA_FILE',
      message: 'needs MANDATE_TLS_CERT_FILE: client certificates need HTTPS',
    })
  }
  if ((raw.approvalWebhookUrl === undefined) !== (raw.approvalWebhookSecret === undefined)) {
    problems.push({
      setting: origin.approvalWebhookSecret ?? origin.approvalWebhookUrl ?? 'MANDATE_APPROVAL_WEBHOOK_SECRET',
      message: 'set both MANDATE_APPROVAL_WEBHOOK_URL and MANDATE_APPROVAL_WEBHOOK_SECRET, or neither',
    })
  }
  if (raw.masterKey !== undefined && raw.masterKeyFile !== undefined) {
    problems.push({
      setting: origin.masterKeyFile ?? 'MANDATE_MASTER_KEY_FILE',
      message: 'set either a master key or a master key file, not both',
    })
  }
  if (problems.length > 0) throw new ConfigError(dedupe(problems))

  const config = withDefaults as Config
  config.issuer ??= defaultIssuer(config.host, config.port, config.tlsCertFile !== undefined)
  return config
}

/** The issuer used when none is configured: the node's own loopback URL. */
export function defaultIssuer(host: string, port: number, tls = false): string {
  return `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`
}

function readConfigFile(path: string, problems: ConfigProblem[]): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    problems.push({
      setting: 'MANDATE_CONFIG',
      message: `cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? 'error')}`,
    })
    return {}
  }
  const document = parseDocument(text, { uniqueKeys: true })
  if (document.errors.length > 0) {
    // The parser's whole message: it names the line and column and shows the line.
    for (const error of document.errors)
      problems.push({ setting: path, message: `not valid YAML or JSON: ${error.message.trimEnd()}` })
    return {}
  }
  const parsed: unknown = document.toJS()
  if (parsed === null || parsed === undefined) return {}
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push({ setting: path, message: 'must be a mapping of setting names to values' })
    return {}
  }
  return parsed as Record<string, unknown>
}

// Environment values are strings; turn them into the schema's type so that validation reports the real problem.
function coerce(schema: TSchema, text: string): unknown {
  if (schema[Kind] === 'Integer' || schema[Kind] === 'Number')
    return /^-?\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : text
  if (schema[Kind] === 'Boolean') {
    const lowered = text.trim().toLowerCase()
    if (['1', 'true', 'yes', 'on'].includes(lowered)) return true
    if (['0', 'false', 'no', 'off'].includes(lowered)) return false
  }
  return text
}

function describeExpectation(schema: TSchema | undefined, fallback: string): string {
  if (!schema) return fallback
  if (schema[Kind] === 'Integer') {
    const range = [schema.minimum, schema.maximum].every((bound) => bound !== undefined)
      ? ` from ${schema.minimum} to ${schema.maximum}`
      : ''
    return `must be a whole number${range}`
  }
  if (schema[Kind] === 'Boolean') return 'must be true or false'
  if (schema[Kind] === 'Union')
    return `must be one of ${(schema.anyOf as TSchema[]).map((s) => s.const).join(', ')}`
  if (schema.pattern === '^postgres(ql)?://') return 'must be a postgres:// URL'
  return fallback.toLowerCase()
}

function checkIssuer(issuer: string, setting: string, problems: ConfigProblem[]): void {
  let url: URL
  try {
    url = new URL(issuer)
  } catch {
    problems.push({ setting, message: 'must be an absolute URL' })
    return
  }
  // RFC 8414 §2: the issuer is an https URL with no query or fragment; plain http is tolerated for loopback development.
  // RFC 8414 §2: https; plain http only for a loopback development node.
  const loopback =
    ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) || url.hostname.startsWith('127.')
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    problems.push({ setting, message: 'must use https (http only on loopback)' })
  if (url.search || url.hash || issuer.includes('#') || issuer.includes('?')) {
    problems.push({ setting, message: 'must not have a query or fragment' })
  }
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>()
  return problems.filter((p) => {
    const key = `${p.setting}\u0000${p.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

// `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`: what Fastify's trustProxy (proxy-addr) takes.
function isAddressOrRange(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || extra !== undefined) return false
  if (prefix === undefined) return true
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)
}
