// "My mandates": the logged-in human's own mandates, with their use against the budget and the agent's last actions
// under each (from the audit log), and a revoke form.
//   GET  /me/mandates              the page
//   GET  /me/mandates.json         the same as JSON: { items: [mandate + usage + last_actions] }
//   POST /me/mandates/:id/revoke   revokes one of them (CSRF-checked); another human's mandate is a 404
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AuditLog } from '../../audit/audit-log.ts'
import { NotFound, Unauthorized } from '../../errors/mandate-error.ts'
import type { Mandates } from '../../mandates/mandates.ts'
import type { MandateWithUse } from '../../mandates/model.ts'
import type { Directory } from '../../registry/directory.ts'
import type { Database } from '../../store/database.ts'
import { validTraceparent } from '../admin/auth.ts'
import { acceptForms } from './form.ts'
import { type Html, html, sendPage } from './html.ts'
import type { WebSession, WebSessions } from './session.ts'

/** How many of the agent's last actions are shown under each mandate. */
const LAST_ACTIONS = 5

/** One token issued under a mandate, as the page shows it. */
export interface MandateAction {
  time: string
  action: string | null
  resource: string | null
}

/** Registers the My mandates page, its JSON form and the revoke form. */
export function registerMyMandatesRoutes(
  app: FastifyInstance,
  deps: { web: WebSessions; mandates: Mandates; audit: AuditLog; database: Database; directory: Directory },
): void {
  // The agent's tokens under this mandate, newest first: issuance records since the mandate was granted.
  const lastActions = async (mandate: MandateWithUse): Promise<MandateAction[]> => {
    const events = await deps.audit.read(deps.database.db, {
      principal: `agent:${mandate.agent}`,
      type: 'token.issue',
      since: mandate.created_at,
      limit: 1000,
    })
    return events
      .filter((e) => e.details?.mandate_id === mandate.id)
      .slice(-LAST_ACTIONS)
      .reverse()
      .map((e) => ({ time: e.time, action: e.action, resource: e.resource }))
  }
  const mine = async (session: WebSession) => {
    const mandates = await deps.mandates.list({ human: session.human.id, limit: 200 })
    return Promise.all(mandates.map(async (m) => ({ ...m, last_actions: await lastActions(m) })))
  }

  void app.register(async (scope) => {
    acceptForms(scope)

    scope.get('/me/mandates', { schema: { hide: true } }, async (request, reply) => {
      const session = await deps.web.requireHuman(request, reply)
      if (!session) return reply
      const items = await mine(session)
      return sendPage(reply, {
        title: 'My mandates',
        who: { name: session.name, csrfField: deps.web.csrfField(session) },
        body:
          items.length === 0
            ? html`<p>You have not given any agent a mandate.</p>`
            : html`${items.map((m) => mandateSection(m, deps.directory, deps.web.csrfField(session)))}`,
      })
    })

    scope.get('/me/mandates.json', { schema: { hide: true } }, async (request, reply) => {
      const session = await deps.web.current(request)
      if (!session) throw new Unauthorized('log in first')
      void reply.header('cache-control', 'no-store')
      return { items: await mine(session) }
    })

    scope.post(
      '/me/mandates/:id/revoke',
      {
        schema: {
          hide: true,
          params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) }),
          body: Type.Object(
            { csrf_token: Type.Optional(Type.String({ maxLength: 200 })) },
            { additionalProperties: true },
          ),
        },
      },
      async (request, reply) => {
        const session = await deps.web.requireHuman(request, reply)
        if (!session) return reply
        deps.web.checkCsrf(request, session, (request.body as { csrf_token?: string }).csrf_token)
        const id = (request.params as { id: string }).id
        // Another human's mandate is not shown to exist.
        const mandate = await deps.mandates.get(id).catch(() => undefined)
        if (mandate?.human !== session.human.id) throw new NotFound('Mandate', id)
        await deps.mandates.revoke(id, actorOf(request, session), 'revoked by the human who gave it')
        return reply.redirect('/me/mandates', 303)
      },
    )
  })
}

function actorOf(request: FastifyRequest, session: WebSession) {
  return {
    actor: { kind: 'human' as const, id: session.human.id },
    requestId: request.id,
    traceparent: validTraceparent(request.headers.traceparent),
  }
}

function budgetText(m: MandateWithUse): string {
  const parts: string[] = []
  const budget = m.budget
  if (budget?.calls !== undefined) parts.push(`${m.usage.calls} of ${budget.calls} calls`)
  else parts.push(`${m.usage.calls} calls`)
  if (budget?.sum) parts.push(`${m.usage.sum} of ${budget.sum.limit} ${budget.sum.argument}`)
  if (budget && budget.period !== 'total') parts.push(`this ${budget.period}`)
  return parts.join(', ')
}

function mandateSection(
  m: MandateWithUse & { last_actions: MandateAction[] },
  directory: Directory,
  csrf: Html,
): Html {
  const agent = directory.client(m.agent)
  const agentName = agent?.kind === 'agent' ? (agent.principal.name ?? m.agent) : m.agent
  return html`<section aria-labelledby="m-${m.id}">
<h2 id="m-${m.id}">${agentName} <small>(${m.id})</small></h2>
<dl>
<dt>Status</dt><dd>${m.status}${m.revoked_at ? html` since ${m.revoked_at}` : ''}</dd>
<dt>May do</dt><dd>${m.actions.join(', ')} on ${m.resource_servers.join(', ')}${
    m.resource_patterns ? html` (only ${m.resource_patterns.join(', ')})` : ''
  }</dd>
<dt>Until</dt><dd>${m.expires_at}</dd>
<dt>Used</dt><dd>${budgetText(m)}</dd>
</dl>
${
  m.last_actions.length === 0
    ? html`<p>No action yet.</p>`
    : html`<table><caption>Last actions</caption><thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Where</th></tr></thead><tbody>${m.last_actions.map(
        (a) => html`<tr><td>${a.time}</td><td>${a.action ?? ''}</td><td>${a.resource ?? ''}</td></tr>`,
      )}</tbody></table>`
}
${
  m.status === 'active'
    ? html`<form method="post" action="/me/mandates/${encodeURIComponent(m.id)}/revoke">${csrf}<button type="submit">Revoke this mandate</button></form>`
    : ''
}
</section>`
}
