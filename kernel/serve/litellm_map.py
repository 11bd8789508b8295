"""LiteLLM proxy rows → relaykit store rows: pure functions, no database (the importer reads and writes).

relaykit's columns are named after LiteLLM's, so most values are copied by name and converted by the
relaykit column's kind. What differs is mapped here: LiteLLM keeps per-model rpm/tpm limits in `metadata`,
a team's model aliases in LiteLLM_ModelTable, team members in `admins`/`members` before `members_with_roles`,
and `all-proxy-models` for "every model" (relaykit's empty list). Settings relaykit does not enforce are kept
under `metadata.litellm` so nothing the user set vanishes; a user's password hash is never read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import orjson

from kernel.store.migrate import table
from kernel.store.migrations import BUDGETS, KEYS, TEAMS, USERS
from kernel.store.schema import BIGINT, BOOL, INT, JSON, REAL, TS

# LiteLLM's table names (quoted, camel-case identifiers in its Postgres schema).
LITELLM_KEYS, LITELLM_TEAMS = "LiteLLM_VerificationToken", "LiteLLM_TeamTable"
LITELLM_USERS, LITELLM_BUDGETS, LITELLM_MODELS = "LiteLLM_UserTable", "LiteLLM_BudgetTable", "LiteLLM_ModelTable"

ALL_PROXY_MODELS = "all-proxy-models"  # LiteLLM's "every model on the proxy"; relaykit says [] for that
KEPT = "litellm"  # metadata key holding LiteLLM settings relaykit does not enforce

# Source columns kept under metadata.litellm (when set) rather than dropped: relaykit has no column for them.
_KEEP = {
    LITELLM_KEYS: ("config", "permissions", "allowed_cache_controls", "allowed_routes", "router_settings", "policies",
                   "access_group_ids", "object_permission_id", "project_id", "agent_id", "auto_rotate",
                   "rotation_interval", "key_rotation_at", "budget_limits"),
    LITELLM_TEAMS: ("router_settings", "team_member_permissions", "access_group_ids", "policies",
                    "default_team_member_models", "budget_limits", "object_permission_id",
                    "allow_team_guardrail_config"),
    LITELLM_USERS: ("organization_id", "sso_user_id", "allowed_cache_controls", "policies", "object_permission_id"),
    LITELLM_BUDGETS: (),
}
# Source columns read for a mapping of their own, not copied by name.
_SPECIAL = {LITELLM_KEYS: ("token",), LITELLM_TEAMS: ("model_id", "admins", "members"),
            LITELLM_USERS: ("team_id",), LITELLM_BUDGETS: ()}
TARGET = {LITELLM_KEYS: KEYS, LITELLM_TEAMS: TEAMS, LITELLM_USERS: USERS, LITELLM_BUDGETS: BUDGETS}
_HEX64 = re.compile(r"[0-9a-f]{64}")


def wanted(source_table: str) -> frozenset[str]:
    """Every column of a LiteLLM table the import reads; the importer selects those the database has."""
    same = set(table(TARGET[source_table]).kinds)
    return frozenset(same | set(_KEEP[source_table]) | set(_SPECIAL[source_table]))


def _json(value: Any) -> Any:
    # asyncpg hands json/jsonb over as text
    if isinstance(value, (str, bytes)):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def utc(value: Any) -> datetime | None:
    """LiteLLM's Prisma DateTime is `timestamp(3)` without a zone, holding UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return utc(datetime.fromisoformat(str(value)))


