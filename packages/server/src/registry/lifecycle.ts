// Lifecycle rules that decide whether a workload or agent may authenticate at a given moment.
import { parseRfc3339 } from '../rfc3339.ts'
import type { Agent, Human, Workload } from './model.ts'

/** Why a principal may not authenticate now. */
export type AuthenticationBlock = 'suspended' | 'retired' | 'expired' | 'sponsor_inactive' | 'sponsor_missing'

/**
 * Answers why `principal` may not authenticate at `now`, or null when it may. An agent also needs an active sponsor:
 * agents never outlive the human accountable for them.
 */
export function authenticationBlock(
  principal: Workload | Agent,
  now: Date,
  sponsor?: Human,
): AuthenticationBlock | null {
  if (principal.status === 'retired') return 'retired'
  if (principal.status === 'suspended') return 'suspended'
  // An expiry that cannot be read counts as passed: fail closed.
  const expires =
    principal.expires_at === undefined
      ? undefined
      : (parseRfc3339(principal.expires_at) ?? Number.NEGATIVE_INFINITY)
  if (expires !== undefined && expires <= now.getTime()) return 'expired'
  if ('sponsor' in principal) {
    if (!sponsor) return 'sponsor_missing'
    if (sponsor.status !== 'active') return 'sponsor_inactive'
  }
  return null
}
