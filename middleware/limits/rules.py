"""Which rate-limit counters a call touches: one rule per limit set on its key, team and user (and their models).

A rule is a plain tuple `(ident, kind, limit, owner)`, built per call for callers that have limits (tuples are the
cheapest thing to build): `ident` names the counter, `owner` is `(record, model)`, turned into words only for a
refusal's message (`owner_text`).
"""

from __future__ import annotations

from kernel.store.records import Caller, KeyRecord, TeamRecord

RPM, TPM, PARALLEL = "rpm", "tpm", "max_parallel_requests"

Rule = tuple  # (ident: tuple, kind: str, limit: int, owner: (record, model or None))


def scopes(caller: Caller) -> list[tuple[tuple, object]]:
    """(counter id, record) of each of the caller's records that has any rate limit: key, team, user."""
    out = []
    key, team, user = caller.key, caller.team, caller.user
    if key.limits.rated:
        out.append((("key", key.token), key))
    if team is not None and team.limits.rated:
        out.append((("team", team.team_id), team))
    if user is not None and user.limits.rated:
        out.append((("user", user.user_id), user))
    return out


def rules_for(caller: Caller, model: str | None) -> list[Rule]:
    """Every limit that applies to this call, the key's first, then its team's, then its user's; each owner's
    whole-scope limits before its per-model ones (the first one full is the one a refusal names)."""
    rules: list[Rule] = []
    for ident, record in scopes(caller):
        limits = record.limits
        owner = (record, None)
        if limits.rpm_limit is not None:
            rules.append((ident, RPM, limits.rpm_limit, owner))
        if limits.tpm_limit is not None:
            rules.append((ident, TPM, limits.tpm_limit, owner))
        if limits.max_parallel_requests is not None:
            rules.append((ident, PARALLEL, limits.max_parallel_requests, owner))
        if model is not None and (limits.model_rpm_limit or limits.model_tpm_limit):
            rpm = limits.model_rpm_limit.get(model)
            tpm = limits.model_tpm_limit.get(model)
            if rpm is not None:
                rules.append(((*ident, model), RPM, rpm, (record, model)))
            if tpm is not None:
                rules.append(((*ident, model), TPM, tpm, (record, model)))
    return rules


def token_counters(caller: Caller, model: str | None) -> list[tuple]:
    """The counters a call's tokens are added to: only those some tpm limit reads, so memory stays bounded."""
    out = []
    for ident, record in scopes(caller):
        limits = record.limits
        if limits.tpm_limit is not None:
            out.append(ident)
        if model is not None and model in limits.model_tpm_limit:
            out.append((*ident, model))
    return out


def owner_text(owner: tuple) -> str:
    """Whose limit a rule is, for a refusal: `key 'app-1'`, `team 'search' for model 'gpt-4o'`, `user 'ada'`."""
    record, model = owner
    if isinstance(record, KeyRecord):
        text = f"key {record.key_alias or record.key_name or record.token[:12]!r}"
    elif isinstance(record, TeamRecord):
        text = f"team {record.team_alias or record.team_id!r}"
    else:
        text = f"user {record.user_id!r}"
    return text if model is None else f"{text} for model {model!r}"
