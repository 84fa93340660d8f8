// Admin API for approval requests: list, read, approve, deny. An admin may decide any approval; the decision is
// recorded with the admin token as the actor and `decided_as: admin`. Schemas and mapping only: approvals/ decides.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { Approvals, ApprovalView } from '../../approvals/approvals.ts'
import { changeContext } from './auth.ts'
import { BODY_ERRORS, errorResponses } from './schemas.ts'

const STATES = ['pending', 'approved', 'denied', 'expired', 'used'] as const
const ApprovalId = Type.String({ pattern: '^apr_[A-Za-z0-9_-]{1,64}$', description: 'The approval id.' })

const Approval = Type.Object(
  {
    id: Type.String(),
    state: Type.Union(STATES.map((s) => Type.Literal(s))),
    action: Type.Object(
      {
        origin: Type.Union([Type.Literal('token'), Type.Literal('backchannel')]),
        client: Type.Object({ kind: Type.String(), id: Type.String() }),
        mode: Type.Union([Type.Literal('autonomous'), Type.Literal('delegated')]),
        subject: Type.String({ description: 'The `sub` of the token an approval yields.' }),
        delegator: Type.Union([Type.String(), Type.Null()]),
        chain: Type.Array(Type.Object({ kind: Type.String(), id: Type.String() }), {
          description: 'The human first, then each agent.',
        }),
        resource: Type.String(),
        resource_server: Type.String(),
        scopes: Type.Array(Type.String()),
        authorization_details: Type.Array(Type.Record(Type.String(), Type.Unknown())),
        for: Type.Array(Type.String(), { description: 'What a policy asked approval for.' }),
        approver: Type.Object({
          rule: Type.String({ description: '`sponsor`, `delegator`, `group` or `login_hint`.' }),
          kind: Type.Union([Type.Literal('human'), Type.Literal('group')]),
          id: Type.String(),
        }),
        binding_message: Type.Union([Type.String(), Type.Null()]),
        not_after: Type.Union([Type.Integer(), Type.Null()]),
        max_ttl_seconds: Type.Union([Type.Integer(), Type.Null()]),
      },
      { description: 'Exactly the action: what the approval yields a token for.' },
    ),
    action_hash: Type.String({ description: "SHA-256 (hex) of the action's canonical JSON." }),
    created_at: Type.String({ format: 'date-time' }),
    expires_at: Type.String({ format: 'date-time' }),
    decided_by: Type.Union([Type.String(), Type.Null()]),
    decided_as: Type.Union([Type.Literal('approver'), Type.Literal('admin'), Type.Null()]),
    decided_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    reason: Type.Union([Type.String(), Type.Null()]),
    used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { description: 'An approval request.' },
)

const DecisionBody = Type.Object(
  {
    reason: Type.Optional(
      Type.String({ minLength: 1, maxLength: 500, description: 'Why, for the audit log.' }),
    ),
  },
  { additionalProperties: false },
)

/** Registers `GET /approvals`, `GET /approvals/:id`, `POST /approvals/:id/approve` and `POST /approvals/:id/deny`. */
export function registerApprovalRoutes(app: FastifyInstance, approvals: Approvals): void {
  app.get(
    '/approvals',
    {
      schema: {
        tags: ['approvals'],
        summary: 'List approval requests',
        description: 'Newest first. `state=pending` lists what waits for a decision.',
        querystring: Type.Object(
          {
            state: Type.Optional(Type.Union(STATES.map((s) => Type.Literal(s)))),
            approver: Type.Optional(
              Type.String({
                pattern: '^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$',
                description: 'Only those this human may decide.',
              }),
            ),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
            after: Type.Optional(ApprovalId),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            {
              items: Type.Array(Approval),
              next_cursor: Type.Union([Type.String(), Type.Null()], {
                description: 'Pass as `after` for the next page; null on the last.',
              }),
            },
            { description: 'A page of approval requests, newest first.' },
          ),
          ...errorResponses(400, 404),
        },
      },
    },
    async (request) => {
      const q = request.query as {
        state?: ApprovalView['state']
        approver?: string
        limit: number
        after?: string
      }
      return approvals.list({ state: q.state, human: q.approver, limit: q.limit, after: q.after })
    },
  )

  app.get(
    '/approvals/:id',
    {
      schema: {
        tags: ['approvals'],
        summary: 'Read an approval request',
        params: Type.Object({ id: ApprovalId }),
        response: { 200: Approval, ...errorResponses(400, 404) },
      },
    },
    async (request) => approvals.get((request.params as { id: string }).id),
  )

  for (const decision of ['approve', 'deny'] as const)
    app.post(
      `/approvals/:id/${decision}`,
      {
        schema: {
          tags: ['approvals'],
          summary: decision === 'approve' ? 'Approve a pending request' : 'Deny a pending request',
          description:
            'Once, while pending and unexpired (409 otherwise). Recorded with the admin token as the actor and `decided_as: admin`.',
          params: Type.Object({ id: ApprovalId }),
          body: Type.Optional(DecisionBody),
          response: { 200: Approval, ...errorResponses(...BODY_ERRORS, 404, 409) },
        },
      },
      async (request) => {
        const ctx = changeContext(request)
        const body = (request.body ?? {}) as { reason?: string }
        return approvals.decide(
          (request.params as { id: string }).id,
          decision,
          { kind: 'admin', actor: ctx.actor },
          { reason: body.reason, requestId: ctx.requestId, traceparent: ctx.traceparent },
        )
      },
    )
}
