// Mutual-TLS client authentication (RFC 8705 §2): the client certificate of the connection proves the client.
// Both methods share the transport and the detection, so they live together: tls_client_auth (§2.1, a certificate
// from the configured client CA, matched by subject DN) and self_signed_tls_client_auth (§2.2, any certificate whose
// SHA-256 thumbprint or public key the client registered).
import { createHash } from 'node:crypto'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { InvalidClient } from '../../errors/oauth-error.ts'
import type { AuthenticatedClient, ClientAuthMethod, ClientCertificate } from './method.ts'

/** RFC 8705 §3.1: the base64url SHA-256 thumbprint of the certificate's DER form, as `cnf["x5t#S256"]`. */
export function certificateThumbprint(certificate: ClientCertificate): string {
  return createHash('sha256').update(certificate.x509.raw).digest('base64url')
}

// A distinguished name as a set of lowercase-type attributes, so that RFC 4514 order and spacing do not matter.
function normalizeDn(dn: string): string {
  return dn
    .split(/[,\n]/)
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const eq = part.indexOf('=')
      return eq < 0 ? part : `${part.slice(0, eq).trim().toLowerCase()}=${part.slice(eq + 1).trim()}`
    })
    .sort()
    .join(',')
}

export const tlsClientAuth: ClientAuthMethod = {
  name: 'tls_client_auth',
  advertises: ['tls_client_auth', 'self_signed_tls_client_auth'],
  needsTls: true,
  // Only a request that names its client and carries no other credentials: the certificate is then the credential.
  detect: (request) =>
    request.certificate !== undefined &&
    request.params.client_id !== undefined &&
    request.params.client_secret === undefined &&
    request.params.client_assertion === undefined &&
    !/^Basic /i.test(request.authorization?.trim() ?? ''),
  async authenticate(request, ctx): Promise<AuthenticatedClient> {
    const certificate = request.certificate
    const id = request.params.client_id
    const client = id === undefined ? undefined : ctx.directory.client(id)
    if (!certificate || id === undefined || !client) throw new InvalidClient('client authentication failed')
    const thumbprint = certificateThumbprint(certificate)
    const subject = normalizeDn(certificate.x509.subject)
    for (const binding of client.principal.credentials) {
      if (binding.type !== 'certificate') continue
      // §2.1: a CA-issued certificate, matched by its subject.
      if (
        binding.subject_dn !== undefined &&
        certificate.authorized &&
        normalizeDn(binding.subject_dn) === subject
      ) {
        return { id, client, method: 'tls_client_auth', certificateThumbprint: thumbprint }
      }
      // §2.2: a self-signed certificate, matched by its thumbprint.
      if (binding['x5t#S256'] !== undefined && binding['x5t#S256'] === thumbprint) {
        return { id, client, method: 'self_signed_tls_client_auth', certificateThumbprint: thumbprint }
      }
    }
    // §2.2 also allows the certificate's public key to be one of the client's registered keys.
    const presented = await calculateJwkThumbprint(
      certificate.x509.publicKey.export({ format: 'jwk' }) as JWK,
    )
    for (const binding of client.principal.credentials) {
      if (binding.type !== 'jwks') continue
      for (const key of binding.jwks.keys) {
        if ((await calculateJwkThumbprint(key as JWK).catch(() => '')) === presented) {
          return { id, client, method: 'self_signed_tls_client_auth', certificateThumbprint: thumbprint }
        }
      }
    }
    throw new InvalidClient('the client certificate does not match the client registration')
  },
}
