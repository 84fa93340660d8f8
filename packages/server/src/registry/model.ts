// Registry documents (humans, workloads, agents, groups, trusted issuers, resource servers, policies, entity types,
// entities) as JSON Schemas: the admin API, `mandate apply` and the stores all read this one definition. Documents keep their wire spelling (snake_case) inside, like a resource
// manifest, since they are stored and returned as written.

import { REGISTRY_KINDS, type RegistryKindName } from '@mandate/sdk'
import { type Static, type TSchema, type TUnion, Type } from '@sinclair/typebox'
import { ASYMMETRIC_ALGORITHMS } from '../tokens/algorithms.ts'

const Id = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$',
  description: 'Stable identifier: letters, digits and . _ : @ + -, at most 128 characters.',
})
const Name = Type.String({ minLength: 1, maxLength: 200 })
const Timestamp = Type.String({
  format: 'date-time',
  description: 'RFC 3339 time, e.g. 2027-01-31T00:00:00Z',
})
const HttpsUrl = Type.String({ pattern: '^https?://[^\\s#\\x00-\\x1f\\x7f]+$', maxLength: 2048 })
const AttributeValue = Type.Union([
  Type.String({ maxLength: 1024 }),
  Type.Number(),
  Type.Boolean(),
  Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 100 }),
])
const Attributes = Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), AttributeValue, {
  maxProperties: 64,
  description: 'Free attributes for policies (strings, numbers, booleans, string lists).',
})

/** A public JWK: private members are refused where a key set is validated. */
/** A public JWK for signature verification; private members are refused where a key set is checked. */
export const PublicJwk = Type.Object(
  {
    kty: Type.Union([Type.Literal('EC'), Type.Literal('RSA'), Type.Literal('OKP')]),
    kid: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    // Pinning the algorithm per key (RFC 8725 §3.1): only asymmetric signature algorithms.
    alg: Type.Optional(Type.Union(ASYMMETRIC_ALGORITHMS.map((alg) => Type.Literal(alg)))),
    use: Type.Optional(Type.Literal('sig')),
  },
  { additionalProperties: true },
)
export const JwkSet = Type.Object(
  { keys: Type.Array(PublicJwk, { minItems: 1, maxItems: 20 }) },
  { additionalProperties: false },
)

// How a workload or agent proves itself: never a shared secret, except the legacy `client_secret`.
const credentialVariants = [
  Type.Object(
    { type: Type.Literal('jwks'), jwks: JwkSet },
    {
      additionalProperties: false,
      description: 'private_key_jwt (RFC 7523) and self-signed mTLS with keys registered inline.',
    },
  ),
  Type.Object(
    { type: Type.Literal('jwks_uri'), jwks_uri: HttpsUrl },
    {
      additionalProperties: false,
      description: 'private_key_jwt with keys fetched from an https URL (SSRF-protected, cached).',
    },
  ),
  Type.Object(
    {
      type: Type.Literal('certificate'),
      subject_dn: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
      'x5t#S256': Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' })),
    },
    {
      additionalProperties: false,
      description: 'tls_client_auth (RFC 8705): the client certificate by subject DN or SHA-256 thumbprint.',
    },
  ),
  Type.Object(
    {
      type: Type.Literal('federated'),
      issuer: HttpsUrl,
      subject: Type.String({ minLength: 1, maxLength: 1024 }),
      audience: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
      claims: Type.Optional(
        Type.Record(
          Type.String({ minLength: 1, maxLength: 128 }),
          Type.Union([Type.String(), Type.Array(Type.String())]),
          { maxProperties: 32 },
        ),
      ),
    },
    {
      additionalProperties: false,
      description:
        'Federated workload identity: a token from a trusted issuer with this subject, audience and claims.',
    },
  ),
  Type.Object(
    {
      type: Type.Literal('client_secret'),
      id: Type.String({
        pattern: '^[A-Za-z0-9._-]{1,64}$',
        default: 'secret',
        description: 'Names the secret, so that two can overlap during rotation.',
      }),
      secret_hash: Type.Optional(
        Type.String({
          pattern: '^sha256:[0-9a-f]{64}$',
          description: 'Set by Mandate; the secret itself is shown once.',
        }),
      ),
      expires_at: Type.Optional(Timestamp),
    },
    {
      additionalProperties: false,
      description: 'Legacy client_secret_basic/post. Only its SHA-256 hash is stored.',
    },
  ),
] as const
/** How a workload or agent proves itself, told apart by `type` (so that errors name only the variant meant). */
export const CredentialBinding = Type.Unsafe<Static<TUnion<[...typeof credentialVariants]>>>({
  type: 'object',
  required: ['type'],
  discriminator: { propertyName: 'type' },
  oneOf: [...credentialVariants],
})
export type CredentialBinding = Static<typeof CredentialBinding>

