"""The spend writer: spend-log rows, spend counters and daily roll-ups, written in batches off the request path.

A finished call hands its row here and returns; every `proxy_batch_write_at` seconds (and at shutdown) the
batch goes to the store in one transaction: the rows (ignored when their request_id is already there, so a
batch replayed after a failure writes each row once), the spend added to each key, team and user, and the
daily roll-up rows the reports read. Budget resets queued by the ledger are written in order with the spend
before them, so a reset never wipes spend of the period after it.

When the store fails, the batch stays queued and is retried with backoff; the queue holds at most
`max_queued` rows (the oldest dropped past it, and counted), so a long outage costs bounded memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import UTC, datetime
from typing import Any

from kernel.store import Increment, InsertMany, Store, StoreError, Update, Upsert
from kernel.store.migrations import DAILY_SPEND, KEYS, SPEND_LOGS, TEAMS, USERS
from middleware.spend.ledger import Account

log = logging.getLogger("relaykit.spend")

MAX_QUEUED = 100_000  # spend rows held while the store is unreachable: about 1.5 KB each, so ~150 MB at most
_DAILY_KEY = ("date", "api_key", "team_id", "user_id", "model_group", "model", "provider", "endpoint")
_DAILY_ADD = ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_creation_tokens", "spend",
              "api_requests", "successful_requests", "failed_requests")
_OWNERS = (("api_key", KEYS), ("team_id", TEAMS), ("user_id", USERS))


class SpendWriter:
    def __init__(self, store: Store, *, interval: float = 2.0, keep_rows: bool = True,
                 max_queued: int = MAX_QUEUED) -> None:
        self.store = store
        self.interval = interval
        self.keep_rows = keep_rows  # disable_spend_logs: counters and roll-ups only
        self.max_queued = max_queued
        # Items in arrival order: ("row", row, accounts charged) or ("op", Update). One deque, so resets stay in order.
        self.queue: deque[tuple[str, Any, Any]] = deque()
        self.rows_queued = 0
        self.dropped = 0
        self.healthy = True  # the last write succeeded (readiness reports it)
        self.last_error: str | None = None
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    # -- the request path: O(1), never awaits -----------------------------------------------------------------

    def add(self, row: dict[str, Any], charged: tuple[tuple[Account, float], ...]) -> None:
        if self.rows_queued >= self.max_queued:
            self._drop_oldest_row()
        self.queue.append(("row", row, charged))
        self.rows_queued += 1

    def add_op(self, op: Update) -> None:
        self.queue.append(("op", op, None))

    def _drop_oldest_row(self) -> None:
        for i, item in enumerate(self.queue):
            if item[0] == "row":
                del self.queue[i]
                self.rows_queued -= 1
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.error("spend log queue full (%d rows, the store is unreachable): %d rows dropped so far",
                              self.max_queued, self.dropped)
                return

    # -- the background loop -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """At shutdown: stop the loop and write what is queued (retried briefly if the store is failing)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        failures = 0
        while self.queue and failures < 3:
            if not await self.flush():
                failures += 1
                await asyncio.sleep(0.5 * failures)
        if self.rows_queued:
            log.error("shutdown: %d spend rows could not be written (%s)", self.rows_queued, self.last_error)

    async def _run(self) -> None:
        delay = self.interval
        while True:
            await asyncio.sleep(delay)
            ok = await self.flush()
            delay = self.interval if ok else min(max(delay * 2, 1.0), 30.0)

    async def flush(self) -> bool:
        """Write everything queued now; False when the store failed (the batch is queued again)."""
        async with self._lock:
            if not self.queue:
                return True
            # Taken out of the queue while the write runs, so a drop (queue full) never touches this batch;
            # put back in front, in order, when the write fails.
            items = [self.queue.popleft() for _ in range(len(self.queue))]
            rows = sum(1 for kind, _, _ in items if kind == "row")
            self.rows_queued -= rows
            try:
                # Folding thousands of rows into counters is done off the event loop, which keeps serving.
                ops = await asyncio.to_thread(self._ops, items)
                await self.store.write(ops)
            except (StoreError, OSError) as exc:
                self.queue.extendleft(reversed(items))
                self.rows_queued += rows
                self.healthy = False
                self.last_error = getattr(exc, "message", None) or str(exc)
                log.warning("spend writer: the store failed, %d rows stay queued: %s", self.rows_queued,
                            self.last_error)
                return False
            except Exception:  # a bug or a bad row: log it, and do not retry the same batch forever
                log.exception("spend writer: a batch of %d items could not be written and was dropped", len(items))
                return False
            for kind, _, charged in items:
                if kind == "row":
                    for account, amount in charged:
                        account.written(amount)
            self.healthy, self.last_error = True, None
            return True

    def _ops(self, items: list) -> list:
        ops: list = []
        spend: dict[tuple[str, str], float] = {}
        daily: dict[tuple, dict[str, Any]] = {}

        def counters() -> None:
            ops.extend(Increment(table, ident, {"spend": amount}) for (table, ident), amount in spend.items() if amount)
            ops.extend(Upsert(DAILY_SPEND, d, _DAILY_KEY, add=_DAILY_ADD, replace=("updated_at",))
                       for d in daily.values())
            spend.clear()
            daily.clear()

        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        for kind, item, _ in items:
            if kind == "op":
                counters()  # the spend before a reset is written before it
                ops.append(item)
                continue
            if self.keep_rows:
                rows.append(item)
            cost = item["spend"]
            for column, table in _OWNERS:
                ident = item.get(column)
                if ident:
                    spend[(table, ident)] = spend.get((table, ident), 0.0) + cost
            key = (item["start_time"].strftime("%Y-%m-%d"), item.get("api_key") or "", item.get("team_id") or "",
                   item.get("user_id") or "", item.get("model_group") or "", item.get("model") or "",
                   item.get("provider") or "", item.get("call_type") or "")
            d = daily.get(key)
            if d is None:
                d = daily[key] = {**dict(zip(_DAILY_KEY, key, strict=True)), **dict.fromkeys(_DAILY_ADD, 0), "spend": 0.0,
                                  "updated_at": now}
            ok = item["status"] == "success"
            for col in ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_creation_tokens"):
                d[col] += item[col]
            d["spend"] += cost
            d["api_requests"] += 1
            d["successful_requests" if ok else "failed_requests"] += 1
        counters()
        if rows:  # one executemany; every row has the same columns (meter._row)
            ops.insert(0, InsertMany(SPEND_LOGS, rows, ignore_conflict=True))
        return ops
