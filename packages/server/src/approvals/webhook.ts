// Tells the approver's system that an approval waits: one signed JSON POST per new request to the configured URL,
// retried with exponential backoff, its outcome recorded. The body names the action and the approval page, never a
// secret; the signature is an HMAC-SHA256 under a configured secret (see docs/delegation.md, "Verifying the webhook").
import { createHmac, randomUUID } from 'node:crypto'
import type { AuditEventInput } from '../audit/event.ts'
import type { ApprovalView } from './approvals.ts'

export interface ApprovalWebhookOptions {
  url: string
  /** The HMAC key the receiver shares. */
  secret: string
  /** Tries per delivery, the first included. */
  attempts: number
  /** The wait before the first retry; each later one doubles it. */
  retryBaseMs: number
  timeoutMs: number
  /** Where the approver decides (the approvals page), for the body's `approval_url`. */
  pageUrl: (id: string) => string
  /** Durable record of each delivery's outcome. */
  record: (event: AuditEventInput) => Promise<unknown>
  onError: (message: string, error?: unknown) => void
  now: () => number
  fetch?: typeof fetch | undefined
}

/**
 * The signature header's value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. A receiver recomputes
 * it over the raw body, compares in constant time, and refuses a `t` too far from its clock (replay).
 * @example
 * signWebhook('s3cret', '{"type":"approval.pending"}', 1767225600)
 */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`, 'utf8').digest('hex')
  return `t=${unixSeconds},v1=${mac}`
}

/** Delivers approval notifications; `close()` waits for deliveries under way. */
export class ApprovalWebhook {
  private readonly inFlight = new Set<Promise<void>>()
  private closed = false

  constructor(private readonly options: ApprovalWebhookOptions) {}

  /** Starts delivering a notification for a new approval; never throws. */
  notify(approval: ApprovalView): void {
    if (this.closed) return
    const delivery = this.deliver(approval).catch((error: unknown) =>
      this.options.onError('approval webhook delivery could not be recorded', error),
    )
    this.inFlight.add(delivery)
    void delivery.finally(() => this.inFlight.delete(delivery))
  }

  /** Stops retrying and waits for the deliveries under way to end. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.allSettled([...this.inFlight])
  }

  private async deliver(approval: ApprovalView): Promise<void> {
    const { options } = this
    const id = randomUUID()
    const body = JSON.stringify({
      type: 'approval.pending',
      delivery_id: id,
      approval,
      approval_url: options.pageUrl(approval.id),
    })
    let outcome = 'no attempt'
    let attempt = 0
    for (attempt = 1; attempt <= options.attempts; attempt++) {
      if (attempt > 1) {
        if (this.closed) break
        await new Promise((resolve) => setTimeout(resolve, options.retryBaseMs * 2 ** (attempt - 2)))
      }
      outcome = await this.post(id, attempt, body)
      if (outcome === 'delivered') break
    }
    await options.record({
      type: 'approval.notify',
      outcome: outcome === 'delivered' ? 'success' : 'failure',
      actors: [{ kind: 'system', id: 'approval-webhook' }],
      subjects: [`${approval.action.approver.kind}:${approval.action.approver.id}`],
      ...(outcome === 'delivered' ? {} : { reason: outcome }),
      details: { approval_id: approval.id, delivery_id: id, attempts: Math.min(attempt, options.attempts) },
    })
  }

  // One try: 'delivered' on a 2xx answer, else what went wrong (a status or a network error code, never a body).
  private async post(id: string, attempt: number, body: string): Promise<string> {
    const { options } = this
    const send = options.fetch ?? globalThis.fetch
    try {
      const response = await send(options.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(options.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'mandate-delivery': id,
          'mandate-delivery-attempt': String(attempt),
          'mandate-signature': signWebhook(options.secret, body, Math.floor(options.now() / 1000)),
        },
        body,
      })
      await response.body?.cancel()
      return response.ok ? 'delivered' : `HTTP ${response.status}`
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause
      return `network error ${cause?.code ?? (error as Error).name}`
    }
  }
}
