// Sender constraint survives token exchange (issue 8): a DPoP-bound subject or actor token is accepted only with a
// proof by its key, by its own client and by a sub-agent alike, and what is issued from it is bound to the same key;
// never a Bearer token. The certificate-bound (RFC 8705) cases are in mtls.test.ts, which serves TLS.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { calculateJwkThumbprint, createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose'
import { sqliteStore, type TestStore } from '../support/harness.ts'
import {
  dpopKey,
  dpopProof,
  ecKeyPair,
  grantMandate,
  IDP,
  IDP_SUBJECT,
  type OAuthFixture,
  RESOURCE,
  signHumanToken,
  startOAuthFixture,
} from './oauth-fixture.ts'

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt'
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token'
const TXN = 'urn:ietf:params:oauth:token-type:txn_token'

describe('sender constraint through token exchange (RFC 9449, RFC 8693)', () => {
  let store: TestStore
  let f: OAuthFixture
  let jwks: ReturnType<typeof createRemoteJWKSet>
  const idpKey = ecKeyPair('idp-1')
  const secrets: Record<string, string> = {}
  const parentKey = dpopKey()
  let parentJkt: string

  const humanToken = (claims: Record<string, unknown> = {}) => signHumanToken(idpKey, f.issuer, claims)
  const exchange = async (agent: string, form: Record<string, string>, key?: ReturnType<typeof dpopKey>) =>
    f.token(
      { grant_type: GRANT, client_id: agent, client_secret: secrets[agent] ?? '', ...form },
      key ? { dpop: await dpopProof(key, f.tokenEndpoint) } : {},
    )
  const refused = (res: Awaited<ReturnType<typeof exchange>>, description: RegExp) => {
    assert.equal(res.json.error, 'invalid_request', JSON.stringify(res.json))
    assert.match(String(res.json.error_description), description)
    assert.equal(res.json.access_token, undefined)
  }
  /** The helper's DPoP-bound token for alice, as a delegated agent gets it with openid-client or the SDK. */
  const boundParentToken = async () => {
    const res = await exchange(
      'helper',
      {
        subject_token: await humanToken(),
        subject_token_type: JWT_TYPE,
        resource: RESOURCE,
        scope: 'tickets:read',
      },
      parentKey,
    )
    assert.equal(res.status, 200, JSON.stringify(res.json))
    assert.equal(res.json.token_type, 'DPoP')
    return String(res.json.access_token)
  }
  const fromParent = (token: string, form: Record<string, string> = {}) => ({
    subject_token: token,
    subject_token_type: ACCESS,
    resource: RESOURCE,
    scope: 'tickets:read',
    ...form,
  })

  before(async () => {
    store = sqliteStore()
    f = await startOAuthFixture(store)
    jwks = createRemoteJWKSet(new URL(`${f.issuer}/.well-known/jwks.json`))
    parentJkt = await calculateJwkThumbprint(parentKey.jwk)
    const put = async (path: string, body: Record<string, unknown>) => {
      const res = await f.node.call('PUT', path, { body })
      assert.ok(res.status < 300, `${path}: ${res.text}`)
      return res.json
    }
    await put('/api/v1/trusted-issuers/idp', {
      issuer: IDP,
      type: 'human_idp',
      jwks: { keys: [idpKey.publicJwk] },
    })
    await put('/api/v1/humans/alice@example.com', {
      email: 'alice@example.com',
      identities: [{ issuer: IDP, subject: IDP_SUBJECT }],
    })
    secrets.helper = f.secrets.helper ?? ''
    secrets['secret-bot'] = f.secrets['secret-bot'] ?? ''
    const sub = await put('/api/v1/agents/helper-sub', {
      sponsor: 'alice@example.com',
      classification: 'delegated',
      parent: 'helper',
      ceiling: ['tickets:read'],
      credentials: [{ type: 'client_secret' }],
    })
    secrets['helper-sub'] = sub.issued_secrets[0].client_secret
    await grantMandate(f.node, 'helper', ['tickets:read'])
    await grantMandate(f.node, 'secret-bot', ['tickets:read'])
  })
  after(async () => {
    await f.close()
    await store.drop()
  })

  it('RFC 8693 §2.2.2, RFC 9449 §6.1 (issue 8): a DPoP-bound subject token exchanged by its own client without a proof is invalid_request, never a Bearer token', async () => {
    const parent = await boundParentToken()
    refused(await exchange('helper', fromParent(parent)), /DPoP-bound/)
    const refusals = (
      await f.node.call('GET', '/api/v1/audit/events?type=token.refuse&principal=agent:helper')
    ).json.items
    assert.match(refusals.at(-1).reason, /^invalid_request: subject_token is DPoP-bound/)
  })

  it('RFC 8693 §2.2.2 (issue 8): a sub-agent exchanging its parent’s DPoP-bound token without a proof, or with a proof by its own key, is invalid_request', async () => {
    const parent = await boundParentToken()
    refused(await exchange('helper-sub', fromParent(parent)), /DPoP-bound/)
    refused(await exchange('helper-sub', fromParent(parent), dpopKey()), /bound to another key/)
  })

  it('RFC 9449 §6.1 (issue 8): proving the bound key, a sub-agent gets a token bound to that same key (token_type DPoP)', async () => {
    const parent = await boundParentToken()
    const res = await exchange('helper-sub', fromParent(parent), parentKey)
    assert.equal(res.status, 200, JSON.stringify(res.json))
    assert.equal(res.json.token_type, 'DPoP')
    const { payload } = await jwtVerify(String(res.json.access_token), jwks, { audience: RESOURCE })
    assert.deepEqual(payload.cnf, { jkt: parentJkt })
    assert.deepEqual(payload.act, { sub: 'helper-sub', act: { sub: 'helper' } })
    // The same for its own client narrowing its token.
    const own = await exchange('helper', fromParent(parent), parentKey)
    assert.equal(own.status, 200, JSON.stringify(own.json))
    assert.deepEqual(decodeJwt(String(own.json.access_token)).cnf, { jkt: parentJkt })
  })

  it('RFC 9449 §5: a Bearer subject token needs no proof and gives a Bearer token; with a proof the new token is bound to it', async () => {
    const bearer = await exchange('helper', {
      subject_token: await humanToken(),
      subject_token_type: JWT_TYPE,
      resource: RESOURCE,
      scope: 'tickets:read',
    })
    assert.equal(bearer.json.token_type, 'Bearer')
    const plain = await exchange('helper-sub', fromParent(String(bearer.json.access_token)))
    assert.equal(plain.status, 200, JSON.stringify(plain.json))
    assert.equal(plain.json.token_type, 'Bearer')
    assert.equal(decodeJwt(String(plain.json.access_token)).cnf, undefined)
    const key = dpopKey()
    const bound = await exchange('helper-sub', fromParent(String(bearer.json.access_token)), key)
    assert.deepEqual(decodeJwt(String(bound.json.access_token)).cnf, {
      jkt: await calculateJwkThumbprint(key.jwk),
    })
  })

  it('(issue 8) a transaction token issued from a DPoP-bound subject token carries its cnf, and replacing it needs the same proof', async () => {
    const parent = await boundParentToken()
    const txnForm = fromParent(parent, { requested_token_type: TXN, audience: f.issuer })
    refused(await exchange('helper', txnForm), /DPoP-bound/)
    const issued = await exchange('helper', txnForm, parentKey)
    assert.equal(issued.status, 200, JSON.stringify(issued.json))
    assert.equal(issued.json.token_type, 'N_A')
    const txn = String(issued.json.access_token)
    assert.deepEqual(decodeJwt(txn).cnf, { jkt: parentJkt })
    const replace = {
      subject_token: txn,
      subject_token_type: TXN,
      requested_token_type: TXN,
      audience: f.issuer,
      scope: 'tickets:read',
    }
    refused(await exchange('helper', replace), /DPoP-bound/)
    refused(await exchange('helper', replace, dpopKey()), /bound to another key/)
    const replaced = await exchange('helper', replace, parentKey)
    assert.equal(replaced.status, 200, JSON.stringify(replaced.json))
    assert.deepEqual(decodeJwt(String(replaced.json.access_token)).cnf, { jkt: parentJkt })
  })

  it('RFC 8693 §2.2.2 (issue 8): a DPoP-bound actor_token needs a proof by its key; a revoked one is refused', async () => {
    const actorKey = dpopKey()
    const own = await f.token(
      {
        grant_type: 'client_credentials',
        scope: 'tickets:read',
        resource: RESOURCE,
        client_id: 'secret-bot',
        client_secret: secrets['secret-bot'] ?? '',
      },
      { dpop: await dpopProof(actorKey, f.tokenEndpoint) },
    )
    assert.equal(own.json.token_type, 'DPoP')
    const withActor = async (key?: ReturnType<typeof dpopKey>) =>
      exchange(
        'secret-bot',
        {
          subject_token: await humanToken(),
          subject_token_type: JWT_TYPE,
          actor_token: String(own.json.access_token),
          actor_token_type: ACCESS,
          resource: RESOURCE,
          scope: 'tickets:read',
        },
        key,
      )
    refused(await withActor(), /actor_token is DPoP-bound/)
    const accepted = await withActor(actorKey)
    assert.equal(accepted.status, 200, JSON.stringify(accepted.json))
    assert.equal(accepted.json.token_type, 'DPoP')
    // RFC 7009: the client revokes its own token; as an actor token it is then refused.
    const revoked = await fetch(`${f.issuer}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: String(own.json.access_token),
        client_id: 'secret-bot',
        client_secret: secrets['secret-bot'] ?? '',
      }),
    })
    assert.equal(revoked.status, 200)
    refused(await withActor(actorKey), /actor_token has been revoked/)
  })

  it('RFC 7800, RFC 9449 §6.1: a user token from the IdP bound to a DPoP key needs a proof by it; a confirmation method that cannot be checked is refused', async () => {
    const key = dpopKey()
    const jkt = await calculateJwkThumbprint(key.jwk)
    const form = async (claims: Record<string, unknown>) => ({
      subject_token: await humanToken(claims),
      subject_token_type: JWT_TYPE,
      resource: RESOURCE,
      scope: 'tickets:read',
    })
    refused(await exchange('helper', await form({ cnf: { jkt } })), /DPoP-bound/)
    const bound = await exchange('helper', await form({ cnf: { jkt } }), key)
    assert.equal(bound.status, 200, JSON.stringify(bound.json))
    assert.deepEqual(decodeJwt(String(bound.json.access_token)).cnf, { jkt })
    refused(
      await exchange('helper', await form({ cnf: { jwk: key.jwk } }), key),
      /confirmation method this server cannot check/,
    )
  })
})
