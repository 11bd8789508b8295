"""team_management: LiteLLM's /team/new, /team/update, /team/delete (which deletes the team's keys too),
/team/info and /team/list. A team's `models` limits every key in it; a blocked team's keys get 401."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from kernel.call import Call
from kernel.errors import ClientError, NotFound
from kernel.registry import middleware
from kernel.store import Conflict, Delete, Insert, Missing, Update
from kernel.store.migrate import table
from kernel.store.migrations import BUDGETS, KEYS, TEAMS
from middleware.governance import key_rows
from middleware.governance.api import ManagementLink, actor, audit, now
from middleware.governance.requests import TEAM_DELETE, TEAM_NEW, TEAM_UPDATE, body_of, check, query_of

_DIRECT = ("team_alias", "organization_id", "models", "metadata", "blocked", "members_with_roles", "budget_id",
           "max_budget", "soft_budget", "budget_duration", "tpm_limit", "rpm_limit", "max_parallel_requests",
           "model_max_budget", "model_rpm_limit", "model_tpm_limit")


def _columns(body: Mapping[str, Any]) -> dict[str, Any]:
    out = {name: body[name] for name in _DIRECT if name in body}
    if "model_aliases" in body:
        out["aliases"] = body["model_aliases"]
    if out.get("blocked", False) is None:
        out["blocked"] = False
    return out


def view(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["model_aliases"] = out.pop("aliases", {})
    return out


def _not_found(team_id: str) -> NotFound:
    return NotFound(f"Team {team_id!r} not found", param="team_id", code="team_not_found")


@middleware("team_management")
class TeamManagement(ManagementLink):
    ACTIONS = {"new": "new", "update": "update", "delete": "delete", "info": "info", "list": "list"}

    async def _check_budget(self, row: Mapping[str, Any]) -> None:
        budget_id = row.get("budget_id")
        if budget_id is not None and await self.store.get(BUDGETS, budget_id) is None:
            raise ClientError(f"budget_id: no budget {budget_id!r}", param="budget_id", code="invalid_field")

    async def new(self, call: Call) -> dict:
        body = check(TEAM_NEW, body_of(call, empty_ok=True))
        at, by = now(), actor(call)
        team_id = body.get("team_id") or str(uuid.uuid4())
        row = table(TEAMS).complete({"team_id": team_id, **_columns(body), "created_at": at, "created_by": by,
                                     "updated_at": at, "updated_by": by})
        if await self.store.get(TEAMS, team_id) is not None:
            raise ClientError(f"Team id {team_id!r} already exists", param="team_id", code="invalid_field")
        await self._check_budget(row)
        try:
            await self.store.write([Insert(TEAMS, row), audit(call, "team.new", "team", team_id, None, row)])
        except Conflict:
            raise ClientError(f"Team id {team_id!r} already exists", param="team_id", code="invalid_field") from None
        self.cache.put("team", team_id, row)
        return view(row)

    async def update(self, call: Call) -> dict:
        body = check(TEAM_UPDATE, body_of(call))
        team_id = body["team_id"]
        before = await self.store.get(TEAMS, team_id)
        if before is None:
            raise _not_found(team_id)
        changes = {**_columns(body), "updated_at": now(), "updated_by": actor(call)}
        await self._check_budget(changes)
        after = {**before, **changes}
        try:
            await self.store.write([Update(TEAMS, team_id, changes),
                                    audit(call, "team.update", "team", team_id, before, after)])
        except Missing:
            raise _not_found(team_id) from None
        self.cache.put("team", team_id, after)
        return {"team_id": team_id, "data": view(after)}

    async def delete(self, call: Call) -> dict:
        body = check(TEAM_DELETE, body_of(call))
        teams, keys = {}, {}
        for team_id in body["team_ids"]:
            row = await self.store.get(TEAMS, team_id)
            if row is None:
                raise NotFound(f"Team {team_id!r} not found; nothing was deleted", param="team_ids",
                               code="team_not_found")
            teams[team_id] = row
            for key in await self.store.find(KEYS, {"team_id": team_id}):
                keys[key["token"]] = key
        ops = []
        for token, key in keys.items():  # LiteLLM deletes a team's keys with it
            ops += [Delete(KEYS, token, must_match=False), audit(call, "key.delete", "key", token, key, None)]
        for team_id, row in teams.items():
            ops += [Delete(TEAMS, team_id), audit(call, "team.delete", "team", team_id, row, None)]
        try:
            await self.store.write(ops)
        except Missing as exc:
            raise _not_found(str(exc.key)) from None
        for token in keys:
            self.cache.put("key", token, None)
        for team_id in teams:
            self.cache.put("team", team_id, None)
        return {"deleted_teams": list(teams)}

    async def info(self, call: Call) -> dict:
        team_id = query_of(call, {"team_id": "str"}).get("team_id")
        if not team_id:
            raise ClientError("name the team: GET /team/info?team_id=<id>", param="team_id", code="invalid_field")
        row = await self.store.get(TEAMS, team_id)
        if row is None:
            raise _not_found(team_id)
        keys = await self.store.find(KEYS, {"team_id": team_id}, order=[("created_at", True)])
        return {"team_id": team_id, "team_info": view(row), "keys": [key_rows.view(k) for k in keys]}

    async def list(self, call: Call) -> list:
        q = query_of(call, {"user_id": "str", "organization_id": "str"})
        where = {"organization_id": q["organization_id"]} if "organization_id" in q else None
        rows = await self.store.find(TEAMS, where, order=[("team_alias", False), ("team_id", False)])
        if "user_id" in q:  # teams the user is a member of
            rows = [r for r in rows if any(m.get("user_id") == q["user_id"] for m in r["members_with_roles"])]
        return [view(r) for r in rows]
