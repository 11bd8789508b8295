"""Which client-side credentials a deployment accepts, and which of them point the call at another host."""

from __future__ import annotations

import re

from kernel.models import Deployment

# api_base and base_url are one setting under two names, so a rule for either covers both.
_SAME = {"base_url": "api_base", "api_base": "base_url"}
# Values that can only fill a host label (a region, a project), never turn the URL into another host.
_PLAIN = re.compile(r"[A-Za-z0-9_-]+")
_URL_WORDS = ("base", "url", "endpoint", "host", "location", "region")
_SECRET_WORDS = ("key", "token", "secret", "credential", "password", "profile", "header")
STRING_PARAMS = frozenset({"api_key", "api_base", "base_url", "api_version", "organization"})


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
