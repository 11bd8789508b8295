"""Client-credential check: credentials in a request body are honoured only where the config allows them.

A body may carry `api_key`, `api_base`, `base_url`, `api_version` and provider credential params (the
seed's "Pass User LLM API Keys / API Base"). They are accepted when general_settings.allow_client_side_credentials
is on, or for deployments whose configurable_clientside_auth_params list them (a `{param: regex}` rule must
match the whole value). When no deployment of the requested model accepts them: 403 naming the parameter,
raised before anything is sent anywhere. The router then only picks deployments that accept them.

`apply_credentials` (used by provider_call) makes sure a client-chosen destination never receives the
deployment's configured secrets.
"""

from __future__ import annotations

import attrs

from kernel.call import Call, Next, Reply
from kernel.errors import ClientError, PermissionDenied
from kernel.models import Deployment
from kernel.registry import middleware
from middleware.routing.context import ROUTING_KEY, routing_of
from middleware.routing.credentials import STRING_PARAMS, allows, is_secret, redirects, rule_for

_FIELDS = ("api_key", "api_version", "organization")


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


def refusal(param: str, model: str | None) -> PermissionDenied:
    return PermissionDenied(
        f"client-side credential {param!r} is not allowed for model {model!r}: list it in the deployment's "
        "litellm_params.configurable_clientside_auth_params (a regex rule must match the whole value), or set "
        "general_settings.allow_client_side_credentials: true", param=param)


@middleware("client_credentials")
class ClientCredentialCheck:
    def __init__(self, options, gateway) -> None:
        self.rc = routing_of(gateway)

    async def __call__(self, call: Call, next: Next) -> Reply:
        creds = call.options.get("credentials")
        if not creds:
            return await next(call)
        for param, value in creds.items():
            if param in STRING_PARAMS and not isinstance(value, str):
                raise ClientError(f"'{param}' must be a string", param=param)
        rc = call.options.get(ROUTING_KEY) or self.rc
        if not rc.allow_client_credentials:
            group = rc.models.lookup(call.model) if call.model else []
            if not any(allows(d, creds) for d in group):
                raise refusal(first_refused(group, creds), call.model)
        call.options["apply_credentials"] = True
        return await next(call)


def first_refused(group: list[Deployment], creds: dict) -> str:
    """The parameter to name in a refusal: the first one some deployment of the group does not accept."""
    for param, value in creds.items():
        for d in group or ():
            rule = rule_for(d, param)
            if rule is None or not rule.allows(value):
                return param
    return next(iter(creds))
