// The consent page (OAuth 2.1 §7.9: name the client, who is behind it and what it asks): the logged-in human sees the
// agent, its sponsor, classification and model, and exactly what is asked (actions, resource, authorization details,
// duration, budget); narrows it (uncheck, shorten, lower) and approves, or denies. CSRF-checked; no scripts.
//   GET  /consent?request=<ref>   the page (login first when there is no session)
//   POST /consent                 the decision: 303 to the agent's redirect URI with a code, or access_denied
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { findUnstorable } from '../../audit/storable.ts'
import { Forbidden, MandateError } from '../../errors/mandate-error.ts'
import type { AuthorizationEndpoint } from '../../oauth/authorization-endpoint.ts'
import type { AuthorizationRequest } from '../../oauth/authorization-request.ts'
import type { Directory } from '../../registry/directory.ts'
import type { Agent, Stored } from '../../registry/model.ts'
import { validTraceparent } from '../admin/auth.ts'
import { CONSENT_PATH } from '../authorization-routes.ts'
import { acceptForms } from './form.ts'
import { type Html, html, sendPage } from './html.ts'
import type { WebSession, WebSessions } from './session.ts'

const Field = Type.String({ maxLength: 8192 })
const Fields = Type.Union([Field, Type.Array(Field, { maxItems: 200 })])

/** The consent form: the request reference, the CSRF token, the decision and what the human kept. */
const ConsentForm = Type.Object(
  {
    request: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
    csrf_token: Type.String({ maxLength: 512 }),
    decision: Type.Union([Type.Literal('approve'), Type.Literal('deny')]),
    actions: Type.Optional(Fields),
    detail_types: Type.Optional(Fields),
    duration_minutes: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
    max_calls: Type.Optional(Type.String({ pattern: '^[0-9]{0,10}$' })),
  },
  { additionalProperties: false },
)

interface ConsentFields {
  request: string
  csrf_token: string
  decision: 'approve' | 'deny'
  actions?: string | string[]
  detail_types?: string | string[]
  duration_minutes?: string
  max_calls?: string
}

