"""Key rows from management requests: the columns a body sets, the checks against teams and budgets, the views.

Shared by /key/* and /user/new (which can create a key for the new user). Nothing here writes: callers
collect every check first, then write the change and its audit row in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kernel.errors import ClientError, NotFound
from kernel.store import Store
from kernel.store.migrate import table
from kernel.store.migrations import BUDGETS, KEYS, TEAMS
from kernel.store.records import ALL_TEAM_MODELS, ModelAccess
from middleware.governance.credentials import hash_key, key_name, token_of
from middleware.governance.durations import after

# Request fields stored as they are, in the column of the same name.
DIRECT = ("key_alias", "models", "aliases", "spend", "budget_id", "user_id", "team_id", "organization_id", "metadata",
          "blocked", "max_budget", "soft_budget", "budget_duration", "tpm_limit", "rpm_limit", "max_parallel_requests",
          "model_max_budget", "model_rpm_limit", "model_tpm_limit")
_NULL_MEANS = {"spend": 0.0, "blocked": False}  # columns that cannot be NULL: an explicit null means the default


def columns(body: Mapping[str, Any], at: datetime, before: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The key columns a validated request body sets (only those it names)."""
    out: dict[str, Any] = {}
    for name in DIRECT:
        if name in body:
            value = body[name]
            out[name] = _NULL_MEANS[name] if value is None and name in _NULL_MEANS else value
    if "duration" in body:  # null: never expires
        out["expires"] = None if body["duration"] is None else after(body["duration"], at)
    if "budget_duration" in body:  # a new period starts now and ends on this boundary (the budget link resets it)
        out["budget_reset_at"] = None if body["budget_duration"] is None else after(body["budget_duration"], at)
    if body.get("tags") is not None:  # LiteLLM keeps a key's tags in its metadata
        metadata = dict(out.get("metadata", before["metadata"] if before else {}))
        metadata["tags"] = body["tags"]
        out["metadata"] = metadata
    return out


def new_row(raw_key: str, body: Mapping[str, Any], at: datetime, by: str) -> dict[str, Any]:
    row = {"token": hash_key(raw_key), "key_name": key_name(raw_key), "created_at": at, "created_by": by,
           "updated_at": at, "updated_by": by, **columns(body, at)}
    return table(KEYS).complete(row)


async def check_refs(store: Store, row: Mapping[str, Any]) -> None:
    """The key's team and budget exist, and its models are ones its team may call."""
    team_id = row.get("team_id")
    if team_id is not None:
        team = await store.get(TEAMS, team_id)
        if team is None:
            raise ClientError(f"team_id: no team {team_id!r}; create it with POST /team/new", param="team_id",
                              code="invalid_field")
        allowed = ModelAccess.of(team["models"])
        if not allowed.everything:
            for i, model in enumerate(row.get("models") or ()):
                if model != ALL_TEAM_MODELS and not allowed.allows(model):
                    raise ClientError(f"models[{i}]: team {team_id!r} may not call {model!r} (the team's models: "
                                      f"{', '.join(allowed.names)})", param=f"models[{i}]", code="invalid_field")
    budget_id = row.get("budget_id")
    if budget_id is not None and await store.get(BUDGETS, budget_id) is None:
        raise ClientError(f"budget_id: no budget {budget_id!r}; create it with POST /budget/new", param="budget_id",
                          code="invalid_field")


async def check_alias_free(store: Store, alias: str | None, token: str | None = None) -> None:
    if alias is None:
        return
    rows = await store.find(KEYS, {"key_alias": alias}, limit=1)
    if rows and rows[0]["token"] != token:
        raise ClientError(f"Key with alias {alias!r} already exists; pick another key_alias", param="key_alias",
                          code="invalid_field")


async def check_token_free(store: Store, token: str) -> None:
    if await store.get(KEYS, token) is not None:
        raise ClientError("this key already exists; send another `key`, or none to have one generated", param="key",
                          code="invalid_field")


async def existing(store: Store, given: str, param: str = "key") -> dict[str, Any]:
    """The key row a request names by the key or its hash; 404 when there is none."""
    row = await store.get(KEYS, token_of(given))
    if row is None:
        raise NotFound("Key not found in database", param=param, code="key_not_found")
    return row


def view(row: Mapping[str, Any], *, token: bool = True) -> dict[str, Any]:
    """A key row as the API shows it: the hash at most, never a usable key (the store has none to show)."""
    out = dict(row)
    if not token:
        out.pop("token", None)
    return out


def generated(raw_key: str, row: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """LiteLLM's GenerateKeyResponse: the row, the key itself (shown this once), and its hash as token/token_id."""
    return {**view(row), "key": raw_key, "token": row["token"], "token_id": row["token"],
            "duration": body.get("duration"), "tags": body.get("tags")}
