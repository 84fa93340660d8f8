// The JWS algorithms Mandate accepts from others (client assertions, DPoP proofs, registered keys): asymmetric only,
// so that no public key can ever be used as an HMAC secret (RFC 8725 §3.1), and never `none`. One list for the node
// and its clients.

/**
 * Asymmetric JWS algorithms (RFC 7518 §3; EdDSA per RFC 8037, and Ed25519, its fully specified name).
 * @example
 * ASYMMETRIC_ALGORITHMS.includes('ES256') // true
 */
export const ASYMMETRIC_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
] as const
