// The context the token service establishes for a decision: Cedar's ip() takes plain IPv4 and IPv6 only, so the
// addresses a dual-stack listener reports are normalized, and an address Cedar cannot hold is left out instead of
// failing every decision.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isAuthorized } from '../../src/policy/cedar.ts'
import { tokenFacts } from '../../src/policy/token-policy.ts'

const chain = [{ kind: 'agent' as const, id: 'bot' }]
const ipOf = (clientIp: string) =>
  (tokenFacts({ mode: 'autonomous', chain, clientIp }).client_ip as { __extn?: { arg: string } } | undefined)
    ?.__extn?.arg

test('client_ip: IPv4-mapped IPv6 becomes IPv4, a zone id is dropped, garbage is left out', () => {
  assert.equal(ipOf('::ffff:127.0.0.1'), '127.0.0.1')
  assert.equal(ipOf('10.1.2.3'), '10.1.2.3')
  assert.equal(ipOf('fe80::1%eth0'), 'fe80::1')
  assert.equal(ipOf('2001:db8::7'), '2001:db8::7')
  assert.equal(ipOf('not-an-address'), undefined)
})

test('every client_ip Mandate sets is one Cedar accepts', () => {
  for (const address of ['::ffff:127.0.0.1', 'fe80::1%eth0', '2001:db8::7', '192.168.0.9']) {
    const answer = isAuthorized({
      principal: { type: 'agent', id: 'bot' },
      action: { type: 'Action', id: 'read' },
      resource: { type: 'resource_server', id: 'r' },
      context: tokenFacts({ mode: 'autonomous', chain, clientIp: address }),
      policies: {
        staticPolicies: {
          p: 'permit (principal, action, resource) when { context.client_ip.isIpv4() || context.client_ip.isIpv6() };',
        },
      },
      entities: [],
    })
    assert.equal(answer.type, 'success', address)
    assert.equal(answer.type === 'success' && answer.response.decision, 'allow', address)
  }
})
