// The one audit event model: every authentication, token, decision, proxied call and admin change is one of these.
import { findUnstorable } from './storable.ts'

/** Who acted, outermost first: the human, then the agent acting for them, then any sub-agent. */
export interface ActorRef {
  kind: 'human' | 'workload' | 'agent' | 'admin_token' | 'system'
  id: string
}

/** What a caller records; the log adds the sequence number, id, time and hashes. */
export interface AuditEventInput {
  /** Dotted event type, e.g. `admin.agent.create`, `token.issue`, `key.rotate`. */
  type: string
  outcome: 'success' | 'failure' | 'deny'
  /** The actor chain, in order. */
  actors: ActorRef[]
  /** Principals the event is about, as `kind:id`, for filtering (the actors are always included). */
  subjects?: string[]
  mode?: 'autonomous' | 'delegated'
  action?: string
  resource?: string
  reason?: string
  requestId?: string
  /** W3C Trace Context `traceparent` of the request, when it had one. */
  traceparent?: string
  /** Event-specific data. Never a secret: callers redact before recording. */
  details?: Record<string, unknown>
}

/** A recorded event, as stored and exported. */
export interface AuditEvent {
  seq: number
  id: string
  time: string
  type: string
  outcome: AuditEventInput['outcome']
  actors: ActorRef[]
  subjects: string[]
  mode: string | null
  action: string | null
  resource: string | null
  reason: string | null
  request_id: string | null
  traceparent: string | null
  details: Record<string, unknown> | null
  prev_hash: string
  hash: string
}

/** The fields covered by an event's hash: everything but the hashes themselves. */
export function hashedFields(event: AuditEvent): Omit<AuditEvent, 'hash' | 'prev_hash'> {
  const { hash: _hash, prev_hash: _prev, ...fields } = event
  return fields
}

/** An event that cannot be stored exactly as it would be hashed; the request that caused it must fail alone. */
export class UnrecordableEvent extends Error {}

/**
 * Refuses an event holding a value that cannot round-trip through every store (see `findUnstorable`). The HTTP edge
 * refuses such input first; this is the last line, so that one bad record never joins (and fails) a batch of good ones.
 */
export function checkRecordable(input: AuditEventInput): void {
  const problem = findUnstorable(input)
  if (problem) throw new UnrecordableEvent(`audit event ${input.type}: ${problem.path} ${problem.message}`)
}
