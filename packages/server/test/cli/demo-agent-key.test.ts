// The demo data's agent with a key (issue 9, item 8): seeding writes support-bot's private key next to the data, mode
// 0600, and the SDK's AgentClient.fromEnv() authenticates with it (private_key_jwt) to act for Alice under her mandate.
import assert from 'node:assert/strict'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { AgentClient } from '@mandate/sdk'
import { decodeJwt } from 'jose'
import { DEMO_AGENT, demoIdpKey, devIdpIssuer, signDemoIdpToken } from '../../src/registry/demo.ts'
import { sqliteStore, startTestNode, type TestNode, type TestStore } from '../support/harness.ts'

describe('the demo agent key', () => {
  let store: TestStore
  let t: TestNode
  before(async () => {
    store = sqliteStore()
    t = await startTestNode(store, { demoData: 'on' })
  })
  after(async () => {
    await t?.close()
    store?.drop()
  })

  it('is written next to the data, mode 0600, as a private JWK whose public half support-bot has registered', async () => {
    const file = join(String(t.config.dataDir), DEMO_AGENT.file)
    assert.equal(t.node.demoAgentKeyFile, file)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    const jwk = JSON.parse(readFileSync(file, 'utf8'))
    assert.equal(jwk.kid, DEMO_AGENT.kid)
    assert.ok(jwk.d, 'the private key')
    const agent = await t.call('GET', `/api/v1/agents/${DEMO_AGENT.id}`)
    const registered = agent.json.credentials[0].jwks.keys[0]
    assert.equal(registered.x, jwk.x)
    assert.equal(registered.y, jwk.y)
    assert.equal(registered.d, undefined)
  })

  it('lets AgentClient.fromEnv() act for Alice as support-bot (private_key_jwt), under a mandate she gave it', async () => {
    const agent = AgentClient.fromEnv({
      MANDATE_URL: t.node.url,
      MANDATE_CLIENT_ID: DEMO_AGENT.id,
      MANDATE_PRIVATE_KEY_FILE: String(t.node.demoAgentKeyFile),
    })
    const granted = await t.call('POST', '/api/v1/mandates', {
      body: {
        human: 'alice@example.com',
        agent: DEMO_AGENT.id,
        actions: ['crm:read'],
        resource_servers: ['crm'],
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
      },
    })
    assert.equal(granted.status, 201, granted.text)
    const alice = await t.call('GET', '/api/v1/humans/alice@example.com')
    const subjectToken = await signDemoIdpToken(demoIdpKey(t.node.masterKey).privateKey, alice.json, {
      issuer: devIdpIssuer(t.node.url),
      audience: t.node.url,
      scope: 'crm:read',
      lifetimeSeconds: 300,
      now: Date.now(),
    })
    const token = await agent.exchange({
      subjectToken,
      resource: 'https://crm.example.com/',
      scope: 'crm:read',
    })
    const claims = decodeJwt(token.accessToken)
    assert.equal(claims.sub, 'alice@example.com')
    assert.deepEqual(claims.act, { sub: DEMO_AGENT.id })
  })
})
