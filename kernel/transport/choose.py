"""The gateway's transport: each request to the fast client or to httpx, by the one rule in fast.handles()."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.transport.base import UpstreamResponse
from kernel.transport.fast import FastTransport, handles
from kernel.transport.httpx_transport import HttpxTransport
from kernel.transport.request import UpstreamRequest

if TYPE_CHECKING:
    from kernel.models import Deployment


class Chooser:
    """Plain bodies (JSON, SSE back) over the fast pooled client; multipart, streamed uploads and pass-through
    over httpx. Both are made at start-up and closed at shutdown."""

    def __init__(self, max_per_host: int = 512) -> None:
        self.fast = FastTransport(max_per_host)
        self.general = HttpxTransport(max_per_host)

    async def start(self) -> None:
        await self.fast.start()
        await self.general.start()

    async def aclose(self) -> None:
        await self.fast.aclose()
        await self.general.aclose()

    async def send(self, req: UpstreamRequest, d: Deployment, timeout: float, cap: int) -> UpstreamResponse:
        return await (self.fast if handles(req) else self.general).send(req, d, timeout, cap)
