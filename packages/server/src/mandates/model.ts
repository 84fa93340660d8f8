// A mandate as a JSON Schema: what a human grants an agent (actions on resource servers, for how long, within which
// limits), the input `grant` takes, and the stored form with its state and use. Wire spelling (snake_case), as stored.
import { type Static, Type } from '@sinclair/typebox'

const Id = (description: string) =>
  Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$', maxLength: 128, description })
const Action = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$', maxLength: 128 })
const Clock = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'HH:MM, 24-hour.' })

/** What a budget counts over: calls, and the sum of a numeric `authorization_details` field. */
export const Budget = Type.Object(
  {
    calls: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Tokens issued under the mandate.' }),
    ),
    sum: Type.Optional(
      Type.Object(
        {
          argument: Type.String({
            pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$',
            description: 'The numeric `authorization_details` field summed, e.g. `amount`.',
          }),
          limit: Type.Number({ exclusiveMinimum: 0, maximum: 1e15 }),
        },
        { additionalProperties: false },
      ),
    ),
    period: Type.Union(
      [Type.Literal('total'), Type.Literal('day'), Type.Literal('week'), Type.Literal('month')],
      {
        default: 'total',
        description: 'Whether the limits hold over the whole mandate or per UTC day, ISO week or month.',
      },
    ),
  },
  { additionalProperties: false, description: 'At least one of `calls` and `sum`.' },
)
export type Budget = Static<typeof Budget>

/** A time window in which the mandate may be used: weekdays and a time of day in a time zone. */
export const TimeWindow = Type.Object(
  {
    days: Type.Array(
      Type.Union(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => Type.Literal(d))),
      { minItems: 1, maxItems: 7, uniqueItems: true },
    ),
    start: Clock,
    end: Type.String({
      pattern: '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$',
      description: 'HH:MM, exclusive; 24:00 for the end of the day.',
    }),
    time_zone: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'IANA time zone, e.g. Europe/Paris.',
    }),
  },
  { additionalProperties: false },
)
export type TimeWindow = Static<typeof TimeWindow>

/** What `grant` takes: everything but the id, the state and the use, which Mandate sets. */
export const MandateInput = Type.Object(
  {
    human: Id('Registry id of the human who grants.'),
    agent: Id('Id of the agent that may act for them.'),
    actions: Type.Array(Action, { minItems: 1, maxItems: 100, uniqueItems: true }),
    resource_servers: Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), {
      minItems: 1,
      maxItems: 20,
      uniqueItems: true,
      description: 'Registered resource servers, by id or audience (stored by id).',
    }),
    resource_patterns: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), {
        minItems: 1,
        maxItems: 50,
        description: 'Resources the mandate is limited to (`*` matches any run of characters).',
      }),
    ),
    authorization_details_types: Type.Optional(
      Type.Array(Action, { minItems: 1, maxItems: 50, uniqueItems: true }),
    ),
    expires_at: Type.String({
      format: 'date-time',
      description: 'RFC 3339; at most the configured maximum away.',
    }),
    budget: Type.Optional(Budget),
    windows: Type.Optional(Type.Array(TimeWindow, { minItems: 1, maxItems: 20 })),
    source: Type.Union([Type.Literal('consent'), Type.Literal('admin')], { default: 'admin' }),
  },
  { additionalProperties: false },
)
export type MandateInput = Static<typeof MandateInput>

/** A mandate's use in its current budget period. */
export interface MandateUse {
  /** `total`, or the first day (UTC) of the current period. */
  period: string
  calls: number
  /** The sum spent of the budget's argument (0 without a sum budget). */
  sum: number
}

/** A stored mandate, as the admin API returns it. */
export interface Mandate extends Omit<MandateInput, 'source'> {
  id: string
  source: 'consent' | 'admin'
  status: 'active' | 'revoked'
  created_at: string
  created_by: string
  revoked_at?: string
  revoked_by?: string
  revoked_reason?: string
}

/** A mandate with its use in the current period. */
export interface MandateWithUse extends Mandate {
  usage: MandateUse
}

/** Refusal causes, as the token endpoint answers them. */
export type MandateRefusal = 'mandate_exhausted' | 'mandate_expired' | 'mandate_revoked'
