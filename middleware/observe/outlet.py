"""An outlet: records queued in memory and sent in batches by one background task, never on the request path.

`add` is O(1): the line goes on a deque bounded by `max_queued` (past it the record is dropped and counted, so an
endpoint that is down for hours costs bounded memory: `max_queued` lines plus one batch in flight). The task
wakes every `flush_interval` seconds, or as soon as a batch is full, masks secrets in each line and hands the
batch to `deliver`. At shutdown what is queued gets one last chance, for at most `FINAL_FLUSH` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

log = logging.getLogger("relaykit.observe")

FINAL_FLUSH = 10.0  # seconds the shutdown waits for queued records to go out


class Outlet:
    def __init__(self, name: str, scrubber, *, max_queued: int, batch_size: int, flush_interval: float) -> None:
        self.name = name
        self.scrubber = scrubber
        self.max_queued = max_queued
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.queue: deque[tuple[bytes, Any]] = deque()
        self.dropped = 0  # records lost: queue full, or a batch that failed for good
        self.sent = 0
        self.last_error: str | None = None  # why the last delivery failed; None once a batch goes through
        self.closing = False
        self.wake: asyncio.Event | None = None
        self.task: asyncio.Task | None = None

    def add(self, line: bytes, call: Any) -> None:
        if len(self.queue) >= self.max_queued:
            self.lost(1, "queue full")
            return
        self.queue.append((line, call))
        if self.wake is not None and len(self.queue) >= self.batch_size:
            self.wake.set()

    def lost(self, count: int, why: str) -> None:
        before = self.dropped
        self.dropped += count
        if before == 0 or before.bit_length() != self.dropped.bit_length():  # at 1, 2, 4, 8, ...: no log flood
            log.warning("request log %s: %d records dropped so far (%s)", self.name, self.dropped, why)

    async def start(self) -> None:
        self.wake = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"relaykit-{self.name}")

    async def _run(self) -> None:
        wake = self.wake
        while True:
            if not self.closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.flush_interval)
            wake.clear()
            while self.queue:
                batch = [self.queue.popleft() for _ in range(min(self.batch_size, len(self.queue)))]
                scrub = self.scrubber.scrub_bytes
                lines = [scrub(data, call) for data, call in batch]
                try:
                    await self.deliver(lines)
                except Exception as exc:  # an outlet's bug loses its batch, not the task
                    log.exception("request log %s: a batch could not be delivered", self.name)
                    self.last_error = type(exc).__name__
                    self.lost(len(lines), "delivery failed")
            if self.closing:
                return

    async def deliver(self, lines: list[bytes]) -> None:
        raise NotImplementedError

    def health(self) -> dict:
        """For readiness: degraded while deliveries fail or the queue is full (records are being dropped)."""
        full = len(self.queue) >= self.max_queued
        return {"name": self.name, "state": "degraded" if self.last_error or full else "ok",
                "queued": len(self.queue), "max_queued": self.max_queued, "dropped": self.dropped,
                "sent": self.sent, "last_error": self.scrubber.scrub(self.last_error) if self.last_error else None}

    async def stop(self) -> None:
        self.closing = True
        if self.task is None:
            return
        self.wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), FINAL_FLUSH)
        except TimeoutError:
            self.task.cancel()
            self.lost(len(self.queue), "shutdown")
        await self.close()

    async def close(self) -> None:
        pass
