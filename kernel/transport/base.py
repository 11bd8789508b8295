"""What every transport answers (UpstreamResponse, its byte Stream) and the one-method Transport protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from attrs import define

from kernel.transport.errors import FAILURES, STREAM, upstream_error
from kernel.transport.request import UpstreamRequest

if TYPE_CHECKING:
    from kernel.models import Deployment


@define(slots=True, eq=False)
class UpstreamResponse:
    """An upstream's answer: its status, its headers as received, and its body, either whole or as it arrives.

    `stream` is set for a streamed request (`UpstreamRequest.stream`) that the upstream answered below 400: the
    body as it arrives, as sent (never decompressed); aclose() it when done with it. Otherwise `body` holds the
    whole body, decompressed. An error answer (status ≥ 400) always comes whole, read within the same deadline
    and cap, best effort: it never raises (it is only ever the account of an error), and what a failure cut short
    is kept as far as it came (the fast client keeps nothing of it).
    """

    status: int
    headers: Sequence[tuple[bytes, bytes]] = ()
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None

    def header(self, name: bytes, default: str | None = None) -> str | None:
        """The first header called `name` (lower-case bytes), as text."""
        for k, v in self.headers:
            if k.lower() == name:
                return v.decode("latin-1")
        return default


class Transport(Protocol):
    """Sends one prepared request (like httpx's transports: one method, no client logic above it).

    `timeout` (seconds) bounds a whole answer, or a streamed answer's head; `cap` bounds a whole answer's
    bytes (decompressed). Every failure raises from the error tree (kernel/transport/errors.py), naming `d`'s
    label, never its key or URL."""

    async def send(self, req: UpstreamRequest, d: Deployment, timeout: float, cap: int) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


class Stream:
    """An upstream body as it arrives: each piece from `chunks`, a broken connection as the error tree has it;
    aclose() closes `chunks`, then awaits `close()` when given (e.g. the httpx response, which its own iterator
    leaves open when the body breaks off)."""

    __slots__ = ("chunks", "close", "d")

    def __init__(self, chunks: AsyncIterator[bytes], d: Deployment,
                 close: Callable[[], Awaitable[None]] | None = None) -> None:
        self.chunks, self.d, self.close = chunks, d, close

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.chunks.__anext__()
        except FAILURES as exc:
            raise upstream_error(exc, self.d, STREAM, 0.0) from None

    async def aclose(self) -> None:
        try:
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            if self.close is not None:
                await self.close()
