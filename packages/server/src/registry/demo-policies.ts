// The starter policies (examples/policies/*.cedar), seeded with the demo data so that `npm start` issues tokens out of
// the box. A test checks that these texts and the example files are the same.

/** examples/policies/agents.cedar: the three agent patterns and a guardrail. */
export const AGENTS_POLICIES = `// Starter policies for the three agent patterns. Before a policy is asked, Mandate has checked the agent's lifecycle,
// its sponsor, its ceiling and (for delegation) the human's token; policies then decide each scope of each token.
// Nothing is allowed unless a permit says so, and any forbid wins.

// Delegated: an agent acting for one human (a support chatbot for a customer). It may use a scope for that human
// while the human is active and the chain of agents stays short.
@id("delegated.for-an-active-human")
permit (principal is agent, action, resource is resource_server)
when {
  context has mode && context.mode == "delegated" &&
  principal.classification != "autonomous" &&
  context has delegator && context.delegator.status == "active" &&
  context has depth && context.depth <= 2
};

// Autonomous: an agent acting on its own authority (a fraud detector over queues). Agents registered as delegated
// never act on their own.
@id("autonomous.own-authority")
permit (principal is agent, action, resource is resource_server)
when { context has mode && context.mode == "autonomous" && principal.classification != "delegated" };

// Workloads (services, CI jobs) act on their own authority.
@id("workloads.own-authority")
permit (principal is workload, action, resource is resource_server);

// Guardrail for everyone: a high risk score stops every action.
@id("guard.high-risk")
forbid (principal, action, resource)
when { context has risk && context.risk >= 80 };
`

/** examples/policies/care.cedar: the blended care assistant's per-action rules, on the demo's resource servers. */
export const CARE_POLICIES = `// Blended: the care assistant acts for a patient and on its own in one session. These policies draw the line per
// action, on top of agents.cedar. They name the demo's resource servers and scopes.

// Health records only for the patient: never on the assistant's own authority.
@id("records.only-for-the-patient")
forbid (principal is agent, action == Action::"records:read", resource == resource_server::"ehr")
unless { context has mode && context.mode == "delegated" };

// A token to read records lives one minute at most.
@id("records.one-minute")
@max_ttl("60")
permit (principal is agent, action == Action::"records:read", resource == resource_server::"ehr")
when { context has mode && context.mode == "delegated" && context has delegator && context.delegator.status == "active" };

// Opening a fraud case on its own authority waits for the agent's sponsor to approve.
@id("cases.sponsor-approves")
@approval("sponsor")
permit (principal is agent, action == Action::"cases:write", resource == resource_server::"risk")
when { context has mode && context.mode == "autonomous" };
`