const Credentials = Type.Array(CredentialBinding, { maxItems: 20, default: [] })

/** One entry of an agent's ceiling: an action (scope), optionally only on resources matching patterns (`*` wildcard). */
export const CeilingEntry = Type.Union([
  Type.String({
    pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,128}$',
    description: 'A scope or action (RFC 6749 §3.3 scope-token).',
  }),
  Type.Object(
    {
      action: Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,128}$' }),
      resources: Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), { minItems: 1, maxItems: 50 }),
    },
    { additionalProperties: false },
  ),
])
export type CeilingEntry = Static<typeof CeilingEntry>

/** Who may assert a human: one subject at one human IdP. */
export const HumanIdentity = Type.Object(
  {
    issuer: Type.String({
      pattern: HttpsUrl.pattern,
      maxLength: 2048,
      description: 'The `iss` of a registered TrustedIssuer of type `human_idp`.',
    }),
    subject: Type.String({
      minLength: 1,
      maxLength: 1024,
      pattern: '^[^\\x00-\\x1f\\x7f]+$',
      description: 'The `sub` that issuer gives this human.',
    }),
  },
  { additionalProperties: false },
)
export type HumanIdentity = Static<typeof HumanIdentity>

export const HumanDoc = Type.Object(
  {
    id: Id,
    email: Type.Optional(
      Type.String({
        // No control characters: the email is also stored lower-cased in a column of its own.
        pattern: '^[^\\s@\\x00-\\x1f\\x7f]+@[^\\s@\\x00-\\x1f\\x7f]+$',
        maxLength: 320,
        description: 'Unique among humans, ignoring case.',
      }),
    ),
    name: Type.Optional(Name),
    status: Type.Union([Type.Literal('active'), Type.Literal('inactive')], { default: 'active' }),
    identities: Type.Optional(
      Type.Array(HumanIdentity, {
        maxItems: 20,
        description:
          'The IdP subjects that may assert this human in a token exchange; an (issuer, subject) names one human. Set by an admin, or on the first login matched by verified email at an issuer with `match_email`. A write that leaves it out keeps the stored ones; `[]` removes them.',
      }),
    ),
    attributes: Type.Optional(Attributes),
  },
  { additionalProperties: false },
)
export type Human = Static<typeof HumanDoc>

const WorkloadStatus = Type.Union(
  [Type.Literal('active'), Type.Literal('suspended'), Type.Literal('retired')],
  { default: 'active' },
)

export const WorkloadDoc = Type.Object(
  {
    id: Id,
    name: Type.Optional(Name),
    status: WorkloadStatus,
    expires_at: Type.Optional(Timestamp),
    ceiling: Type.Array(CeilingEntry, {
      maxItems: 200,
      default: [],
      description: 'The most this workload may ever be granted.',
    }),
    credentials: Credentials,
    attributes: Type.Optional(Attributes),
  },
  { additionalProperties: false },
)
export type Workload = Static<typeof WorkloadDoc>

