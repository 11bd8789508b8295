"""Client-credential check: credentials in a request body are honoured only where the config allows them.

A body may carry `api_key`, `api_base`, `base_url`, `api_version` and provider credential params (the
seed's "Pass User LLM API Keys / API Base"). They are accepted when general_settings.allow_client_side_credentials
is on, or for deployments whose configurable_clientside_auth_params list them (a `{param: regex}` rule must
match the whole value). When no deployment of the requested model accepts them: 403 naming the parameter,
raised before anything is sent anywhere. The router then only picks deployments that accept them.

Once allowed, the call is marked `use_client_credentials`; provider_call then applies them with
`credentials.apply_credentials`, which makes sure a client-chosen destination never receives the deployment's
configured secrets.
"""

from __future__ import annotations

from kernel.call import Call, Next, Reply
from kernel.errors import ClientError, PermissionDenied
from kernel.models import Deployment
from kernel.registry import middleware
from middleware.routing.context import routing_of
from middleware.routing.credentials import STRING_PARAMS, allows, rule_for


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
        creds = call.credentials
        if not creds:
            return await next(call)
        for param, value in creds.items():
            if param in STRING_PARAMS and not isinstance(value, str):
                raise ClientError(f"'{param}' must be a string", param=param)
        rc = call.routing or self.rc
        if not rc.allow_client_credentials:
            group = rc.models.lookup(call.model) if call.model else []
            if not any(allows(d, creds) for d in group):
                raise refusal(first_refused(group, creds), call.model)
        call.use_client_credentials = True
        return await next(call)


def first_refused(group: list[Deployment], creds: dict) -> str:
    """The parameter to name in a refusal: the first one some deployment of the group does not accept."""
    for param, value in creds.items():
        for d in group or ():
            rule = rule_for(d, param)
            if rule is None or not rule.allows(value):
                return param
    return next(iter(creds))
