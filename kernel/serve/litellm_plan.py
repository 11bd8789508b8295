"""What an import will do: each LiteLLM record as a create, an update (naming the columns) or unchanged.

Pure: it takes the LiteLLM rows and the relaykit rows already in the store and decides; the importer prints
the plan (`--dry-run`) or writes it. Budgets come first, then teams, users and keys, so a key is never
written before what it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import define, field

from kernel.serve import litellm_map as m
from kernel.serve.litellm_source import Source
from kernel.store.migrate import table
from kernel.store.migrations import BUDGETS, KEYS, TEAMS, USERS

ACTOR = "import-litellm"
KINDS = (("budget", BUDGETS), ("team", TEAMS), ("user", USERS), ("key", KEYS))


@define
class Change:
    kind: str  # budget, team, user, key
    table: str
    id: str
    action: str  # create, update, unchanged
    before: dict | None
    after: dict  # the whole row as the store will hold it
    changes: dict  # update: the columns set
    label: str  # how the record is named in output: ids, aliases, a hash's first characters


@define
class Plan:
    changes: list[Change] = field(factory=list)
    warnings: list[str] = field(factory=list)

    def count(self, kind: str, action: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind and c.action == action)

    @property
    def writes(self) -> list[Change]:
        return [c for c in self.changes if c.action != "unchanged"]


def short(token: str) -> str:
    return token[:12] + "…"


def _label(kind: str, row: Mapping[str, Any]) -> str:
    if kind == "key":
        name = row.get("key_alias") or row.get("key_name")
        return f"key {short(row['token'])}" + (f" ({name})" if name else "")
    if kind == "team":
        return f"team {row['team_id']!r}" + (f" ({row['team_alias']})" if row.get("team_alias") else "")
    if kind == "user":
        return f"user {row['user_id']!r}" + (f" ({row['user_email']})" if row.get("user_email") else "")
    return f"budget {row['budget_id']!r}"


def _decide(plan: Plan, kind: str, target: str, row: dict, existing: Mapping[str, dict], at: datetime) -> None:
    pk = table(target).pk
    before = existing.get(row[pk])
    row = m.stamped(row, before, at, ACTOR)
    if before is None:
        after = table(target).complete(row)
        plan.changes.append(Change(kind, target, row[pk], "create", None, after, after, _label(kind, after)))
        return
    changes = m.changed(before, row)
    after = {**before, **changes}
    plan.changes.append(Change(kind, target, row[pk], "update" if changes else "unchanged", before, after, changes,
                               _label(kind, after)))


def _created(row: Mapping[str, Any]) -> str:
    value = row.get("created_at")
    return m.utc(value).isoformat() if value is not None else ""


def plan(source: Source, existing: Mapping[str, Mapping[str, dict]], at: datetime) -> Plan:
    """`existing`: relaykit table → {primary key: row} as the store holds them now."""
    out = Plan()
    budgets = {b["budget_id"]: b for b in source.rows.get(m.LITELLM_BUDGETS, ()) if b.get("budget_id")}
    for src in budgets.values():
        _decide(out, "budget", BUDGETS, m.budget_row(src), existing[BUDGETS], at)
    teams = set(existing[TEAMS])
    for src in source.rows.get(m.LITELLM_TEAMS, ()):
        _decide(out, "team", TEAMS, m.team_row(src, source.model_aliases), existing[TEAMS], at)
        teams.add(src["team_id"])
    for src in source.rows.get(m.LITELLM_USERS, ()):
        _decide(out, "user", USERS, m.user_row(src), existing[USERS], at)
    owner = {r["key_alias"]: token for token, r in existing[KEYS].items() if r.get("key_alias")}
    for src in sorted(source.rows.get(m.LITELLM_KEYS, ()), key=_created):  # the oldest key keeps a shared alias
        row = m.key_row(src, budgets.get(src.get("budget_id")))
        if row is None:
            out.warnings.append(f"skipped a key whose token is neither a SHA-256 hex digest nor an sk- key "
                                f"(it begins {str(src.get('token'))[:4]!r})")
            continue
        alias = row.get("key_alias")
        if alias and owner.get(alias, row["token"]) != row["token"]:
            out.warnings.append(f"key {short(row['token'])}: alias {alias!r} is taken by key {short(owner[alias])}; "
                                "imported without an alias (the alias is kept in metadata.litellm.key_alias)")
            row["key_alias"] = None
            row["metadata"] = {**row["metadata"], m.KEPT: {**row["metadata"].get(m.KEPT, {}), "key_alias": alias}}
        elif alias:
            owner[alias] = row["token"]
        if row.get("team_id") and row["team_id"] not in teams:
            out.warnings.append(f"key {short(row['token'])} names team {row['team_id']!r}, which neither database "
                                "has: relaykit will refuse the key (401 team_not_found) until that team exists")
        _decide(out, "key", KEYS, row, existing[KEYS], at)
    return out
