// `mandate idp seal-secret`: a human IdP's login client secret, sealed with the store's master key for its
// TrustedIssuer, read from standard input and never echoed.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { loginSecretContext } from '../../src/registry/identity-rules.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'
import { cliEnv, runCli } from './run-cli.ts'

describe('mandate idp seal-secret', () => {
  let store: TestStore
  let test: TestNode
  before(async () => {
    store = sqliteStore()
    test = await startTestNode(store)
  })
  after(async () => {
    await test?.close()
    store?.drop()
  })
  const env = () =>
    cliEnv({ MANDATE_DATA_DIR: test.config.dataDir, MANDATE_MASTER_KEY: test.config.masterKey })

  it('seals the secret from standard input for that issuer only, without printing it', async () => {
    const result = await runCli(['idp', 'seal-secret', 'okta'], { env: env(), input: 'the-client-secret\n' })
    assert.equal(result.code, 0, result.stderr)
    const sealed = result.stdout.trim()
    assert.ok(!result.stdout.includes('the-client-secret') && !result.stderr.includes('the-client-secret'))
    assert.equal(test.node.masterKey.open(sealed, loginSecretContext('okta')), 'the-client-secret')
    assert.throws(() => test.node.masterKey.open(sealed, loginSecretContext('entra')))
  })

  it('refuses an empty secret and an issuer id that is not a registry id (usage error)', async () => {
    assert.equal((await runCli(['idp', 'seal-secret', 'okta'], { env: env(), input: '\n' })).code, 2)
    assert.equal((await runCli(['idp', 'seal-secret', 'ok ta'], { env: env(), input: 'x' })).code, 2)
  })
})
