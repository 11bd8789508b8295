"""JSON lines to stdout or a size-rotated file, written by one thread so the request path never waits on I/O.

A call's line is put on a bounded queue (`MAX_QUEUED` lines; past it new lines are dropped and counted, so a
stalled disk or a stdout nobody reads costs bounded memory) and the writer thread masks secrets in it
(kernel/guards/secrets.py) and hands it to a stdlib logging handler: `StreamHandler(stdout)` or
`RotatingFileHandler`, which rotates by size (`file`, `file.1`, ... `file.N`).
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import sys
import threading
from collections import deque
from typing import Any

log = logging.getLogger("relaykit.observe")

MAX_QUEUED = 10_000  # lines waiting for the writer thread (each a few KB with bodies: tens of MB at most)
BATCH = 512  # lines written as one record (one write and one size check), and the backlog that wakes the thread
INTERVAL = 0.2  # seconds the thread otherwise sleeps between batches: a line reaches the file within this


def stdout_handler() -> logging.Handler:
    return logging.StreamHandler(sys.stdout)


def file_handler(path: str, max_bytes: int, backups: int) -> logging.Handler:
    return logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")


class LineWriter:
    """One handler fed from a bounded queue by a daemon thread; `add` is O(1) and never blocks."""

    def __init__(self, name: str, handler: logging.Handler, scrubber, max_queued: int = MAX_QUEUED) -> None:
        self.name = name
        self.handler = handler
        handler.setFormatter(logging.Formatter("%(message)s"))
        self.scrubber = scrubber
        self.max_queued = max_queued
        self.queue: deque[tuple[bytes, Any]] = deque()
        self.dropped = 0
        self.written = 0
        self.last_error: str | None = None  # the last write's failure, cleared by the next line written
        self.closing = False
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"relaykit-{name}", daemon=True)
        self.thread.start()

    def add(self, line: bytes, call: Any) -> None:
        if len(self.queue) >= self.max_queued:
            self.dropped += 1
            if self.dropped & (self.dropped - 1) == 0:  # 1, 2, 4, 8, ...: a steady overload is not a log flood
                log.warning("request log %s: writer behind, %d records dropped so far", self.name, self.dropped)
            return
        self.queue.append((line, call))
        if len(self.queue) >= BATCH:  # otherwise the thread comes by itself: waking it per line costs the loop
            self.wake.set()

    def _run(self) -> None:
        while True:
            self.wake.wait(INTERVAL)
            self.wake.clear()
            self._drain()
            if self.closing and not self.queue:
                return

    def _drain(self) -> None:
        """Lines in chunks, each chunk one handler record: one write, one flush and one rotation check per chunk. A
        chunk stays under a rotating file's size limit, so files keep to it and rotation never splits a line."""
        queue, scrub, handler = self.queue, self.scrubber.scrub_bytes, self.handler
        limit = getattr(handler, "maxBytes", 0) or float("inf")
        while queue:
            batch = [scrub(data, call) for data, call in (queue.popleft() for _ in range(min(BATCH, len(queue))))]
            chunk: list[bytes] = []
            size = 0
            for line in batch:
                if chunk and size + len(line) + 1 >= limit:
                    self._emit(chunk)
                    chunk, size = [], 0
                chunk.append(line)
                size += len(line) + 1
            if chunk:
                self._emit(chunk)

    def _emit(self, lines: list[bytes]) -> None:
        try:
            text = b"\n".join(lines).decode("utf-8", "replace")
            self.handler.handle(logging.makeLogRecord({"msg": text, "levelno": logging.INFO, "levelname": "INFO"}))
            self.written += len(lines)
            self.last_error = None
        except Exception as exc:  # a full disk must not kill the thread: the next chunk may fit
            log.exception("request log %s: %d records could not be written", self.name, len(lines))
            self.last_error = f"{type(exc).__name__}: {exc}"

    def health(self) -> dict:
        """For readiness: degraded while writes fail or the queue is full (lines are being dropped)."""
        full = len(self.queue) >= self.max_queued
        return {"name": self.name, "state": "degraded" if self.last_error or full else "ok",
                "queued": len(self.queue), "max_queued": self.max_queued, "dropped": self.dropped,
                "written": self.written, "last_error": self.scrubber.scrub(self.last_error or "") or None}

    async def stop(self) -> None:
        """Write what is queued, then close the file (run at shutdown)."""
        self.closing = True
        self.wake.set()
        await asyncio.to_thread(self.thread.join, 10)
        self.handler.flush()
        if self.handler.stream is not sys.stdout:
            self.handler.close()
