"""A fake Google OAuth token endpoint, and service-account keys for it, for Vertex AI tests on loopback.

It verifies the RS256 JWT assertion of the jwt-bearer grant against the key pair it made (issuer, audience,
scope, expiry) with google-auth, and answers like oauth2.googleapis.com/token: `access_token`,
`expires_in`, `token_type`. Tokens it issued are in `issued`, so a fake Vertex API can check them.
"""

from __future__ import annotations

import itertools

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def make_key_pair() -> tuple[str, str]:
    """(private key PEM, public key PEM): a fresh 2048-bit RSA key, as in a service-account JSON."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


class FakeGoogleToken:
    """`app` serves POST /token; `service_account(url)` is a key file that points its token_uri here."""

    def __init__(self) -> None:
        self.private_pem, self.public_pem = make_key_pair()
        self.issued: set[str] = set()
        self.grants: list[dict] = []
        self.url = ""
        self._serial = itertools.count(1)
        self.app = Starlette(routes=[Route("/token", self.token, methods=["POST"])])

    def service_account(self, project: str = "sa-project") -> dict:
        return {"type": "service_account", "project_id": project, "private_key_id": "kid-relaykit-test",
                "private_key": self.private_pem, "client_email": f"relaykit@{project}.iam.gserviceaccount.com",
                "client_id": "1234567890", "token_uri": self.url + "/token"}

    async def token(self, request: Request) -> JSONResponse:
        from google.auth import jwt

        form = dict(await request.form())
        self.grants.append(form)
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        try:
            claims = jwt.decode(form.get("assertion", ""), certs=self.public_pem, audience=self.url + "/token")
        except ValueError as exc:
            return JSONResponse({"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"},
                                status_code=400)
        if claims.get("scope") != SCOPE or not str(claims.get("iss", "")).endswith(".iam.gserviceaccount.com"):
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        token = f"ya29.fake-{next(self._serial)}"
        self.issued.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
