"""The in-memory TTL cache of key, team and user records, so the hot path does not touch the database.

A hit is one dict lookup and a clock compare. A miss loads the row once however many requests ask at the
same moment (one in-flight load per record). Unknown keys are remembered too (bounded), so a client
spraying wrong keys costs one query per key per TTL, not one per request. Management changes made in this
process `put` or `drop` records at once; other processes see them within the TTL. When the database fails
during a reload, the record already held keeps being served (a key that worked keeps working).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from kernel.store import Store, StoreError
from kernel.store.migrations import KEYS, TEAMS, USERS
from kernel.store.records import KeyRecord, TeamRecord, UserRecord

log = logging.getLogger("relaykit.governance")

KINDS: dict[str, tuple[str, Callable[[dict], Any]]] = {
    "key": (KEYS, KeyRecord.of),
    "team": (TEAMS, TeamRecord.of),
    "user": (USERS, UserRecord.of),
}


class RecordCache:
    __slots__ = ("_entries", "_generation", "_loading", "max_entries", "on_change", "store", "ttl")

    def __init__(self, store: Store, ttl: float, *, max_entries: int = 100_000) -> None:
        self.store = store
        self.ttl = ttl
        self.max_entries = max_entries  # per kind; past it the kind's entries are dropped and refilled on demand
        self._entries: dict[str, dict[str, tuple[Any, float]]] = {kind: {} for kind in KINDS}
        self._loading: dict[tuple[str, str], asyncio.Task] = {}
        self._generation = 0  # bumped by every put/drop: a load that began earlier must not cache what it read
        self.on_change: list[Callable[[str, str], None]] = []  # told of each put/drop (the budget ledger listens)

    async def key(self, token: str) -> KeyRecord | None:
        hit = self._entries["key"].get(token)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return await self._load("key", token, hit)

    async def team(self, team_id: str) -> TeamRecord | None:
        hit = self._entries["team"].get(team_id)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return await self._load("team", team_id, hit)

    async def user(self, user_id: str) -> UserRecord | None:
        hit = self._entries["user"].get(user_id)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return await self._load("user", user_id, hit)

    def put(self, kind: str, ident: str, row: dict | None) -> None:
        """A row this process just wrote (None: just deleted): served from now on, without a reload."""
        self._generation += 1
        self._loading.pop((kind, ident), None)  # a load in flight read the old row; later callers must not join it
        record = None if row is None else KINDS[kind][1](row)
        self._store(kind, ident, record)
        for fn in self.on_change:
            fn(kind, ident)

    def drop(self, kind: str, ident: str) -> None:
        self._generation += 1
        self._loading.pop((kind, ident), None)
        self._entries[kind].pop(ident, None)
        for fn in self.on_change:
            fn(kind, ident)

    def _store(self, kind: str, ident: str, record: Any) -> None:
        if self.ttl <= 0:
            return
        entries = self._entries[kind]
        if len(entries) >= self.max_entries and ident not in entries:
            entries.clear()
        entries[ident] = (record, time.monotonic() + self.ttl)

    async def _load(self, kind: str, ident: str, stale: tuple[Any, float] | None) -> Any:
        # The load runs as its own task, shielded: a client that hangs up does not cancel it for the others.
        task = self._loading.get((kind, ident))
        if task is None:
            task = asyncio.ensure_future(self._fetch(kind, ident, stale))
            self._loading[(kind, ident)] = task
            task.add_done_callback(lambda t, k=(kind, ident): self._finished(k, t))
        return await asyncio.shield(task)

    def _finished(self, k: tuple[str, str], task: asyncio.Task) -> None:
        if self._loading.get(k) is task:
            del self._loading[k]
        if not task.cancelled():
            task.exception()  # retrieved here, so a failure nobody waited for does not warn

    async def _fetch(self, kind: str, ident: str, stale: tuple[Any, float] | None) -> Any:
        generation = self._generation
        table, build = KINDS[kind]
        try:
            row = await self.store.get(table, ident)
        except StoreError as exc:
            if stale is None:
                raise
            log.warning("serving a cached %s record: the store failed to reload it: %s", kind, exc.message)
            if generation == self._generation:
                self._store(kind, ident, stale[0])  # try the database again in a TTL, not on every request
            return stale[0]
        record = None if row is None else build(row)
        if generation == self._generation:
            self._store(kind, ident, record)
        return record
