"""key_management: LiteLLM's /key/* endpoints (generate, info, update, delete, list, block, unblock, regenerate).

Every change is one transaction with its audit row, then goes into this process's record cache at once,
so a blocked, deleted or regenerated key stops working on the next request.
"""

from __future__ import annotations

import math

from kernel.call import Call
from kernel.errors import ClientError, NotFound
from kernel.registry import middleware
from kernel.store import Conflict, Delete, Insert, Missing, Update
from kernel.store.migrate import table
from kernel.store.migrations import KEYS
from middleware.governance import key_rows
from middleware.governance.api import ManagementLink, actor, audit, now
from middleware.governance.credentials import hash_key, key_name, new_key, token_of
from middleware.governance.requests import (
    KEY_BLOCK,
    KEY_DELETE,
    KEY_GENERATE,
    KEY_REGENERATE,
    KEY_UPDATE,
    body_of,
    check,
    query_of,
)

SORTABLE = ("created_at", "updated_at", "spend", "max_budget", "token", "key_alias")
_LIST_QUERY = {"page": (1, 1_000_000), "size": (1, 100), "user_id": "str", "team_id": "str", "organization_id": "str",
               "key_alias": "str", "key_hash": "str", "return_full_object": "bool", "include_team_keys": "bool",
               "sort_by": SORTABLE, "sort_order": ("asc", "desc")}


def _raced(exc: Conflict | Missing) -> ClientError:
    """A unique clash or a vanished row that a concurrent change caused after the checks passed."""
    if isinstance(exc, Missing):
        return NotFound("Key not found in database (deleted meanwhile)", param="key", code="key_not_found")
    return ClientError("this key or key_alias already exists", param="key_alias", code="invalid_field")