export const AgentDoc = Type.Object(
  {
    id: Id,
    name: Type.Optional(Name),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    sponsor: Type.String({
      minLength: 1,
      maxLength: 128,
      description: 'Id of the accountable human; must be active.',
    }),
    classification: Type.Union([
      Type.Literal('autonomous'),
      Type.Literal('delegated'),
      Type.Literal('blended'),
    ]),
    ceiling: Type.Array(CeilingEntry, {
      maxItems: 200,
      description: 'The most this agent may ever be granted.',
    }),
    status: WorkloadStatus,
    suspended_reason: Type.Optional(
      Type.String({
        maxLength: 200,
        description: 'Why the agent is suspended; `sponsor_inactive` is set by Mandate.',
      }),
    ),
    expires_at: Type.Optional(Timestamp),
    model: Type.Optional(
      Type.Object(
        {
          provider: Type.String({ minLength: 1, maxLength: 100 }),
          name: Type.String({ minLength: 1, maxLength: 200 }),
          version: Type.Optional(Type.String({ maxLength: 100 })),
        },
        { additionalProperties: false },
      ),
    ),
    parent: Type.Optional(
      Type.String({ minLength: 1, maxLength: 128, description: 'Id of the parent agent, for sub-agents.' }),
    ),
    redirect_uris: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), {
        minItems: 1,
        maxItems: 20,
        uniqueItems: true,
        description:
          'Where the authorization endpoint may send the human back (OAuth 2.1 §2.3.1): https, or http on a loopback IP (127.0.0.1 or [::1], any port), no fragment; matched exactly.',
      }),
    ),
    credentials: Credentials,
    attributes: Type.Optional(Attributes),
  },
  { additionalProperties: false },
)
export type Agent = Static<typeof AgentDoc>

export const PrincipalRef = Type.Object(
  {
    kind: Type.Union([Type.Literal('human'), Type.Literal('workload'), Type.Literal('agent')]),
    id: Type.String({ minLength: 1, maxLength: 128 }),
  },
  { additionalProperties: false },
)
export type PrincipalRef = Static<typeof PrincipalRef>

export const GroupDoc = Type.Object(
  {
    id: Id,
    name: Type.Optional(Name),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    members: Type.Array(PrincipalRef, { maxItems: 10000, default: [] }),
  },
  { additionalProperties: false },
)
export type Group = Static<typeof GroupDoc>

export const TrustedIssuerDoc = Type.Object(
  {
    id: Id,
    issuer: HttpsUrl,
    type: Type.Union([Type.Literal('human_idp'), Type.Literal('workload')], {
      description:
        '`human_idp`: the company IdP whose tokens name humans; `workload`: a workload-token issuer (Kubernetes, GitHub Actions, SPIFFE, any OIDC).',
    }),
    jwks: Type.Optional(JwkSet),
    jwks_uri: Type.Optional(HttpsUrl),
    audiences: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), { maxItems: 20 })),
    match_email: Type.Optional(
      Type.Boolean({
        description:
          '`human_idp` only (default false): a token whose subject is bound to no human may name one by its email, when it carries `email_verified: true` and exactly one human has that email (ignoring case) and no binding at this issuer yet; the subject is then bound to that human.',
      }),
    ),
    login: Type.Optional(
      Type.Object(
        {
          client_id: Type.String({ minLength: 1, maxLength: 1024, pattern: '^[^\\x00-\\x1f\\x7f]+$' }),
          display_name: Type.Optional(
            Type.String({ minLength: 1, maxLength: 100, description: 'What the login page calls this IdP.' }),
          ),
          client_auth: Type.Union(
            [
              Type.Literal('client_secret_basic'),
              Type.Literal('client_secret_post'),
              Type.Literal('private_key_jwt'),
            ],
            {
              default: 'client_secret_basic',
              description: 'How Mandate authenticates to the IdP token endpoint.',
            },
          ),
          client_secret_sealed: Type.Optional(
            Type.String({
              maxLength: 4096,
              description:
                'The client secret sealed with the master key (`mandate idp seal-secret <issuer-id>`), for the client_secret methods.',
            }),
          ),
          private_jwk_sealed: Type.Optional(
            Type.String({
              maxLength: 16384,
              description:
                'The private JWK (with `alg` and `kid`) sealed with the master key (`mandate idp seal-secret <issuer-id>`), for private_key_jwt.',
            }),
          ),
          scopes: Type.Array(Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,128}$' }), {
            maxItems: 50,
            default: ['openid', 'email', 'profile'],
            description: 'Scopes asked at login; `openid` is always asked.',
          }),
          groups_claim: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 200,
              description: 'The ID token claim that lists the groups of the user (e.g. `groups`).',
            }),
          ),
          group_map: Type.Optional(
            Type.Record(Type.String({ minLength: 1, maxLength: 1024 }), Id, {
              maxProperties: 500,
              description:
                'IdP group name -> Mandate group id. At each login, the human is made a member of the mapped groups the IdP lists and removed from the mapped groups it does not; other groups are left alone.',
            }),
          ),
          account_enabled_claim: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 200,
              description:
                'An ID token claim that the IdP sets to `false` for a disabled account: a login carrying it deactivates the human (revoking their mandates, suspending the agents they sponsor) and is refused.',
            }),
          ),
        },
        {
          additionalProperties: false,
          description:
            '`human_idp` only: the OpenID Connect client with which humans log in to Mandate through this IdP (authorization code, PKCE S256, state, nonce). `issuer` must serve OpenID discovery.',
        },
      ),
    ),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
)
export type TrustedIssuer = Static<typeof TrustedIssuerDoc>

