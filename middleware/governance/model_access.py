"""key_models: a virtual key may call only the models its `models` list (and its team's) allows; 403 otherwise.

`models: []` means every model. The key's own `aliases` (then its team's) are applied first (the call is then routed to the
alias's target), and a name is allowed when it, its key alias or the router's `model_group_alias` target is
on the list; entries may hold one `*` (`openai/*`); `all-team-models` means the team's list. It sits after
`batch`, so each model of a `"model": "a,b"` list is checked on its own. The master key passes untouched.

Options:
- `body_model` (default false): read `model` from a JSON body the dialect did not decode (forwarded routes).
- `when_no_model` (`deny` | `allow`, default deny): a key limited to some models, on a call that names none
  (moderations and images let the router pick; a file upload has no model).
"""

from __future__ import annotations

from attrs import field, frozen, validators

from kernel.call import Call, Next, Reply
from kernel.errors import PermissionDenied
from kernel.registry import middleware
from kernel.store.records import Caller, ModelAccess
from middleware.governance.body_model import body_model


def _restricted(caller: Caller) -> list[tuple[str, ModelAccess]]:
    """The lists that limit this caller, each with who owns it, for the check and its message."""
    out = []
    key, team = caller.key, caller.team
    if key.models.team_models:
        if team is None:  # "the team's models" with no team: only the names listed beside the marker
            out.append(("this key", key.models))
    elif not key.models.everything:
        out.append(("this key", key.models))
    if team is not None and not team.models.everything:
        out.append((f"this key's team {team.team_alias or team.team_id!r}", team.models))
    return out


@middleware("key_models")
class KeyModels:
    @frozen
    class Options:
        body_model: bool = False
        when_no_model: str = field(default="deny", validator=validators.in_(("deny", "allow")))

    def __init__(self, options: Options | None, gateway) -> None:
        options = options or self.Options()
        self.body_model = options.body_model
        self.deny_unnamed = options.when_no_model == "deny"
        self.router_aliases = gateway.models.aliases

    async def __call__(self, call: Call, next: Next) -> Reply:
        caller = call.caller
        if caller is None:
            return await next(call)
        requested = call.model
        if requested is None and self.body_model:
            requested = body_model(call.raw)
        if requested is None:
            lists = _restricted(caller)
            if lists and self.deny_unnamed:
                owner, access = lists[0]
                raise PermissionDenied(f"{owner} may only call {', '.join(access.names)}; name one with 'model'",
                                       param="model", code="model_not_allowed")
            return await next(call)
        target = caller.key.aliases.get(requested)
        if target is None and caller.team is not None:
            target = caller.team.aliases.get(requested)
        if target is not None and isinstance(target, str) and call.model is not None:
            call.model = target  # the router picks from the alias's group; providers set the upstream name
        model = target or requested
        names = (requested, model, self.router_aliases.get(model, model))
        for owner, access in _restricted(caller):
            if not any(access.allows(n) for n in names):
                raise PermissionDenied(f"key not allowed to access model {requested!r}: {owner} may only call "
                                       f"{', '.join(access.names)}", param="model", code="model_not_allowed")
        return await next(call)
