// Demo data for the embedded quickstart: resource servers, two humans, a group, a trusted workload issuer, a workload,
// one agent of each classification (plus a sub-agent) and the starter policies, written through the registry like any
// admin change.
import { AGENTS_POLICIES, CARE_POLICIES } from './demo-policies.ts'
import type { RegistryKind } from './model.ts'
import type { Registry } from './registry.ts'

const documents: Array<{ kind: RegistryKind; doc: Record<string, unknown> }> = [
  {
    kind: 'ResourceServer',
    doc: {
      id: 'crm',
      name: 'CRM API',
      audience: 'https://crm.example.com/',
      scopes: ['crm:read', 'crm:write'],
    },
  },
  {
    kind: 'ResourceServer',
    doc: {
      id: 'risk',
      name: 'Risk API',
      audience: 'https://risk.example.com/',
      scopes: ['payments:read', 'cases:write'],
    },
  },
  {
    kind: 'ResourceServer',
    doc: {
      id: 'ehr',
      name: 'Health records API',
      audience: 'https://ehr.example.com/',
      scopes: ['records:read'],
      token_lifetime_seconds: 120,
    },
  },
  {
    kind: 'ResourceServer',
    doc: {
      id: 'scheduling',
      name: 'Scheduling API',
      audience: 'https://scheduling.example.com/',
      scopes: ['schedule:write'],
    },
  },
  {
    kind: 'ResourceServer',
    doc: {
      id: 'billing',
      name: 'Billing API',
      audience: 'https://billing.example.com/',
      scopes: ['billing:read'],
    },
  },
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
  {
    kind: 'Policy',
    doc: {
      id: 'agents',
      description: 'Starter policies: the three agent patterns',
      policies: AGENTS_POLICIES,
    },
  },
  {
    kind: 'Policy',
    doc: { id: 'care', description: "The care assistant's per-action rules", policies: CARE_POLICIES },
  },
]

/** Seeds the demo documents; each is a normal, audited registry write. */
export async function seedDemoData(registry: Registry): Promise<number> {
  for (const { kind, doc } of documents)
    await registry.put(kind, String(doc.id), doc, { actor: { kind: 'system', id: 'demo-seed' } })
  return documents.length
}
