"""The part every JSON fake upstream shares: keep each request it received, for tests to inspect."""

from __future__ import annotations

import orjson
from starlette.requests import Request


class RecordingFake:
    """Base for fakes whose requests are JSON bodies; `record` keeps path, headers and the parsed body."""

    def __init__(self) -> None:
        self.requests: list[dict] = []

    def clear(self) -> None:
        self.requests.clear()

    async def record(self, request: Request) -> dict:
        body = orjson.loads(await request.body())
        self.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
        return body
