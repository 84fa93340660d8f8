// Demo data for the embedded quickstart: two humans, a group, a trusted workload issuer, a workload and one agent of
// each classification (plus a sub-agent), written through the registry like any admin change.
import type { RegistryKind } from './model.ts'
import type { Registry } from './registry.ts'

const documents: Array<{ kind: RegistryKind; doc: Record<string, unknown> }> = [
  {
    kind: 'Human',
    doc: {
      id: 'alice@example.com',
      email: 'alice@example.com',
      name: 'Alice Ng',
      attributes: { department: 'support' },
    },
  },
  {
    kind: 'Human',
    doc: {
      id: 'bob@example.com',
      email: 'bob@example.com',
      name: 'Bob Okafor',
      attributes: { department: 'risk' },
    },
  },
  {
    kind: 'TrustedIssuer',
    doc: {
      id: 'github-actions',
      issuer: 'https://token.actions.githubusercontent.com',
      type: 'workload',
      jwks_uri: 'https://token.actions.githubusercontent.com/.well-known/jwks',
      audiences: ['mandate'],
    },
  },
  {
    kind: 'Workload',
    doc: {
      id: 'ci-deployer',
      name: 'CI deployer',
      credentials: [
        {
          type: 'federated',
          issuer: 'https://token.actions.githubusercontent.com',
          subject: 'repo:example/app:ref:refs/heads/main',
          audience: 'mandate',
        },
      ],
    },
  },
  {
    kind: 'Agent',
    doc: {
      id: 'support-bot',
      name: 'Support chatbot',
      sponsor: 'alice@example.com',
      classification: 'delegated',
      ceiling: ['crm:read', 'crm:write'],
    },
  },
  {
    kind: 'Agent',
    doc: {
      id: 'fraud-watch',
      name: 'Fraud detection',
      sponsor: 'bob@example.com',
      classification: 'autonomous',
      ceiling: ['payments:read', 'cases:write'],
      model: { provider: 'example', name: 'risk-model', version: '2026-10' },
    },
  },
  {
    kind: 'Agent',
    doc: {
      id: 'care-assistant',
      name: 'Care assistant',
      sponsor: 'alice@example.com',
      classification: 'blended',
      ceiling: ['records:read', 'schedule:write', 'billing:read'],
    },
  },
  {
    kind: 'Agent',
    doc: {
      id: 'care-scheduler',
      name: 'Care scheduling sub-agent',
      sponsor: 'alice@example.com',
      classification: 'autonomous',
      parent: 'care-assistant',
      ceiling: ['schedule:write'],
    },
  },
  {
    kind: 'Group',
    doc: {
      id: 'support-team',
      name: 'Support team',
      members: [
        { kind: 'human', id: 'alice@example.com' },
        { kind: 'agent', id: 'support-bot' },
      ],
    },
  },
]

/** Seeds the demo documents; each is a normal, audited registry write. */
export async function seedDemoData(registry: Registry): Promise<number> {
  for (const { kind, doc } of documents)
    await registry.put(kind, String(doc.id), doc, { actor: { kind: 'system', id: 'demo-seed' } })
  return documents.length
}
