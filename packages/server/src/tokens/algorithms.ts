// The JWS algorithms Mandate accepts from others: the SDK holds the one list, so clients and the node agree.
import { ASYMMETRIC_ALGORITHMS } from '@mandate/sdk'

export { ASYMMETRIC_ALGORITHMS }

/** Asymmetric algorithms accepted for assertions: never `none`, never HMAC (a public key must not become a secret). */
export const ASSERTION_ALGORITHMS: string[] = [...ASYMMETRIC_ALGORITHMS]
