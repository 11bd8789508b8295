"""Vertex AI credentials: a Google OAuth access token for a service account (or gcloud user credentials),
fetched through the provider-call client and cached until shortly before it expires.

This is the one impure corner of the Google providers, reached only through the provider `prepare` hook
that middleware/provider_call.py calls before `build_request`: the JWT assertion is signed with google-auth
(`relaykit[vertex]`), and the token exchange is an ordinary POST to the credentials' `token_uri` over
the pooled upstream client, so no thread or second HTTP stack is needed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlencode

import orjson

from kernel.errors import UpstreamAuthError
from kernel.models import Deployment
from kernel.upstream import UpstreamRequest
from providers.shared.error_body import error_json

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_MARGIN = 300.0  # seconds: refresh a token this long before Google says it expires
TOKEN_TIMEOUT = 30.0


def load_credentials(value: Any) -> dict:
    """vertex_credentials as LiteLLM accepts it: a mapping, a JSON string, or the path of a JSON key file."""
    if isinstance(value, dict):
        return value
    text = str(value).strip()
    if not text.startswith("{"):
        try:
            with open(text, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ValueError(f"cannot read {text!r}: {exc.strerror}") from None
    try:
        info = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ValueError("not a JSON service-account key") from None
    if not isinstance(info, dict):
        raise ValueError("expected a JSON object")
    kind = info.get("type", "service_account")
    if kind == "service_account" and not (info.get("client_email") and info.get("private_key")):
        raise ValueError("a service-account key needs client_email and private_key")
    if kind not in ("service_account", "authorized_user"):
        raise ValueError(f"credentials of type {kind!r} are not supported (use a service-account key "
                         "or authorized_user credentials)")
    return info


def token_request(info: dict, now: float) -> UpstreamRequest:
    """The token exchange for one set of credentials (pure given the clock)."""
    kind = info.get("type", "service_account")
    token_uri = info.get("token_uri") or DEFAULT_TOKEN_URI
    if kind == "authorized_user":  # `gcloud auth application-default login` credentials
        form = {"grant_type": "refresh_token", "client_id": info.get("client_id", ""),
                "client_secret": info.get("client_secret", ""), "refresh_token": info.get("refresh_token", "")}
    else:
        from google.auth import crypt, jwt

        signer = crypt.RSASigner.from_service_account_info(info)
        claims = {"iss": info["client_email"], "scope": SCOPE, "aud": token_uri,
                  "iat": int(now), "exp": int(now) + 3600}
        form = {"grant_type": JWT_GRANT, "assertion": jwt.encode(signer, claims).decode()}
    return UpstreamRequest("POST", token_uri, {"content-type": "application/x-www-form-urlencoded"},
                           content=urlencode(form).encode())


class GoogleTokens:
    """Per-process cache: credentials → (access token, expiry); one fetch at a time per credentials."""

    def __init__(self) -> None:
        self.infos: dict[str, dict] = {}
        self.tokens: dict[str, tuple[str, float]] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    def info(self, value: Any, d: Deployment) -> tuple[str, dict]:
        key = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        info = self.infos.get(key)
        if info is None:
            try:
                info = self.infos[key] = load_credentials(value)
            except ValueError as exc:
                raise UpstreamAuthError(f"deployment {d.label}: vertex_credentials: {exc}", deployment=d.id) from None
        return key, info

    async def token(self, key: str, info: dict, d: Deployment, upstream) -> str:
        cached = self.tokens.get(key)
        if cached is not None and cached[1] - REFRESH_MARGIN > time.time():
            return cached[0]
        lock = self.locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self.tokens.get(key)  # another call may have fetched it while this one waited
            if cached is not None and cached[1] - REFRESH_MARGIN > time.time():
                return cached[0]
            now = time.time()
            response = await upstream.send(token_request(info, now), d, TOKEN_TIMEOUT)
            token, lifetime = read_token(response.status, response.body, d)
            self.tokens[key] = (token, now + lifetime)
            return token


def read_token(status: int, data: bytes, d: Deployment) -> tuple[str, float]:
    payload = error_json(data)
    if status != 200 or not isinstance(payload, dict) or not payload.get("access_token"):
        reason = ""
        if isinstance(payload, dict):
            reason = f": {payload.get('error', '')} {payload.get('error_description', '')}".rstrip()
        raise UpstreamAuthError(f"deployment {d.label}: Google refused the Vertex AI credentials "
                                f"(token endpoint answered HTTP {status}{reason})", deployment=d.id, status=401)
    return payload["access_token"], float(payload.get("expires_in") or 3600)


async def prepare(d: Deployment, upstream) -> Deployment:
    """The deployment with a fresh access token as its api_key (and the key file's project, when none is set)."""
    creds = d.extra.get("vertex_credentials")
    if not creds:
        return d  # api_key already holds an access token
    import attrs

    tokens = upstream.shared.get("google_tokens")
    if tokens is None:
        tokens = upstream.shared["google_tokens"] = GoogleTokens()
    key, info = tokens.info(creds, d)
    changes: dict[str, Any] = {"api_key": await tokens.token(key, info, d, upstream)}
    project = info.get("project_id") or info.get("quota_project_id")
    if not d.extra.get("vertex_project") and project:
        changes["extra"] = {**d.extra, "vertex_project": project}
    return attrs.evolve(d, **changes)
