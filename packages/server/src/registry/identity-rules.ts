// Rules of humans and the issuers that vouch for principals: a human's email is unique ignoring case, an IdP subject
// names at most one human, bindings name registered human IdPs, and an issuer that principals still rely on can be
// neither deleted nor turned into another issuer.

import { Conflict, type FieldError, ValidationFailed } from '../errors/mandate-error.ts'
import type { RuleContext } from './change.ts'
import { checkPublicJwks } from './credentials.ts'
import { emailKey } from './email-key.ts'
import type { Agent, Human, HumanIdentity, TrustedIssuer, Workload } from './model.ts'

/** Checks a human before it is written and answers it as it is to be stored. */
export async function prepareHuman(
  rc: RuleContext,
  input: Human,
  previous: Human | undefined,
): Promise<Human> {
  let doc = input
  // Bindings made at a login are not an admin's to lose by leaving them out of a document: only `[]` removes them.
  if (doc.identities === undefined && previous?.identities !== undefined)
    doc = { ...doc, identities: previous.identities }
  if (doc.identities !== undefined) {
    const unique = new Map(doc.identities.map((i) => [`${i.issuer}\u0000${i.subject}`, i]))
    doc = { ...doc, identities: [...unique.values()] }
  }
  const fields: FieldError[] = []
  for (const [i, identity] of (doc.identities ?? []).entries()) {
    const [issuer] = await rc.stores.trustedIssuers.list(rc.tx, {
      filters: { issuer: identity.issuer },
      limit: 1,
    })
    if (issuer?.type !== 'human_idp')
      fields.push({
        path: `/identities/${i}/issuer`,
        message: `names no registered human IdP (a TrustedIssuer of type human_idp with this issuer)`,
      })
  }
  if (fields.length > 0) throw new ValidationFailed(fields)
  for (const identity of doc.identities ?? []) {
    const holder = await rc.stores.humans.boundTo(rc.tx, identity.issuer, identity.subject)
    if (holder !== undefined && holder !== doc.id)
      throw new Conflict(
        `subject ${JSON.stringify(identity.subject)} of ${identity.issuer} is already bound to human ${holder}`,
      )
  }
  // Checked whenever the email is set or changed (writes are serialized, so two writers cannot both pass); humans
  // that shared an email before the rule existed can still be changed in other ways, and are reported at start-up.
  const email = doc.email === undefined ? undefined : emailKey(doc.email)
  if (
    email !== undefined &&
    email !== (previous?.email === undefined ? undefined : emailKey(previous.email))
  ) {
    const others = (await rc.stores.humans.withEmail(rc.tx, email)).filter((id) => id !== doc.id)
    if (others.length > 0)
      throw new Conflict(`email ${doc.email} is already the email of human ${others[0]} (ignoring case)`)
  }
  return doc
}

/**
 * Whether a human may be bound to `identity` because a token from its issuer carried this verified email: the human
 * has that email (ignoring case), is active, and has no binding at that issuer yet. The token exchange asks it of the
 * in-memory registry; the registry asks again inside the write transaction that binds.
 */
export function mayBindByEmail(human: Human, identity: HumanIdentity, email: string): boolean {
  return (
    human.status === 'active' &&
    human.email !== undefined &&
    emailKey(human.email) === emailKey(email) &&
    !(human.identities ?? []).some((i) => i.issuer === identity.issuer)
  )
}

/** The master-key sealing context of a TrustedIssuer's login client secret or private key. */
export function loginSecretContext(issuerId: string): string {
  return `trusted_issuer_login:${issuerId}`
}

/** Checks a trusted issuer before it is written. */
export async function prepareTrustedIssuer(
  rc: RuleContext,
  doc: TrustedIssuer,
  previous: TrustedIssuer | undefined,
): Promise<TrustedIssuer> {
  // Changing what an issuer is would strand the principals that rely on it, like deleting it.
  if (previous && (previous.issuer !== doc.issuer || previous.type !== doc.type))
    await refuseIfRelied(rc, previous)
  const fields: FieldError[] = doc.jwks ? await checkPublicJwks(doc.jwks.keys, '/jwks/keys') : []
  if ((doc.jwks === undefined) === (doc.jwks_uri === undefined))
    fields.push({ path: '/', message: 'must have exactly one of jwks or jwks_uri' })
  if (doc.jwks_uri !== undefined) {
    try {
      rc.jwks.validateUri(doc.jwks_uri)
    } catch (error) {
      fields.push({ path: '/jwks_uri', message: (error as Error).message })
    }
  }
  if (doc.match_email !== undefined && doc.type !== 'human_idp')
    fields.push({ path: '/match_email', message: 'applies only to issuers of type human_idp' })
  if (doc.login !== undefined) {
    if (doc.type !== 'human_idp')
      fields.push({ path: '/login', message: 'applies only to issuers of type human_idp' })
    const needs = doc.login.client_auth === 'private_key_jwt' ? 'private_jwk_sealed' : 'client_secret_sealed'
    if (doc.login[needs] === undefined)
      fields.push({
        path: `/login/${needs}`,
        message: `is required with client_auth ${doc.login.client_auth}`,
      })
  }
  if (fields.length > 0) throw new ValidationFailed(fields)
  const sameIssuer = await rc.stores.trustedIssuers.list(rc.tx, { filters: { issuer: doc.issuer }, limit: 2 })
  if (sameIssuer.some((t) => t.id !== doc.id))
    throw new Conflict(`issuer ${doc.issuer} is already registered`)
  return doc
}

/** Refuses (Conflict) while principals rely on the issuer: saying which ones beats stranding them. */
export async function refuseIfRelied(rc: RuleContext, issuer: TrustedIssuer): Promise<void> {
  const users: string[] = (await rc.stores.humans.boundAt(rc.tx, issuer.issuer)).map((id) => `human ${id}`)
  for (const [kind, store] of [
    ['agent', rc.stores.agents],
    ['workload', rc.stores.workloads],
  ] as const) {
    let after: string | undefined
    for (;;) {
      const page: Array<Agent | Workload> = await store.list(rc.tx, { after, limit: 500 })
      for (const principal of page) {
        if (
          principal.status !== 'retired' &&
          principal.credentials.some((c) => c.type === 'federated' && c.issuer === issuer.issuer)
        )
          users.push(`${kind} ${principal.id}`)
      }
      if (page.length < 500) break
      after = page.at(-1)?.id
    }
  }
  if (users.length > 0)
    throw new Conflict(
      `issuer ${issuer.issuer} is still trusted by ${users.slice(0, 10).join(', ')}${users.length > 10 ? ` and ${users.length - 10} more` : ''}`,
    )
}
