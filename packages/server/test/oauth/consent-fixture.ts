// The OAuth fixture plus what the authorization code flow needs: `scribe`, a delegated agent with a client secret,
// a model and registered redirect URIs, and helpers for PKCE, the authorization endpoint, PAR and the human's decision.
import { createHash, randomBytes } from 'node:crypto'
import type { ConsentDecision } from '../../src/oauth/authorization-endpoint.ts'
import type { TestStore } from '../support/harness.ts'
import { type OAuthFixture, startOAuthFixture } from './oauth-fixture.ts'

export const REDIRECT = 'https://scribe.example.com/callback'
export const LOOPBACK_REDIRECT = 'http://127.0.0.1/cb'

/** A PKCE pair (RFC 7636 §4.1, §4.2: S256). */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

export interface ConsentFixture extends OAuthFixture {
  scribeSecret: string
  /** GET /oauth/authorize with these parameters, without following the redirect. */
  authorize(
    params: Record<string, string | string[]>,
  ): Promise<{ status: number; location: string | null; text: string }>
  /** The parameters of a valid request, overridable. */
  request(overrides?: Record<string, string | undefined>): {
    params: Record<string, string>
    verifier: string
  }
  /** Validates a request and decides it as the human would on the consent page; answers the redirect URL. */
  consent(params: Record<string, string>, decision?: Partial<ConsentDecision>, human?: string): Promise<URL>
  /** POSTs a form to the PAR endpoint. */
  par(
    form: Record<string, string>,
    headers?: Record<string, string>,
  ): Promise<{ status: number; json: Record<string, unknown> }>
}

/** Starts the fixture. */
export async function startConsentFixture(
  store: TestStore,
  options: Parameters<typeof startOAuthFixture>[2] = {},
): Promise<ConsentFixture> {
  const f = await startOAuthFixture(store, {}, options)
  const created = await f.node.call('PUT', '/api/v1/agents/scribe', {
    body: {
      name: 'Scribe',
      sponsor: 'alice@example.com',
      classification: 'delegated',
      ceiling: ['tickets:read', 'tickets:write', 'ticket_action'],
      model: { provider: 'acme', name: 'writer', version: '2' },
      redirect_uris: [REDIRECT, LOOPBACK_REDIRECT],
      credentials: [{ type: 'client_secret' }],
    },
  })
  if (created.status >= 300) throw new Error(`scribe: ${created.status} ${created.text}`)
  await f.node.call('PUT', '/api/v1/humans/bob@example.com', { body: {} })
  const scribeSecret = created.json.issued_secrets[0].client_secret as string
  const authorize: ConsentFixture['authorize'] = async (params) => {
    const query = new URLSearchParams()
    for (const [name, value] of Object.entries(params))
      for (const v of Array.isArray(value) ? value : [value]) query.append(name, v)
    const res = await fetch(`${f.issuer}/oauth/authorize?${query}`, { redirect: 'manual' })
    return { status: res.status, location: res.headers.get('location'), text: await res.text() }
  }
  const request: ConsentFixture['request'] = (overrides = {}) => {
    const { verifier, challenge } = pkce()
    const params: Record<string, string | undefined> = {
      response_type: 'code',
      client_id: 'scribe',
      redirect_uri: REDIRECT,
      scope: 'tickets:read tickets:write',
      resource: 'https://tickets.example.com/',
      state: 'st-123',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      max_calls: '5',
      ...overrides,
    }
    return {
      params: Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as Record<
        string,
        string
      >,
      verifier,
    }
  }
  return {
    ...f,
    scribeSecret,
    authorize,
    request,
    async consent(params, decision = {}, human = 'alice@example.com') {
      const res = await authorize(params)
      if (res.status !== 303 || !res.location?.startsWith('/consent?request='))
        throw new Error(`authorize: ${res.status} ${res.location} ${res.text}`)
      const ref = new URL(res.location, f.issuer).searchParams.get('request') as string
      const target = await f.node.node.authorizationEndpoint.decide(ref, human, {
        approve: true,
        actions: (params.scope ?? '').split(' '),
        detailTypes: ['ticket_action'],
        durationSeconds: Number.POSITIVE_INFINITY,
        ...decision,
      })
      if (!target) throw new Error('the request was gone')
      return new URL(target)
    },
    async par(form, headers = {}) {
      const res = await fetch(`${f.issuer}/oauth/par`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(form),
      })
      return { status: res.status, json: (await res.json()) as Record<string, unknown> }
    },
  }
}
