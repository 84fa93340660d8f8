// The JWS algorithms Mandate accepts from others: the SDK holds the one list, so clients and the node agree.
export { ASYMMETRIC_ALGORITHMS } from '@mandate/sdk'
