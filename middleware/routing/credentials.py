"""Which client-side credentials a deployment accepts, which of them point the call at another host, and
the deployment with them applied (what provider_call sends with)."""

from __future__ import annotations

import re

import attrs

from kernel.models import Deployment

# api_base and base_url are one setting under two names, so a rule for either covers both.
_SAME = {"base_url": "api_base", "api_base": "base_url"}
# Values that can only fill a host label (a region, a project), never turn the URL into another host.
_PLAIN = re.compile(r"[A-Za-z0-9_-]+")
_URL_WORDS = ("base", "url", "endpoint", "host", "location", "region")
_SECRET_WORDS = ("key", "token", "secret", "credential", "password", "profile", "header")
STRING_PARAMS = frozenset({"api_key", "api_base", "base_url", "api_version", "organization"})
_FIELDS = ("api_key", "api_version", "organization")  # credentials that are Deployment attributes


def rule_for(d: Deployment, param: str):
    other = _SAME.get(param)
    for rule in d.clientside_auth:
        if rule.param == param or rule.param == other:
            return rule
    return None


def allows(d: Deployment, creds: dict) -> bool:
    """True when the deployment's configurable_clientside_auth_params admits every given credential."""
    for param, value in creds.items():
        rule = rule_for(d, param)
        if rule is None or not rule.allows(value):
            return False
    return True


def redirects(creds: dict) -> bool:
    """Does any credential choose where the request goes? A base URL always does; a region or location
    does unless it is a plain label (a client-chosen `evil.example/#` would otherwise become the host)."""
    for param, value in creds.items():
        if param in ("api_base", "base_url"):
            return True
        if any(w in param for w in _URL_WORDS) and not (isinstance(value, str) and _PLAIN.fullmatch(value)):
            return True
    return False


def is_secret(name: str) -> bool:
    return any(w in name for w in _SECRET_WORDS)


def apply_credentials(deployment: Deployment, creds: dict) -> Deployment:
    """The deployment with client credentials in place.

    When the client chooses where the call goes (a base URL, or a region/location that is not a plain
    label) every configured secret is dropped first: the configured key, and any provider setting whose
    name says it is a key, token, secret, credential, profile or header. The client's own may replace them.
    """
    changes: dict = {}
    extra = dict(deployment.extra)
    if redirects(creds):
        changes["api_key"] = None
        extra = {k: v for k, v in extra.items() if not is_secret(k)}
    base = creds.get("api_base") or creds.get("base_url")
    if base:
        changes["api_base"] = str(base).rstrip("/")
    for name in _FIELDS:
        if name in creds:
            changes[name] = creds[name]
    for k, v in creds.items():
        if k not in _FIELDS and k not in ("api_base", "base_url"):
            extra[k] = v
    changes["extra"] = extra
    return attrs.evolve(deployment, client_credentials=True, **changes)