def _plain(value: Any) -> Any:
    """A value fit for a JSON column (timestamps as ISO text)."""
    value = _json(value)
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _convert(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == JSON:
        return _plain(value)
    if kind == TS:
        return utc(value)
    if kind == BOOL:
        return bool(value)
    if kind == REAL:
        return float(value)
    if kind in (INT, BIGINT):
        return int(value)
    return str(value)


def models(value: Any) -> list[str]:
    names = [str(m) for m in (_json(value) or ())]
    return [] if ALL_PROXY_MODELS in names else names


def _copy(source_table: str, src: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of the same name, converted; a NULL where relaykit has a default becomes that default."""
    target = table(TARGET[source_table])
    skip = set(_SPECIAL[source_table]) | set(_KEEP[source_table])
    out: dict[str, Any] = {}
    for name, kind in target.kinds.items():
        if name in src and name not in skip:
            value = _convert(kind, src[name])
            if value is None and name in target.defaults:
                continue
            out[name] = value
    if "models" in out:
        out["models"] = models(out["models"])
    kept = {name: _plain(src[name]) for name in _KEEP[source_table] if _set(src.get(name))}
    if "metadata" in target.kinds and (kept or "metadata" in src):  # else a re-run would reset relaykit's
        metadata = out.get("metadata")
        metadata = dict(metadata) if isinstance(metadata, dict) else {}
        for limit in ("model_rpm_limit", "model_tpm_limit"):  # LiteLLM keeps these in metadata
            if isinstance(metadata.get(limit), dict) and limit in target.kinds:
                out[limit] = metadata.pop(limit)
        if kept:
            metadata[KEPT] = kept
        out["metadata"] = metadata
    return out


def _set(value: Any) -> bool:
    value = _json(value)
    return value not in (None, False, "", [], {})


def key_token(value: str) -> str | None:
    """The SHA-256 hex relaykit looks keys up by; the oldest LiteLLM versions stored the key itself, so hash that."""
    if value.startswith("sk-"):
        return hashlib.sha256(value.encode()).hexdigest()
    value = value.lower()
    return value if _HEX64.fullmatch(value) else None


def key_row(src: Mapping[str, Any], budget: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A relaykit key row, or None when the token is neither a SHA-256 hex nor a key to hash.

    LiteLLM keeps a key's soft_budget in the budget its `budget_id` names, not on the key: it is copied onto
    the key, which is where relaykit looks for it.
    """
    token = key_token(str(src.get("token") or ""))
    if token is None:
        return None
    out = _copy(LITELLM_KEYS, src)
    out["token"] = token
    if str(src["token"]).startswith("sk-") and not out.get("key_name"):
        out["key_name"] = f"sk-...{src['token'][-4:]}"
    if budget is not None and budget.get("soft_budget") is not None and out.get("soft_budget") is None:
        out["soft_budget"] = float(budget["soft_budget"])
    return out


def _members(out: dict[str, Any], src: Mapping[str, Any]) -> dict[str, Any]:
    if not {"members_with_roles", "admins", "members"} & src.keys():
        return out
    members = _json(src.get("members_with_roles"))
    if not isinstance(members, list) or not members:  # LiteLLM's column defaults to {}; older rows have the arrays
        members = [{"role": "admin", "user_id": u} for u in (src.get("admins") or ())]
        members += [{"role": "user", "user_id": u} for u in (src.get("members") or ()) if u not in (src.get("admins") or ())]
    out["members_with_roles"] = _plain(members)
    return out


def team_row(src: Mapping[str, Any], model_aliases: Mapping[int, Any]) -> dict[str, Any]:
    out = _members(_copy(LITELLM_TEAMS, src), src)
    aliases = _json(model_aliases.get(src.get("model_id"))) if src.get("model_id") is not None else None
    if isinstance(aliases, dict):
        out["aliases"] = _plain(aliases)
    return out


def user_row(src: Mapping[str, Any]) -> dict[str, Any]:
    out = _copy(LITELLM_USERS, src)
    if not {"teams", "team_id"} & src.keys():
        return out
    teams = list(out.get("teams") or [])
    if src.get("team_id") and src["team_id"] not in teams:  # LiteLLM's single team_id came before `teams`
        teams.append(src["team_id"])
    out["teams"] = teams
    return out


def budget_row(src: Mapping[str, Any]) -> dict[str, Any]:
    return _copy(LITELLM_BUDGETS, src)


def stamped(row: Mapping[str, Any], existing: Mapping[str, Any] | None, at: datetime, by: str) -> dict[str, Any]:
    """`row` with the stamps LiteLLM lacks: those of the row already imported, so a second run finds nothing to
    change; on a first import, the import's time and `by`."""
    row = dict(row)
    before = existing or {}
    for stamp, fallback in (("created_at", at), ("created_by", by), ("updated_at", None), ("updated_by", None)):
        if row.get(stamp) is None:
            row[stamp] = before.get(stamp) or fallback or row[stamp.replace("updated", "created")]
    return row


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of `after` whose values differ from `before` (timestamps compared as instants). Columns the
    LiteLLM row does not have are not in `after`, so what relaykit alone keeps is never reset."""
    out = {}
    for name, value in after.items():
        old = before.get(name)
        if isinstance(old, datetime) and isinstance(value, datetime):
            if old.timestamp() != value.timestamp():
                out[name] = value
        elif old != value:
            out[name] = value
    return out
