"""Relay: send a client's own call on (pass-through routes) and hand the upstream's answer back as it is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from kernel.call import Call, Reply
from kernel.errors import UpstreamError
from kernel.transport.base import Transport
from kernel.transport.request import UpstreamRequest

if TYPE_CHECKING:
    from kernel.guards.secrets import Scrubber
    from kernel.models import Deployment

ERROR_BODY_LIMIT = 1 << 20  # an upstream's error answer is read whole to scrub it; past this it is cut off


class RelayBroken(ConnectionError):
    """A relayed body broke off. Deliberately not a GatewayError: the App then drops the client's connection, so
    a cut-short download is seen as cut short rather than ended as if it were whole."""


async def relay(transport: Transport, scrubber: Scrubber, call: Call, d: Deployment, req: UpstreamRequest,
                timeout: float) -> Reply:
    """A success goes back untouched (status, type, bytes as they stream); an error is read whole and scrubbed of
    secrets, since upstreams echo the key they were sent."""
    resp = await transport.send(req, d, timeout, ERROR_BODY_LIMIT)
    media_type = resp.header(b"content-type", "application/json")
    if resp.stream is not None:
        return Reply(status=resp.status, stream=_Relayed(resp.stream), wire="binary", media_type=media_type)
    return Reply(status=resp.status, raw=scrubber.scrub_bytes(resp.body, call, (d.api_key,)), wire="binary",
                 media_type=scrubber.scrub(media_type, call, (d.api_key,)))


class _Relayed:
    """The upstream's byte stream, with a break raised as RelayBroken."""

    __slots__ = ("stream",)

    def __init__(self, stream: AsyncIterator[bytes]) -> None:
        self.stream = stream

    def __aiter__(self) -> _Relayed:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.stream.__anext__()
        except UpstreamError as err:
            raise RelayBroken(err.message) from None

    async def aclose(self) -> None:
        await self.stream.aclose()
