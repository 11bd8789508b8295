"""user_management: LiteLLM's POST /user/new (which also creates a key for the user unless `auto_create_key`
is false) and GET /user/info. Roles are stored for LiteLLM parity; only the master key manages anything."""

from __future__ import annotations

import uuid

from kernel.call import Call
from kernel.errors import ClientError, NotFound
from kernel.registry import middleware
from kernel.store import Conflict, Insert
from kernel.store.migrate import table
from kernel.store.migrations import BUDGETS, KEYS, TEAMS, USERS
from middleware.governance import key_rows
from middleware.governance.api import ManagementLink, actor, audit, now
from middleware.governance.credentials import new_key
from middleware.governance.requests import USER_NEW, body_of, check, query_of

_USER_FIELDS = ("user_alias", "user_email", "user_role", "teams", "models", "metadata", "budget_id", "max_budget",
                "soft_budget", "budget_duration", "tpm_limit", "rpm_limit", "max_parallel_requests",
                "model_max_budget", "model_rpm_limit", "model_tpm_limit")
_KEY_FIELDS = ("models", "aliases", "duration", "key_alias", "team_id")  # what the user's own key takes from the body


@middleware("user_management")
class UserManagement(ManagementLink):
    ACTIONS = {"new": "new", "info": "info"}

    async def new(self, call: Call) -> dict:
        body = check(USER_NEW, body_of(call, empty_ok=True))
        at, by = now(), actor(call)
        user_id = body.get("user_id") or str(uuid.uuid4())
        if await self.store.get(USERS, user_id) is not None:
            raise ClientError(f"User {user_id!r} already exists", param="user_id", code="invalid_field")
        for i, team_id in enumerate(body.get("teams") or ()):
            if await self.store.get(TEAMS, team_id) is None:
                raise ClientError(f"teams[{i}]: no team {team_id!r}", param=f"teams[{i}]", code="invalid_field")
        if body.get("budget_id") is not None and await self.store.get(BUDGETS, body["budget_id"]) is None:
            raise ClientError(f"budget_id: no budget {body['budget_id']!r}", param="budget_id", code="invalid_field")
        user = {name: body[name] for name in _USER_FIELDS if name in body}
        user["user_role"] = user.get("user_role") or "internal_user"
        user = table(USERS).complete({"user_id": user_id, **user, "created_at": at, "created_by": by,
                                      "updated_at": at, "updated_by": by})
        ops = [Insert(USERS, user), audit(call, "user.new", "user", user_id, None, user)]
        raw = key = None
        if body.get("auto_create_key", True):
            raw = new_key()
            key = key_rows.new_row(raw, {"user_id": user_id, **{k: body[k] for k in _KEY_FIELDS if k in body}}, at, by)
            await key_rows.check_refs(self.store, key)
            await key_rows.check_alias_free(self.store, key["key_alias"])
            ops += [Insert(KEYS, key), audit(call, "key.generate", "key", key["token"], None, key)]
        try:
            await self.store.write(ops)
        except Conflict:
            raise ClientError(f"User {user_id!r} or its key_alias already exists", param="user_id",
                              code="invalid_field") from None
        self.cache.put("user", user_id, user)
        out = dict(user)
        if key is not None:
            self.cache.put("key", key["token"], key)
            out.update(key=raw, token=key["token"], token_id=key["token"], key_name=key["key_name"],
                       key_alias=key["key_alias"], expires=key["expires"])
        else:
            out["key"] = None
        return out

    async def info(self, call: Call) -> dict:
        user_id = query_of(call, {"user_id": "str"}).get("user_id")
        if not user_id:
            raise ClientError("name the user: GET /user/info?user_id=<id>", param="user_id", code="invalid_field")
        row = await self.store.get(USERS, user_id)
        if row is None:
            raise NotFound(f"User {user_id!r} not found", param="user_id", code="user_not_found")
        keys = await self.store.find(KEYS, {"user_id": user_id}, order=[("created_at", True)])
        teams = [t for t in [await self.store.get(TEAMS, team_id) for team_id in row["teams"]] if t is not None]
        return {"user_id": user_id, "user_info": row, "keys": [key_rows.view(k) for k in keys], "teams": teams}