@middleware("key_management")
class KeyManagement(ManagementLink):
    ACTIONS = {"generate": "generate", "info": "info", "update": "update", "delete": "delete", "list": "list",
               "block": "block", "unblock": "unblock", "regenerate": "regenerate"}

    async def generate(self, call: Call) -> dict:
        body = check(KEY_GENERATE, body_of(call, empty_ok=True))
        raw = body.get("key") or new_key()
        row = key_rows.new_row(raw, body, now(), actor(call))
        await key_rows.check_refs(self.store, row)
        await key_rows.check_alias_free(self.store, row["key_alias"])
        if body.get("key"):
            await key_rows.check_token_free(self.store, row["token"])
        try:
            await self.store.write([Insert(KEYS, row), audit(call, "key.generate", "key", row["token"], None, row)])
        except (Conflict, Missing) as exc:
            raise _raced(exc) from None
        self.cache.put("key", row["token"], row)
        return key_rows.generated(raw, row, body)

    async def info(self, call: Call) -> dict:
        given = query_of(call, {"key": "str"}).get("key")
        if not given:
            raise ClientError("name the key: GET /key/info?key=<key or its hash>", param="key", code="invalid_field")
        row = await key_rows.existing(self.store, given)
        return {"key": given, "info": key_rows.view(row, token=False)}

    async def _change(self, call: Call, action: str, before: dict, changes: dict) -> dict:
        changes = {**changes, "updated_at": now(), "updated_by": actor(call)}
        after = {**before, **changes}
        try:
            await self.store.write([Update(KEYS, before["token"], changes),
                                    audit(call, action, "key", after["token"], before, after)])
        except (Conflict, Missing) as exc:
            raise _raced(exc) from None
        if after["token"] != before["token"]:
            self.cache.put("key", before["token"], None)
        self.cache.put("key", after["token"], after)
        return after

    async def _checked_changes(self, body: dict, before: dict) -> dict:
        changes = key_rows.columns(body, now(), before)
        if {"team_id", "models", "budget_id"} & changes.keys():
            await key_rows.check_refs(self.store, {**before, **changes})
        if changes.get("key_alias") is not None:
            await key_rows.check_alias_free(self.store, changes["key_alias"], before["token"])
        return changes

    async def update(self, call: Call) -> dict:
        body = check(KEY_UPDATE, body_of(call))
        before = await key_rows.existing(self.store, body["key"])
        changes = await self._checked_changes({k: v for k, v in body.items() if k != "key"}, before)
        after = await self._change(call, "key.update", before, changes)
        return {"key": body["key"], **key_rows.view(after)}

    async def delete(self, call: Call) -> dict:
        body = check(KEY_DELETE, body_of(call))
        keys, aliases = body.get("keys") or [], body.get("key_aliases") or []
        if not keys and not aliases:
            raise ClientError("name the keys to delete in `keys` (keys or their hashes) or `key_aliases`",
                              param="keys", code="invalid_field")
        rows, missing = {}, []
        for given in keys:
            row = await self.store.get(KEYS, token_of(given))
            if row is None:
                missing.append(given if not given.startswith("sk-") else key_name(given))
            else:
                rows[row["token"]] = row
        for alias in aliases:
            found = await self.store.find(KEYS, {"key_alias": alias}, limit=1)
            if not found:
                missing.append(alias)
            else:
                rows[found[0]["token"]] = found[0]
        if missing:  # all or nothing: a list with a typo deletes none of it
            raise NotFound(f"No keys found for: {', '.join(missing)}; nothing was deleted", param="keys",
                           code="key_not_found")
        ops = []
        for token, row in rows.items():
            ops += [Delete(KEYS, token), audit(call, "key.delete", "key", token, row, None)]
        try:
            await self.store.write(ops)
        except (Conflict, Missing) as exc:
            raise _raced(exc) from None
        for token in rows:
            self.cache.put("key", token, None)
        return {"deleted_keys": [*keys, *aliases]}

    async def list(self, call: Call) -> dict:
        q = query_of(call, _LIST_QUERY)
        page, size = q.get("page", 1), q.get("size", 10)
        where = {name: q[name] for name in ("user_id", "team_id", "organization_id", "key_alias") if name in q}
        if "key_hash" in q:
            where["token"] = token_of(q["key_hash"])
        desc = q.get("sort_order", "desc") == "desc"
        order = [(q.get("sort_by", "created_at"), desc), ("token", desc)]
        total = await self.store.count(KEYS, where)
        rows = await self.store.find(KEYS, where, order=order, limit=size, offset=(page - 1) * size)
        full = q.get("return_full_object", False)
        return {"keys": [key_rows.view(r) if full else r["token"] for r in rows], "total_count": total,
                "current_page": page, "total_pages": math.ceil(total / size)}

    async def _blocked(self, call: Call, blocked: bool) -> dict:
        body = check(KEY_BLOCK, body_of(call))
        before = await key_rows.existing(self.store, body["key"])
        after = await self._change(call, "key.block" if blocked else "key.unblock", before, {"blocked": blocked})
        return key_rows.view(after)

    async def block(self, call: Call) -> dict:
        return await self._blocked(call, True)

    async def unblock(self, call: Call) -> dict:
        return await self._blocked(call, False)

    async def regenerate(self, call: Call) -> dict:
        body = check(KEY_REGENERATE, body_of(call, empty_ok=True))
        given = call.path_params.get("key") or body.get("key")
        if not given:
            raise ClientError("name the key to regenerate: POST /key/{key}/regenerate, or `key` in the body",
                              param="key", code="invalid_field")
        if call.path_params.get("key") and body.get("key") and token_of(body["key"]) != token_of(given):
            raise ClientError("the path and the body name different keys", param="key", code="invalid_field")
        before = await key_rows.existing(self.store, given)
        changes = await self._checked_changes({k: v for k, v in body.items() if k not in ("key", "new_key")}, before)
        raw = body.get("new_key") or new_key()
        token = hash_key(raw)
        if body.get("new_key"):
            await key_rows.check_token_free(self.store, token)
        at = now()
        changes.update(token=token, key_name=key_name(raw), rotation_count=(before.get("rotation_count") or 0) + 1,
                       last_rotation_at=at)
        after = await self._change(call, "key.regenerate", before, changes)
        return key_rows.generated(raw, table(KEYS).complete(after), body)
