"""Client-credential check: credentials in a request body are honoured only where the config allows them.

A body may carry `api_key`, `api_base`, ... (the seed's "Pass User LLM API Keys / API Base"). They are
accepted when `general_settings.allow_client_side_credentials` is on, or when every deployment of the
requested model lists them in `configurable_clientside_auth_params` (a regex must match the whole value).
Anything else is a 403 naming the parameter, raised before anything is sent anywhere.
"""

from __future__ import annotations

import attrs

from kernel.call import Call, Next, Reply
from kernel.errors import PermissionDenied
from kernel.models import Deployment
from kernel.registry import middleware


def apply_credentials(deployment: Deployment, creds: dict) -> Deployment:
    """The deployment with client credentials in place; a client-chosen base URL never gets the configured key."""
    changes = {}
    base = creds.get("api_base") or creds.get("base_url")
    if base:
        changes["api_base"] = str(base).rstrip("/")
        changes["api_key"] = None
    if "api_key" in creds:
        changes["api_key"] = creds["api_key"]
    if "api_version" in creds:
        changes["api_version"] = creds["api_version"]
    if "organization" in creds:
        changes["organization"] = creds["organization"]
    extra = {k: v for k, v in creds.items() if k not in ("api_key", "api_base", "base_url", "api_version", "organization")}
    if extra:
        changes["extra"] = {**deployment.extra, **extra}
    return attrs.evolve(deployment, client_credentials=True, **changes)


@middleware("client_credentials")
class ClientCredentialCheck:
    def __init__(self, options, gateway) -> None:
        self.models = gateway.models
        self.allow_all = gateway.settings.general.allow_client_side_credentials

    async def __call__(self, call: Call, next: Next) -> Reply:
        creds = call.options.get("credentials")
        if not creds:
            return await next(call)
        if not self.allow_all:
            group = self.models.lookup(call.model) if call.model else []
            for param, value in creds.items():
                for d in group or [None]:
                    rule = next_rule(d, param)
                    if rule is None or not rule.allows(value):
                        raise PermissionDenied(
                            f"client-side credential {param!r} is not allowed for model {call.model!r}: list it in "
                            "the deployment's litellm_params.configurable_clientside_auth_params, or set "
                            "general_settings.allow_client_side_credentials: true", param=param)
        call.options["apply_credentials"] = True
        return await next(call)


def next_rule(deployment: Deployment | None, param: str):
    if deployment is None:
        return None
    aliases = {param, "api_base" if param == "base_url" else param}
    for rule in deployment.clientside_auth:
        if rule.param in aliases:
            return rule
    return None
