// @mandate/sdk: clients for Mandate: the agent client (tokens, DPoP, delegation) and the admin client.
export {
  AdminClient,
  type AdminClientOptions,
  type ApplyDocument,
  type ApplyResult,
  type AuditEvent,
  type AuditVerification,
  type ChangeResult,
  type ExplainRequest,
  type Explanation,
  type RegistryObject,
} from './admin-client.ts'
export {
  type AccessToken,
  AgentClient,
  type AgentClientOptions,
  type AgentCredential,
  type AuthorizationDetail,
  type ClientSecretCredential,
  type DpopKeyPair,
  type DpopProofOptions,
  type ExchangeOptions,
  type FederatedCredential,
  type GetTokenOptions,
  type PrivateKeyInput,
  type PrivateKeyJwtCredential,
  type SubjectTokenType,
  SubjectTokenTypes,
} from './agent-client.ts'
export { ASYMMETRIC_ALGORITHMS } from './algorithms.ts'
export { type ErrorCode, type FieldError, MandateApiError } from './errors.ts'
export { MandateOAuthError, type OAuthErrorCode } from './oauth-errors.ts'
export { type KindPath, REGISTRY_KINDS, type RegistryKindName } from './registry-kinds.ts'
