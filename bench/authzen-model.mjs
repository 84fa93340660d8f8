// The model bench/authzen.mjs decides: Mandate's entity types and Cedar policies, and the AuthZEN bodies every target
// gets. bench/targets/cerbos/policies holds the same rules for Cerbos; the benchmark checks that both engines decide
// every body alike before it measures.
import { random } from './lib.mjs'

export const MANDATE_DOCUMENTS = [
  {
    kind: 'EntityType',
    id: 'bot',
    principal: true,
    attributes: {
      classification: { type: 'String', required: true },
      department: { type: 'String', required: true },
      delegator: { type: 'String' },
      roles: { type: 'Set<String>' },
    },
  },
  ...['ticket', 'record'].map((id) => ({
    kind: 'EntityType',
    id,
    attributes: {
      owner: { type: 'String', required: true },
      department: { type: 'String', required: true },
      sensitivity: { type: 'Long', required: true },
    },
    actions: ['read', 'write', 'delete'],
  })),
  {
    kind: 'Policy',
    id: 'bench',
    // The Cedar twin of bench/targets/cerbos/policies: a forbid on high sensitivity beats every permit.
    policies: `@id("ticket.deny-high-sensitivity")
forbid (principal, action, resource is ticket) when { resource.sensitivity >= 5 };

@id("record.deny-high-sensitivity")
forbid (principal, action, resource is record) when { resource.sensitivity >= 5 };

@id("ticket.delegated-owner")
permit (principal is bot, action in [Action::"read", Action::"write"], resource is ticket)
when { ["delegated", "blended"].contains(principal.classification) && principal has delegator && resource.owner == principal.delegator };

@id("record.autonomous-own-department")
permit (principal is bot, action == Action::"read", resource is record)
when { ["autonomous", "blended"].contains(principal.classification) && resource.department == principal.department && resource.sensitivity < 3 };

@id("ticket.admin")
permit (principal is bot, action, resource is ticket) when { principal has roles && principal.roles.contains("admin") };

@id("record.admin")
permit (principal is bot, action, resource is record) when { principal has roles && principal.roles.contains("admin") };
`,
  },
]

/** 64 AuthZEN evaluation bodies, the same for every target (`cerbos.roles` is how Cerbos reads roles; Mandate reads
 * `roles`). */
export function singleBodies() {
  const rnd = random(7)
  const pick = (list) => list[Math.floor(rnd() * list.length)]
  const bodies = []
  for (let i = 0; i < 64; i++) {
    const roles = rnd() < 0.15 ? ['agent', 'admin'] : ['agent']
    const delegator = rnd() < 0.8 ? pick(['alice', 'bob']) : undefined
    bodies.push({
      subject: {
        type: 'bot',
        id: `agent-${i}`,
        properties: {
          classification: pick(['delegated', 'autonomous', 'blended']),
          department: pick(['support', 'risk']),
          ...(delegator ? { delegator } : {}),
          roles,
          'cerbos.roles': roles,
        },
      },
      action: { name: pick(['read', 'write', 'delete']) },
      resource: {
        type: pick(['ticket', 'record']),
        id: `r-${i}`,
        properties: {
          owner: pick(['alice', 'bob']),
          department: pick(['support', 'risk']),
          sensitivity: Math.floor(rnd() * 6),
        },
      },
    })
  }
  return bodies
}

/**
 * 64 batch bodies (AuthZEN §7) of `items` evaluations each, every item a whole evaluation taken in turn from the
 * single bodies, so that a batch holds the same mix.
 */
export function batchBodies(items) {
  const singles = singleBodies()
  return Array.from({ length: 64 }, (_, b) => ({
    // Cerbos refuses a batch without a default context (an empty one counts as none); no policy reads this one.
    context: { channel: 'bench' },
    evaluations: Array.from({ length: items }, (_, k) => singles[(b * items + k) % singles.length]),
  }))
}
