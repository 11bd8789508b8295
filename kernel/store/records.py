"""Typed, immutable views of the key, team and user rows that the hot path reads, and the Caller on a Call.

Built once per cache fill, never per request: the model list is pre-split into exact names and wildcard
patterns, and `expires` into an epoch float, so the per-request checks are a set lookup and a compare.
Budget, limit and spend fields are carried for the links that enforce them (they read `call.caller`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from attrs import frozen

ALL_TEAM_MODELS = "all-team-models"  # LiteLLM's marker: this key may call whatever its team may
_EMPTY: Mapping = MappingProxyType({})


@frozen(slots=True)
class ModelAccess:
    """Which model names a key, team or user may call; no names at all means every model."""

    names: tuple[str, ...] = ()
    exact: frozenset[str] = frozenset()
    patterns: tuple[tuple[str, str], ...] = ()  # (prefix, suffix) of each `*` pattern
    team_models: bool = False  # the list held ALL_TEAM_MODELS

    @classmethod
    def of(cls, models: list[str] | tuple[str, ...] | None) -> ModelAccess:
        names = tuple(models or ())
        exact, patterns = set(), []
        for name in names:
            if name == ALL_TEAM_MODELS:
                continue
            if "*" in name:
                prefix, _, suffix = name.partition("*")
                patterns.append((prefix, suffix))
            else:
                exact.add(name)
        return cls(names, frozenset(exact), tuple(patterns), ALL_TEAM_MODELS in names)

    @property
    def everything(self) -> bool:
        return not self.names

    def allows(self, name: str) -> bool:
        if name in self.exact:
            return True
        for prefix, suffix in self.patterns:
            if name.startswith(prefix) and name.endswith(suffix) and len(name) >= len(prefix) + len(suffix):
                return True
        return False


def _mapping(value: Any) -> Mapping:
    return MappingProxyType(dict(value)) if value else _EMPTY


@frozen(slots=True)
class Limits:
    """Budget and rate-limit settings shared by keys, teams and users (enforced by later links)."""

    spend: float = 0.0
    max_budget: float | None = None
    soft_budget: float | None = None
    budget_duration: str | None = None
    budget_reset_at: datetime | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    model_max_budget: Mapping = _EMPTY
    model_rpm_limit: Mapping = _EMPTY
    model_tpm_limit: Mapping = _EMPTY
    model_spend: Mapping = _EMPTY
    # Any of rpm/tpm/parallel/per-model limits set: worked out once per cache fill, so the rate_limit link skips a
    # record without limits with one attribute read.
    rated: bool = False

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Limits:
        rated = any(row.get(name) is not None for name in ("tpm_limit", "rpm_limit", "max_parallel_requests")) \
            or bool(row.get("model_rpm_limit")) or bool(row.get("model_tpm_limit"))
        return cls(spend=float(row.get("spend") or 0.0), max_budget=row.get("max_budget"),
                   soft_budget=row.get("soft_budget"), budget_duration=row.get("budget_duration"),
                   budget_reset_at=row.get("budget_reset_at"), tpm_limit=row.get("tpm_limit"),
                   rpm_limit=row.get("rpm_limit"), max_parallel_requests=row.get("max_parallel_requests"),
                   model_max_budget=_mapping(row.get("model_max_budget")),
                   model_rpm_limit=_mapping(row.get("model_rpm_limit")),
                   model_tpm_limit=_mapping(row.get("model_tpm_limit")),
                   model_spend=_mapping(row.get("model_spend")), rated=rated)


@frozen(slots=True)
class KeyRecord:
    token: str  # the SHA-256 hex of the key: safe to log, useless to present
    key_alias: str | None = None
    key_name: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    budget_id: str | None = None
    models: ModelAccess = ModelAccess()
    aliases: Mapping = _EMPTY  # requested model → model group, resolved before the model check
    metadata: Mapping = _EMPTY
    limits: Limits = Limits()
    blocked: bool = False
    expires_at: float | None = None  # epoch seconds

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> KeyRecord:
        expires = row.get("expires")
        return cls(token=row["token"], key_alias=row.get("key_alias"), key_name=row.get("key_name"),
                   user_id=row.get("user_id"), team_id=row.get("team_id"), budget_id=row.get("budget_id"),
                   models=ModelAccess.of(row.get("models")), aliases=_mapping(row.get("aliases")),
                   metadata=_mapping(row.get("metadata")), limits=Limits.of(row), blocked=bool(row.get("blocked")),
                   expires_at=expires.timestamp() if expires is not None else None)


@frozen(slots=True)
class TeamRecord:
    team_id: str
    team_alias: str | None = None
    models: ModelAccess = ModelAccess()
    aliases: Mapping = _EMPTY
    metadata: Mapping = _EMPTY
    limits: Limits = Limits()
    blocked: bool = False

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> TeamRecord:
        return cls(team_id=row["team_id"], team_alias=row.get("team_alias"), models=ModelAccess.of(row.get("models")),
                   aliases=_mapping(row.get("aliases")), metadata=_mapping(row.get("metadata")),
                   limits=Limits.of(row), blocked=bool(row.get("blocked")))


@frozen(slots=True)
class UserRecord:
    user_id: str
    user_alias: str | None = None
    user_email: str | None = None
    user_role: str | None = None
    models: ModelAccess = ModelAccess()
    limits: Limits = Limits()

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> UserRecord:
        return cls(user_id=row["user_id"], user_alias=row.get("user_alias"), user_email=row.get("user_email"),
                   user_role=row.get("user_role"), models=ModelAccess.of(row.get("models")), limits=Limits.of(row))


@frozen(slots=True)
class Caller:
    """Who a virtual key belongs to, as the key check found them: what `call.caller` holds."""

    key: KeyRecord
    team: TeamRecord | None = None
    user: UserRecord | None = None
