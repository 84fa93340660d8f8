// The action an approval is for, exactly: who asks, for whom, on which resource, with which scopes and authorization
// details, and who must approve. It is stored as canonical JSON with its SHA-256, and the hash is checked again when
// the approval is redeemed, so that what is issued is what the approver saw.
import { createHash } from 'node:crypto'
import { canonicalJson } from '../audit/canonical-json.ts'
import type { ActorRef } from '../audit/event.ts'

/** Who must decide: one human, or any human member of a group. */
export interface Approver {
  /** What named them: the policy's `@approval` (`sponsor`, `delegator`, `group`) or the backchannel `login_hint`. */
  rule: 'sponsor' | 'delegator' | 'group' | 'login_hint'
  kind: 'human' | 'group'
  id: string
}

/** The action itself (wire spelling: it is stored and shown as written). */
export interface ApprovalAction {
  /** `token`: a token request a policy held; `backchannel`: a CIBA backchannel authentication request. */
  origin: 'token' | 'backchannel'
  client: { kind: 'agent' | 'workload'; id: string }
  mode: 'autonomous' | 'delegated'
  /** The issued token's `sub`: the delegating human, or the client itself. */
  subject: string
  delegator: string | null
  /** The chain, the human first, then each agent. */
  chain: ActorRef[]
  /** The resource server's audience, and its registry id. */
  resource: string
  resource_server: string
  scopes: string[]
  authorization_details: Array<Record<string, unknown>>
  /** The scopes and detail types a policy asked approval for (all of them for a backchannel request). */
  for: string[]
  approver: Approver
  /** CIBA §7.1 `binding_message`, shown to the approver. */
  binding_message: string | null
  /** Epoch seconds the issued token must not outlive (the subject token's expiry, for a held exchange). */
  not_after: number | null
  /** The policies' `@max_ttl`, when one applied. */
  max_ttl_seconds: number | null
  /**
   * The mandate a held delegated exchange was covered by: redeeming the approval checks it again and spends its budget
   * with the issuance. Absent for anything else.
   */
  mandate_id?: string
}

/** SHA-256 (hex) of the action's canonical JSON. */
export function actionHash(action: ApprovalAction): string {
  return hashOf(canonicalJson(action))
}

/** SHA-256 (hex) of stored canonical JSON. */
export function hashOf(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}
