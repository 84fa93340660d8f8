// @mandate/sdk: clients for Mandate. The admin client today; the agent client (tokens, DPoP, delegation) follows.
export {
  AdminClient,
  type AdminClientOptions,
  type AuditEvent,
  type AuditVerification,
  type ChangeResult,
  type KindPath,
  type RegistryObject,
} from './admin-client.ts'
export { type ErrorCode, type FieldError, MandateApiError } from './errors.ts'