/** Registers the consent page and its form. */
export function registerConsentRoutes(
  app: FastifyInstance,
  deps: { web: WebSessions; authorizationEndpoint: AuthorizationEndpoint; directory: Directory },
): void {
  void app.register(async (scope) => {
    acceptForms(scope)
    scope.setErrorHandler((error, request, reply) => {
      if (error instanceof Forbidden) return problem(reply, 403, error.message)
      // Fastify's own refusals carry statusCode; Mandate's (the edge's input checks included) carry status.
      const status =
        error instanceof MandateError ? error.status : (error as { statusCode?: number }).statusCode
      if (typeof status === 'number' && status >= 400 && status < 500)
        return problem(
          reply,
          400,
          'The form or address is malformed; go back to the application and start again.',
        )
      request.log.error({ err: error }, 'unexpected error')
      return problem(reply, 500, 'Something went wrong; nothing was granted.')
    })

    scope.get(
      CONSENT_PATH,
      {
        schema: {
          hide: true,
          querystring: Type.Object(
            { request: Type.String({ maxLength: 100 }) },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const session = await deps.web.requireHuman(request, reply)
        if (!session) return reply
        const ref = (request.query as { request: string }).request
        const pending = await deps.authorizationEndpoint.pending(ref)
        if (!pending) return gone(reply)
        const client = deps.directory.client(pending.client_id)
        if (client?.kind !== 'agent') return gone(reply)
        return sendPage(reply, {
          title: `${client.principal.name ?? client.principal.id} asks to act for you`,
          who: { name: session.name, csrfField: deps.web.csrfField(session) },
          body: consentBody(deps, session, ref, pending, client.principal),
          formActions: [new URL(pending.redirect_uri).origin],
        })
      },
    )

    scope.post(CONSENT_PATH, { schema: { hide: true, body: ConsentForm } }, async (request, reply) => {
      const session = await deps.web.current(request)
      if (!session) return problem(reply, 403, 'You are not logged in: nothing was granted.')
      const form = request.body as ConsentFields
      deps.web.checkCsrf(request, session, form.csrf_token)
      for (const value of [form.actions, form.detail_types].flat())
        if (value !== undefined && findUnstorable(value))
          return problem(reply, 400, 'The form holds invalid text.')
      const minutes = form.duration_minutes === undefined ? undefined : Number(form.duration_minutes)
      const calls = form.max_calls === undefined || form.max_calls === '' ? undefined : Number(form.max_calls)
      if (calls !== undefined && calls < 1) return problem(reply, 400, 'A call budget must be at least 1.')
      const target = await deps.authorizationEndpoint.decide(
        form.request,
        session.human.id,
        {
          approve: form.decision === 'approve',
          actions: list(form.actions),
          detailTypes: list(form.detail_types),
          durationSeconds: minutes === undefined ? Number.POSITIVE_INFINITY : minutes * 60,
          maxCalls: calls,
        },
        trace(request),
      )
      if (target === undefined) return gone(reply)
      return reply.header('cache-control', 'no-store').redirect(target, 303)
    })
  })
}

function consentBody(
  deps: { web: WebSessions; directory: Directory },
  session: WebSession,
  ref: string,
  request: AuthorizationRequest,
  agent: Stored<Agent>,
): Html {
  const sponsor = deps.directory.human(agent.sponsor)
  const model = agent.model
    ? `${agent.model.provider} ${agent.model.name}${agent.model.version ? ` ${agent.model.version}` : ''}`
    : 'not declared'
  const minutes = Math.floor(request.duration_seconds / 60)
  const details = request.authorization_details ?? []
  const detailTypes = [...new Set(details.map((d) => String(d.type)))]
  return html`<section aria-labelledby="agent">
<h2 id="agent">The agent</h2>
<dl>
<dt>Agent</dt><dd>${agent.name ?? agent.id} (<code>${agent.id}</code>)</dd>
${agent.description ? html`<dt>Description</dt><dd>${agent.description}</dd>` : ''}
<dt>Sponsor</dt><dd>${sponsor?.name ?? agent.sponsor}${sponsor?.email ? html` &lt;${sponsor.email}&gt;` : ''} (accountable for this agent)</dd>
<dt>Classification</dt><dd>${agent.classification}</dd>
<dt>Model</dt><dd>${model}</dd>
<dt>Returns you to</dt><dd><code>${request.redirect_uri}</code></dd>
</dl>
</section>
<form method="post" action="${CONSENT_PATH}">
${deps.web.csrfField(session)}
<input type="hidden" name="request" value="${ref}">
<fieldset>
<legend>What it asks, on <code>${request.resource_server.audience}</code> (uncheck what you do not grant)</legend>
${request.scope.map((action) => html`<label><input type="checkbox" name="actions" value="${action}" checked> <code>${action}</code></label>`)}
${detailTypes.map(
  (type) =>
    html`<label><input type="checkbox" name="detail_types" value="${type}" checked> <code>${type}</code>: ${details
      .filter((d) => String(d.type) === type)
      .map((d) => html`<pre>${JSON.stringify(d, null, 2)}</pre>`)}</label>`,
)}
</fieldset>
<fieldset>
<legend>Limits (you may lower them)</legend>
<label>Valid for (minutes, at most ${minutes}) <input type="number" name="duration_minutes" min="1" max="${minutes}" value="${minutes}" required></label>
<label>Most calls (token issuances)${request.max_calls !== undefined ? html`, at most ${request.max_calls}` : ', optional'} <input type="number" name="max_calls" min="1"${request.max_calls !== undefined ? html` max="${request.max_calls}" required` : ''} value="${request.max_calls ?? ''}"></label>
</fieldset>
<p>Approving creates a mandate you can revoke at any time.</p>
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>`
}

function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}

function gone(reply: FastifyReply): FastifyReply {
  return problem(
    reply,
    400,
    'This request has expired or was already answered. Go back to the application and start again.',
  )
}

function problem(reply: FastifyReply, status: number, message: string): FastifyReply {
  return sendPage(reply, {
    status,
    title: 'Authorization not granted',
    body: html`<p class="error">${message}</p>`,
  })
}

function trace(request: FastifyRequest) {
  return { requestId: request.id, traceparent: validTraceparent(request.headers.traceparent) }
}
