"""A user's own request logger, loaded by import path (`callbacks: ["tests.request_loggers:Collect"]`)."""

from __future__ import annotations

import threading


class Collect:
    """Keeps every record it is given; class-level so the test can read what the gateway's instance got."""

    records: list[dict] = []
    arrived = threading.Condition()

    async def log(self, record: dict) -> None:
        with Collect.arrived:
            Collect.records.append(record)
            Collect.arrived.notify_all()
