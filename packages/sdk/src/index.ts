// @mandate/sdk: clients for Mandate: the agent client (tokens, DPoP, delegation, calls to resource servers) and the
// admin client.
export {
  AdminClient,
  type AdminClientOptions,
  type AuditEvent,
  type AuditVerification,
  type ChangeResult,
  type ExplainRequest,
  type Explanation,
  type KindPath,
  type RegistryObject,
} from './admin-client.js'
export {
  type AccessToken,
  AgentClient,
  type AgentClientOptions,
  type AgentCredential,
  type AgentFetchInit,
  type AuthorizationDetail,
  type ClientSecretCredential,
  type DpopKeyPair,
  type DpopProofOptions,
  type ExchangeOptions,
  type FederatedCredential,
  type GetTokenOptions,
  type PrivateKeyJwtCredential,
  type SubjectTokenType,
  SubjectTokenTypes,
  type TokenIntrospection,
} from './agent-client.js'
export { AGENT_ENV } from './agent-env.js'
export { ASYMMETRIC_ALGORITHMS } from './algorithms.js'
export { type ErrorCode, type FieldError, MandateApiError } from './errors.js'
export type { Jwk, PrivateKeyInput } from './keys.js'
export { MandateOAuthError, type OAuthErrorCode } from './oauth-errors.js'
