// Agent client options from environment variables, for agents deployed with their identity in the environment or
// in mounted secret files (`AgentClient.fromEnv`).

import { readFile } from 'node:fs/promises'
import type { AgentClientOptions, AgentCredential } from './agent-client.js'
import { readPrivateKeyFile, signerFor } from './keys.js'

/**
 * The environment variables `AgentClient.fromEnv` reads.
 * @example
 * process.env[AGENT_ENV.clientId] // the agent's id
 */
export const AGENT_ENV = {
  /** Required: the node's issuer URL. */
  url: 'MANDATE_URL',
  /** Required: the agent's or workload's id. */
  clientId: 'MANDATE_CLIENT_ID',
  /** private_key_jwt: the private key, PEM or a JWK in JSON. */
  privateKey: 'MANDATE_PRIVATE_KEY',
  /** private_key_jwt: a file holding the private key. */
  privateKeyFile: 'MANDATE_PRIVATE_KEY_FILE',
  /** private_key_jwt: the `kid` of the registered key. */
  keyId: 'MANDATE_KEY_ID',
  /** private_key_jwt: the JWS algorithm, when the key does not tell. */
  keyAlg: 'MANDATE_KEY_ALG',
  /** Federated workload identity: the file the platform writes its token to, read for every request. */
  federatedTokenFile: 'MANDATE_FEDERATED_TOKEN_FILE',
  /** Legacy: the client secret. */
  clientSecret: 'MANDATE_CLIENT_SECRET',
  /** `true` or `false` (default): DPoP-bound tokens. */
  dpop: 'MANDATE_DPOP',
} as const

const CREDENTIAL_VARIABLES = [
  AGENT_ENV.privateKey,
  AGENT_ENV.privateKeyFile,
  AGENT_ENV.federatedTokenFile,
  AGENT_ENV.clientSecret,
] as const

/**
 * Reads {@link AGENT_ENV} from `env`. Throws a TypeError naming the variable that is missing or invalid, never its
 * value.
 * @example
 * const options = agentOptionsFromEnv({ MANDATE_URL: 'https://mandate.example.com', MANDATE_CLIENT_ID: 'bot', MANDATE_CLIENT_SECRET: '…' })
 */
export function agentOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): AgentClientOptions {
  const value = (name: string): string | undefined => {
    const text = env[name]?.trim()
    return text ? text : undefined
  }
  const required = (name: string, what: string): string => {
    const text = value(name)
    if (text === undefined) throw new TypeError(`${name} is not set: ${what}`)
    return text
  }
  const issuer = required(
    AGENT_ENV.url,
    'the issuer URL of the Mandate node, e.g. https://mandate.example.com',
  )
  const clientId = required(AGENT_ENV.clientId, "the agent's or workload's id")
  const set = CREDENTIAL_VARIABLES.filter((name) => value(name) !== undefined)
  if (set.length === 0) throw new TypeError(`no credential: set one of ${CREDENTIAL_VARIABLES.join(', ')}`)
  if (set.length > 1) throw new TypeError(`set only one credential variable, not ${set.join(' and ')}`)
  const dpop = value(AGENT_ENV.dpop)?.toLowerCase()
  if (dpop !== undefined && !['true', 'false', '1', '0'].includes(dpop))
    throw new TypeError(`${AGENT_ENV.dpop} must be true or false`)
  return {
    issuer,
    clientId,
    credential: credentialFrom(set[0], value),
    ...(dpop === 'true' || dpop === '1' ? { dpop: true } : {}),
  }
}

function credentialFrom(
  name: (typeof CREDENTIAL_VARIABLES)[number] | undefined,
  value: (name: string) => string | undefined,
): AgentCredential {
  const kid = value(AGENT_ENV.keyId)
  const alg = value(AGENT_ENV.keyAlg)
  const keyOptions = { ...(kid === undefined ? {} : { kid }), ...(alg === undefined ? {} : { alg }) }
  const text = name === undefined ? undefined : value(name)
  if (text === undefined) throw new TypeError(`no credential: set one of ${CREDENTIAL_VARIABLES.join(', ')}`)
  switch (name) {
    case AGENT_ENV.privateKey: {
      // A PEM in a one-line variable often has its newlines written as \n. Checked here so an error names the variable.
      const privateKey = text.replace(/\\n/g, '\n')
      signerFor(privateKey, alg, AGENT_ENV.privateKey)
      return { type: 'private_key_jwt', privateKey, ...keyOptions }
    }
    case AGENT_ENV.privateKeyFile: {
      const privateKey = readPrivateKeyFile(text, AGENT_ENV.privateKeyFile)
      signerFor(privateKey, alg, AGENT_ENV.privateKeyFile)
      return { type: 'private_key_jwt', privateKey, ...keyOptions }
    }
    case AGENT_ENV.federatedTokenFile:
      return { type: 'federated', token: () => readFile(text, 'utf8') }
    default:
      return { type: 'client_secret', secret: text }
  }
}
