// @mandate/sdk: clients for Mandate: the agent client (tokens, DPoP, delegation, calls to resource servers), access
// token verification for resource servers, and the admin client.
export {
  AdminClient,
  type AdminClientOptions,
  type ApplyDocument,
  type ApplyResult,
  type Approval,
  type AuditCheckpoint,
  type AuditEvent,
  type AuditVerification,
  type ChangeResult,
  type ExplainRequest,
  type Explanation,
  type Mandate,
  type MandateGrant,
  type RegistryObject,
} from './admin-client.js'
export {
  type AccessToken,
  AgentClient,
  type AgentClientOptions,
  type AgentCredential,
  type AgentFetchInit,
  type ApprovalRequestInfo,
  type AuthorizationDetail,
  type ClientSecretCredential,
  type DpopKeyPair,
  type DpopProofOptions,
  type ExchangeOptions,
  type FederatedCredential,
  type GetTokenOptions,
  type PrivateKeyJwtCredential,
  type RequestApprovalOptions,
  type SubjectTokenType,
  SubjectTokenTypes,
  type TokenIntrospection,
} from './agent-client.js'
export { AGENT_ENV } from './agent-env.js'
export { ASYMMETRIC_ALGORITHMS } from './algorithms.js'
export type { AuthorizationRequestOptions, PendingAuthorization } from './consent.js'
export { type ErrorCode, type FieldError, MandateApiError } from './errors.js'
export type { Jwk, PrivateKeyInput } from './keys.js'
export { MandateOAuthError, type OAuthErrorCode } from './oauth-errors.js'
export { type KindPath, REGISTRY_KINDS, type RegistryKindName } from './registry-kinds.js'
export {
  AccessTokenError,
  type AccessTokenErrorCode,
  type PresentedScheme,
} from './resource-server/access-token-error.js'
export type { DpopNonceSource } from './resource-server/dpop-proof.js'
export { type DpopReplayStore, MemoryDpopReplayStore } from './resource-server/dpop-replay.js'
export { MandateIssuer, type MandateIssuerOptions } from './resource-server/mandate-issuer.js'
export { type NodeRequestOptions, requestFromNode } from './resource-server/node-request.js'
export {
  type AccessTokenClaims,
  type ProtectedResourceRequest,
  type VerifiedAccessToken,
  type VerifyAccessTokenOptions,
  verifyAccessToken,
} from './resource-server/verify-access-token.js'