const ScopeToken = Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,128}$' })

export const ResourceServerDoc = Type.Object(
  {
    id: Id,
    name: Type.Optional(Name),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    audience: Type.String({
      pattern: '^[A-Za-z][A-Za-z0-9+.-]*:[^\\s#\\x00-\\x1f\\x7f]+$',
      maxLength: 2048,
      description:
        'The resource indicator (RFC 8707 §2): an absolute URI without fragment; tokens for it carry it as aud.',
    }),
    scopes: Type.Array(ScopeToken, {
      maxItems: 500,
      default: [],
      description: 'Scopes this resource server accepts.',
    }),
    authorization_details_types: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
      maxItems: 100,
      default: [],
      description: 'RFC 9396 authorization_details types this resource server accepts.',
    }),
    token_lifetime_seconds: Type.Integer({
      minimum: 5,
      maximum: 86400,
      default: 300,
      description: 'Lifetime of access tokens for this resource server.',
    }),
    introspection_clients: Type.Optional(
      Type.Array(Id, {
        maxItems: 100,
        description:
          'Client ids (agents or workloads) that serve this resource server and may introspect its tokens (RFC 7662 §4). A token is also described to its own client; anyone else is told `{"active": false}`.',
      }),
    ),
  },
  { additionalProperties: false },
)
export type ResourceServer = Static<typeof ResourceServerDoc>

/** A Cedar identifier: the name of an entity type, an attribute or an annotation. */
const CedarIdentifier = Type.String({
  pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$',
  description: 'A Cedar identifier: a letter or _, then letters, digits or _ (at most 64).',
})

/** The entity types Mandate defines itself, from the registry (they cannot be declared again). */
export const BUILTIN_ENTITY_TYPES = ['human', 'agent', 'workload', 'group', 'resource_server'] as const

export const PolicyDoc = Type.Object(
  {
    id: Id,
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    enabled: Type.Boolean({ default: true, description: 'A disabled policy set is kept but not evaluated.' }),
    policies: Type.String({
      minLength: 1,
      maxLength: 262144,
      description:
        'Cedar policies (text). Each may carry `@id("...")` (its id becomes `<set id>/<that id>`, else `<set id>/<index>`), `@approval("sponsor" | "delegator" | "group:<group id>")` and `@max_ttl("<seconds>")`. Validated against the schema generated from the registry when saved.',
    }),
  },
  { additionalProperties: false },
)
export type Policy = Static<typeof PolicyDoc>

