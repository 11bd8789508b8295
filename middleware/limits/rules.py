"""Which rate-limit counters a call touches: one rule per limit set on its key, team and user (and their models)."""

from __future__ import annotations

from typing import NamedTuple

from kernel.store.records import Caller, Limits

RPM, TPM, PARALLEL = "rpm", "tpm", "max_parallel_requests"


class Rule(NamedTuple):
    """One limit: the counter it reads (`ident`), what it counts, its value, and whose it is (for the message)."""

    ident: tuple
    kind: str
    limit: int
    owner: str


def scopes(caller: Caller) -> list[tuple[tuple, str, Limits]]:
    """(counter id, owner label, limits) of each of the caller's records that has any rate limit."""
    out = []
    key, team, user = caller.key, caller.team, caller.user
    if key.limits.rated:
        out.append((("key", key.token), f"key {key.key_alias or key.key_name or key.token[:12]!r}", key.limits))
    if team is not None and team.limits.rated:
        out.append((("team", team.team_id), f"team {team.team_alias or team.team_id!r}", team.limits))
    if user is not None and user.limits.rated:
        out.append((("user", user.user_id), f"user {user.user_id!r}", user.limits))
    return out


def rules_for(caller: Caller, model: str | None) -> list[Rule]:
    """Every limit that applies to this call, the key's first, then its team's, then its user's; each owner's
    whole-scope limits before its per-model ones (the first one full is the one a refusal names)."""
    rules: list[Rule] = []
    for ident, owner, limits in scopes(caller):
        if limits.rpm_limit is not None:
            rules.append(Rule(ident, RPM, limits.rpm_limit, owner))
        if limits.tpm_limit is not None:
            rules.append(Rule(ident, TPM, limits.tpm_limit, owner))
        if limits.max_parallel_requests is not None:
            rules.append(Rule(ident, PARALLEL, limits.max_parallel_requests, owner))
        if model is not None:
            rpm = limits.model_rpm_limit.get(model)
            if rpm is not None:
                rules.append(Rule((*ident, model), RPM, rpm, f"{owner} for model {model!r}"))
            tpm = limits.model_tpm_limit.get(model)
            if tpm is not None:
                rules.append(Rule((*ident, model), TPM, tpm, f"{owner} for model {model!r}"))
    return rules


def token_counters(caller: Caller, model: str | None) -> list[tuple]:
    """The counters a call's tokens are added to: only those some tpm limit reads, so memory stays bounded."""
    out = []
    for ident, _, limits in scopes(caller):
        if limits.tpm_limit is not None:
            out.append(ident)
        if model is not None and model in limits.model_tpm_limit:
            out.append((*ident, model))
    return out
