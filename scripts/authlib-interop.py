"""Python's Authlib gets tokens from a real Mandate node: client_credentials with private_key_jwt (RFC 7523 §2.2,
RS256 and ES256) and with client_secret_basic (RFC 6749 §2.3.1), through Authlib's requests integration.

Run by scripts/ci-sdk.sh in a virtual environment with Authlib and requests; starts its own node from this checkout
on a free loopback port with a temporary data directory.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import authlib
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ROOT = Path(__file__).resolve().parent.parent
RESOURCE = "https://reports.example.com/"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pem(private_key):
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def client_key(private_key):
    """The private key as Authlib's PrivateKeyJWT takes it: PEM in the releases with their own JOSE code (Debian's
    1.2); in those built on joserfc, PEM is read as an RSA key and other keys are passed as joserfc key objects."""
    try:
        from joserfc.jwk import ECKey, RSAKey
    except ImportError:
        return pem(private_key)
    kind = ECKey if isinstance(private_key, ec.EllipticCurvePrivateKey) else RSAKey
    return kind.import_key(pem(private_key))


def public_jwk(private_key, kid, alg):
    public = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {**JsonWebKey.import_key(public).as_dict(), "kid": kid, "alg": alg, "use": "sig"}


class AuthlibInterop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = tempfile.mkdtemp(prefix="mandate-authlib-")
        cls.url = f"http://127.0.0.1:{free_port()}"
        cls.admin_token = "mnd_adm_" + secrets.token_urlsafe(32)
        env = {
            **os.environ,
            "MANDATE_DATA_DIR": cls.data,
            "MANDATE_PORT": cls.url.rsplit(":", 1)[1],
            "MANDATE_BOOTSTRAP_TOKEN": cls.admin_token,
            "MANDATE_DEMO_DATA": "off",
            "MANDATE_LOG_LEVEL": "warn",
        }
        cls.node = subprocess.Popen(
            ["node", str(ROOT / "packages/server/bin/mandate.js"), "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 180
        while True:
            if cls.node.poll() is not None:
                raise RuntimeError(f"the node exited with {cls.node.returncode}")
            try:
                if requests.get(f"{cls.url}/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the node did not start in 180 s")
            time.sleep(0.5)
        metadata = requests.get(f"{cls.url}/.well-known/oauth-authorization-server", timeout=10).json()
        cls.token_endpoint = metadata["token_endpoint"]
        cls.jwks = JsonWebKey.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())

        cls.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.ec_key = ec.generate_private_key(ec.SECP256R1())
        cls.admin("PUT", "/api/v1/humans/alice@example.com", {})
        cls.admin("PUT", "/api/v1/resource-servers/reports", {"audience": RESOURCE, "scopes": ["reports:read"]})
        cls.admin(
            "PUT",
            "/api/v1/policies/allow-all",
            {"policies": '@id("all")\npermit (principal, action, resource);'},
        )
        cls.admin(
            "PUT",
            "/api/v1/agents/py-key-bot",
            {
                "sponsor": "alice@example.com",
                "classification": "autonomous",
                "ceiling": ["reports:read"],
                "credentials": [
                    {
                        "type": "jwks",
                        "jwks": {
                            "keys": [
                                public_jwk(cls.rsa_key, "rsa-1", "RS256"),
                                public_jwk(cls.ec_key, "ec-1", "ES256"),
                            ]
                        },
                    }
                ],
            },
        )
        created = cls.admin(
            "PUT",
            "/api/v1/agents/py-secret-bot",
            {
                "sponsor": "alice@example.com",
                "classification": "autonomous",
                "ceiling": ["reports:read"],
                "credentials": [{"type": "client_secret"}],
            },
        )
        cls.client_secret = created["issued_secrets"][0]["client_secret"]

    @classmethod
    def tearDownClass(cls):
        cls.node.terminate()
        try:
            cls.node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cls.node.kill()
        shutil.rmtree(cls.data, ignore_errors=True)

    @classmethod
    def admin(cls, method, path, body):
        response = requests.request(
            method,
            f"{cls.url}{path}",
            headers={"authorization": f"Bearer {cls.admin_token}"},
            json=body,
            timeout=10,
        )
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def assert_token(self, token, client_id):
        """RFC 6749 §5.1 response and an RFC 9068 token signed with a key of the node's JWKS."""
        self.assertEqual(token["token_type"], "Bearer")
        self.assertIsInstance(token["expires_in"], int)
        self.assertGreater(token["expires_in"], 0)
        self.assertEqual(token.get("scope", "reports:read"), "reports:read")
        claims = jwt.decode(token["access_token"], self.jwks)
        claims.validate()
        self.assertEqual(claims.header["typ"], "at+jwt")
        self.assertEqual(claims["iss"], self.url)
        self.assertEqual(claims["aud"], RESOURCE)
        self.assertEqual(claims["sub"], client_id)
        self.assertEqual(claims["client_id"], client_id)
        self.assertEqual(claims["scope"], "reports:read")

    def private_key_jwt_session(self, key, kid, alg):
        session = OAuth2Session(
            "py-key-bot",
            client_key(key),
            token_endpoint_auth_method="private_key_jwt",
            scope="reports:read",
        )
        session.register_client_auth_method(PrivateKeyJWT(self.token_endpoint, headers={"kid": kid}, alg=alg))
        self.addCleanup(session.close)
        return session

    def client_secret_session(self, secret, scope="reports:read"):
        session = OAuth2Session("py-secret-bot", secret, scope=scope)
        self.addCleanup(session.close)
        return session

    def test_rfc7523_private_key_jwt_rs256(self):
        """RFC 7523 §2.2: Authlib's PrivateKeyJWT (RS256, aud = the token endpoint) gets a token."""
        session = self.private_key_jwt_session(self.rsa_key, "rsa-1", "RS256")
        token = session.fetch_token(self.token_endpoint, grant_type="client_credentials", resource=RESOURCE)
        self.assert_token(token, "py-key-bot")

    def test_rfc7523_private_key_jwt_es256(self):
        """RFC 7523 §2.2: Authlib's PrivateKeyJWT with an ES256 key gets a token."""
        session = self.private_key_jwt_session(self.ec_key, "ec-1", "ES256")
        token = session.fetch_token(self.token_endpoint, grant_type="client_credentials", resource=RESOURCE)
        self.assert_token(token, "py-key-bot")

    def test_rfc7523_assertion_from_another_key_is_invalid_client(self):
        """RFC 7523 §3.1, RFC 6749 §5.2: an assertion signed with an unregistered key is invalid_client."""
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        session = self.private_key_jwt_session(stranger, "rsa-1", "RS256")
        with self.assertRaises(OAuthError) as caught:
            session.fetch_token(self.token_endpoint, grant_type="client_credentials", resource=RESOURCE)
        self.assertEqual(caught.exception.error, "invalid_client")

    def test_rfc6749_client_secret_basic(self):
        """RFC 6749 §2.3.1: Authlib's default client_secret_basic gets a token."""
        session = self.client_secret_session(self.client_secret)
        token = session.fetch_token(self.token_endpoint, grant_type="client_credentials", resource=RESOURCE)
        self.assert_token(token, "py-secret-bot")

    def test_rfc6749_wrong_secret_is_invalid_client(self):
        """RFC 6749 §5.2: a wrong secret is invalid_client, and the answer does not echo it."""
        wrong = self.client_secret + "-wrong"
        session = self.client_secret_session(wrong)
        with self.assertRaises(OAuthError) as caught:
            session.fetch_token(self.token_endpoint, grant_type="client_credentials", resource=RESOURCE)
        self.assertEqual(caught.exception.error, "invalid_client")
        self.assertNotIn(wrong, json.dumps(caught.exception.description or ""))

    def test_rfc6749_scope_beyond_the_ceiling_is_invalid_scope(self):
        """RFC 6749 §5.2: a scope the agent may not have is invalid_scope."""
        session = self.client_secret_session(self.client_secret, scope="reports:write")
        with self.assertRaises(OAuthError) as caught:
            session.fetch_token(self.token_endpoint, grant_type="client_credentials", resource=RESOURCE)
        self.assertEqual(caught.exception.error, "invalid_scope")


if __name__ == "__main__":
    print(f"Authlib {authlib.__version__}, requests {requests.__version__}, Python {sys.version.split()[0]}")
    unittest.main(verbosity=2)