const CedarAttributeType = Type.Union(
  [
    Type.Literal('String'),
    Type.Literal('Long'),
    Type.Literal('Boolean'),
    Type.Literal('Set<String>'),
    Type.Literal('Set<Long>'),
    Type.Literal('Entity'),
  ],
  { description: 'Cedar type of the attribute; `Entity` references an entity of `entity_type`.' },
)

const AttributeDeclaration = Type.Object(
  {
    type: CedarAttributeType,
    entity_type: Type.Optional(CedarIdentifier),
    required: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
)
export type AttributeDeclaration = Static<typeof AttributeDeclaration>

export const EntityTypeDoc = Type.Object(
  {
    id: CedarIdentifier,
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    principal: Type.Boolean({
      default: false,
      description:
        'Whether entities of this type act (AuthZEN subjects such as `user`); resources otherwise.',
    }),
    attributes: Type.Record(CedarIdentifier, AttributeDeclaration, { maxProperties: 64, default: {} }),
    member_of: Type.Array(CedarIdentifier, {
      maxItems: 20,
      default: [],
      description: 'Entity types whose entities may be parents of this type (Cedar `in`).',
    }),
    actions: Type.Array(Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\x00-\\x1f"\\\\]+$' }), {
      maxItems: 200,
      default: [],
      description: 'Actions that apply to resources of this type (Cedar `Action::"<name>"`).',
    }),
    context: Type.Record(CedarIdentifier, AttributeDeclaration, {
      maxProperties: 64,
      default: {},
      description:
        'Context attributes that requests for these actions may carry (AuthZEN `context`), besides the ones Mandate sets.',
    }),
  },
  { additionalProperties: false },
)
export type EntityType = Static<typeof EntityTypeDoc>

const EntityAttributeValue = Type.Union([
  Type.String({ maxLength: 1024 }),
  Type.Integer(),
  Type.Boolean(),
  Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 1000 }),
  Type.Array(Type.Integer(), { maxItems: 1000 }),
])
export type EntityAttributeValue = Static<typeof EntityAttributeValue>

/** `<entity type>:<id>`; the id part may hold any printable text (emails, paths, URLs). */
const EntityUid = Type.String({
  pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}:[^\\x00-\\x1f\\x7f]{1,512}$',
  description: '`<entity type>:<id>`, e.g. `record:101` or `route:/users/{userId}`.',
})

export const EntityDoc = Type.Object(
  {
    id: EntityUid,
    attributes: Type.Record(CedarIdentifier, EntityAttributeValue, { maxProperties: 64, default: {} }),
    parents: Type.Array(EntityUid, { maxItems: 100, default: [], description: 'Entities this one is in.' }),
  },
  { additionalProperties: false },
)
export type Entity = Static<typeof EntityDoc>

const schemas = {
  TrustedIssuer: TrustedIssuerDoc,
  ResourceServer: ResourceServerDoc,
  Human: HumanDoc,
  Workload: WorkloadDoc,
  Agent: AgentDoc,
  Group: GroupDoc,
  EntityType: EntityTypeDoc,
  Entity: EntityDoc,
  Policy: PolicyDoc,
} as const satisfies Record<RegistryKindName, TSchema>

/** A registry kind, as documents name it (`Agent`); the list is `REGISTRY_KINDS` in `@mandate/sdk`. */
export type RegistryKind = RegistryKindName

/** The document type of each kind. */
export type RegistryDocs = { [K in RegistryKind]: Static<(typeof schemas)[K]> }

/** The registry's kinds in apply order, as named in documents (`kind: Agent`) and URLs (`/api/v1/agents`), with their schemas. */
export const registryKinds = Object.fromEntries(
  (Object.keys(REGISTRY_KINDS) as RegistryKind[]).map((kind) => [
    kind,
    { plural: REGISTRY_KINDS[kind], schema: schemas[kind] },
  ]),
) as { [K in RegistryKind]: { plural: (typeof REGISTRY_KINDS)[K]; schema: (typeof schemas)[K] } }

export type { Stored } from '../store/registry-store.ts'
