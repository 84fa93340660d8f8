// The approvals page: the logged-in human sees the requests they may decide (as the named human, or as a member of
// the named group), each with exactly the action, the agent and the chain, and approves or denies it with a
// CSRF-protected form. Schemas and mapping only: approvals/ decides who may decide and records it.
//   GET  /approvals                 what waits for this human
//   GET  /approvals/:id             one request, with the approve and deny forms while it is pending
//   POST /approvals/:id/approve     (and /deny) CSRF-checked; then back to the request
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Approvals, ApprovalView } from '../../approvals/approvals.ts'
import { Conflict, Forbidden, NotFound } from '../../errors/mandate-error.ts'
import type { Directory } from '../../registry/directory.ts'
import { validTraceparent } from '../admin/auth.ts'
import { acceptForms } from './form.ts'
import { type Html, html, sendPage } from './html.ts'
import type { WebSession, WebSessions } from './session.ts'

const Id = Type.Object({ id: Type.String({ pattern: '^apr_[A-Za-z0-9_-]{1,64}$' }) })
const DecisionForm = Type.Object(
  {
    // A missing token is the CSRF check's refusal (403), not a malformed form.
    csrf_token: Type.Optional(Type.String({ maxLength: 200 })),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
)

// Whoever the request names, a human who may not decide it learns nothing about it.
function decidable(approvals: Approvals, session: WebSession, approval: ApprovalView): boolean {
  return approvals.mayDecide(session.human.id, approval)
}

function what(a: ApprovalView): string {
  return [...a.action.scopes, ...a.action.authorization_details.map((d) => String(d.type))].join(' ')
}

// The agent as the registry knows it: who is accountable for it, and what it is.
function agentFacts(directory: Directory, a: ApprovalView): Html {
  const client = directory.client(a.action.client.id)
  if (client?.kind !== 'agent') return html`${a.action.client.kind} <strong>${a.action.client.id}</strong>`
  const agent = client.principal
  return html`agent <strong>${agent.name ?? agent.id}</strong> (<code>${agent.id}</code>), ${agent.classification},
sponsored by <code>${agent.sponsor}</code>${agent.model ? html`, model <code>${JSON.stringify(agent.model)}</code>` : ''}`
}

function actionTable(directory: Directory, a: ApprovalView): Html {
  const row = (label: string, value: Html | string) =>
    html`<tr><th scope="row">${label}</th><td>${value}</td></tr>`
  return html`<table>
${row('Agent', agentFacts(directory, a))}
${row('Chain', html`${a.action.chain.map((c, i) => html`${i > 0 ? ' → ' : ''}<code>${c.kind}:${c.id}</code>`)}`)}
${row('Acts', a.action.mode === 'delegated' ? html`for <code>${a.action.delegator}</code>` : 'on its own authority')}
${row('Resource', html`<code>${a.action.resource}</code>`)}
${row('Scopes', a.action.scopes.length > 0 ? html`<code>${a.action.scopes.join(' ')}</code>` : '(none)')}
${
  a.action.authorization_details.length > 0
    ? row('Details', html`<pre>${JSON.stringify(a.action.authorization_details, null, 2)}</pre>`)
    : ''
}
${a.action.binding_message !== null ? row('Message', html`<q>${a.action.binding_message}</q>`) : ''}
${row('Approver', html`<code>${a.action.approver.kind}:${a.action.approver.id}</code> (${a.action.approver.rule})`)}
${row('State', html`<strong id="state">${a.state}</strong>`)}
${row('Expires', a.expires_at)}
${a.decided_by ? row('Decided', html`by <code>${a.decided_by}</code> as ${a.decided_as} at ${a.decided_at}`) : ''}
${row('Action hash', html`<code>sha256:${a.action_hash}</code>`)}
</table>`
}

/** Registers the approvals page. */
export function registerApprovalPages(
  app: FastifyInstance,
  deps: { web: WebSessions; approvals: Approvals; directory: Directory },
): void {
  void app.register(async (scope) => {
    acceptForms(scope)
    const who = (session: WebSession) => ({ name: session.name, csrfField: deps.web.csrfField(session) })
    const notFound = (reply: FastifyReply, session: WebSession) =>
      sendPage(reply, {
        status: 404,
        title: 'No such approval',
        who: who(session),
        body: html`<p class="error">There is no approval request here for you.</p><p><a href="/approvals">Your approvals</a></p>`,
      })

    scope.get('/approvals', { schema: { hide: true } }, async (request, reply) => {
      const session = await deps.web.requireHuman(request, reply)
      if (!session) return reply
      const { items } = await deps.approvals.list({ human: session.human.id, state: 'pending', limit: 100 })
      return sendPage(reply, {
        title: 'Approvals',
        who: who(session),
        body:
          items.length === 0
            ? html`<p>Nothing waits for your approval.</p>`
            : html`<p>These actions wait for your approval:</p>
<table><thead><tr><th>Agent</th><th>For</th><th>Action</th><th>Resource</th><th>Expires</th></tr></thead><tbody>
${items.map(
  (a) => html`<tr><td><a href="/approvals/${encodeURIComponent(a.id)}">${a.action.client.id}</a></td>
<td>${a.action.delegator ?? '(itself)'}</td><td><code>${what(a)}</code></td><td><code>${a.action.resource}</code></td><td>${a.expires_at}</td></tr>`,
)}
</tbody></table>`,
      })
    })

    scope.get('/approvals/:id', { schema: { hide: true, params: Id } }, async (request, reply) => {
      const session = await deps.web.requireHuman(request, reply)
      if (!session) return reply
      const id = (request.params as { id: string }).id
      const approval = await deps.approvals.get(id).catch((error: unknown) => {
        if (error instanceof NotFound) return undefined
        throw error
      })
      if (!approval || !decidable(deps.approvals, session, approval)) return notFound(reply, session)
      const path = `/approvals/${encodeURIComponent(id)}`
      const forms =
        approval.state === 'pending'
          ? html`<form method="post" action="${path}/approve">${deps.web.csrfField(session)}
<label>Reason (optional) <input name="reason" maxlength="500"></label>
<button type="submit" id="approve">Approve this action</button></form>
<form method="post" action="${path}/deny">${deps.web.csrfField(session)}
<button type="submit" id="deny">Deny</button></form>`
          : html`<p>This request is ${approval.state}; there is nothing left to decide.</p>`
      return sendPage(reply, {
        title: 'Approve an agent action',
        who: who(session),
        body: html`<p>An agent asks to do exactly this, once:</p>${actionTable(deps.directory, approval)}${forms}
<p><a href="/approvals">All your approvals</a></p>`,
      })
    })

    for (const decision of ['approve', 'deny'] as const)
      scope.post(
        `/approvals/:id/${decision}`,
        { schema: { hide: true, params: Id, body: DecisionForm } },
        async (request: FastifyRequest, reply) => {
          const session = await deps.web.current(request)
          if (!session) throw new Forbidden('log in to decide approvals')
          const body = request.body as { csrf_token?: string; reason?: string }
          deps.web.checkCsrf(request, session, body.csrf_token)
          const id = (request.params as { id: string }).id
          try {
            await deps.approvals.decide(
              id,
              decision,
              { kind: 'human', id: session.human.id },
              {
                ...(body.reason ? { reason: body.reason } : {}),
                requestId: request.id,
                traceparent: validTraceparent(request.headers.traceparent),
              },
            )
          } catch (error) {
            if (error instanceof NotFound || error instanceof Forbidden) return notFound(reply, session)
            if (!(error instanceof Conflict)) throw error
            return sendPage(reply, {
              status: 409,
              title: 'Already decided',
              who: who(session),
              body: html`<p class="error">${error.message}.</p><p><a href="/approvals/${encodeURIComponent(id)}">Back</a></p>`,
            })
          }
          return reply.redirect(`/approvals/${encodeURIComponent(id)}`, 303)
        },
      )
  })
}
