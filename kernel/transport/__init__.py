"""The transport layer: how a prepared upstream request is sent and its answer received.

    Transport.send(UpstreamRequest, deployment, timeout, cap) → UpstreamResponse (status, headers, body | stream)

    Chooser          the gateway's: FastTransport (fast.py over http1.py) for plain bodies, HttpxTransport
                     (httpx_transport.py) for multipart, streamed uploads and pass-through; the rule is fast.handles()
    MemoryTransport  no socket: a handler answers each request (memory.py), for tests of whole chains
    errors.py        the one place a transport failure becomes UpstreamTimeout / UpstreamUnavailable / ...TooLarge
    relay.py         pass-through: a client's own call sent on, its answer handed back (errors scrubbed)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kernel.transport.base import Stream, Transport, UpstreamResponse
from kernel.transport.choose import Chooser
from kernel.transport.memory import MemoryTransport, respond
from kernel.transport.relay import relay
from kernel.transport.request import UpstreamRequest

if TYPE_CHECKING:
    from kernel.models import Deployment
    from kernel.state import Gateway

__all__ = ["Chooser", "MemoryTransport", "Stream", "Transport", "Upstream", "UpstreamRequest", "UpstreamResponse",
           "relay", "respond", "transport_of"]


def transport_of(gateway: Gateway) -> Transport:
    """The gateway's one transport, made on first ask (started and closed with the gateway). A test may put its
    own under gateway.shared["transport"] before the pipelines are built; it is then the test's to close."""
    transport = gateway.shared.get("transport")
    if transport is None:
        transport = gateway.shared["transport"] = Chooser(gateway.settings.general.max_upstream_connections_per_host)
        gateway.on_startup(transport.start)
        gateway.on_shutdown(transport.aclose)
    return transport


class Upstream:
    """What a provider's `prepare` hook is handed: the gateway's transport to send with (e.g. an OAuth token
    exchange) and `shared`, the gateway's dict for what outlives a call (e.g. the tokens)."""

    __slots__ = ("shared", "transport")

    def __init__(self, gateway: Gateway) -> None:
        self.transport = transport_of(gateway)
        self.shared: dict[str, Any] = gateway.shared

    async def send(self, req: UpstreamRequest, d: Deployment, timeout: float, cap: int = 1 << 20) -> UpstreamResponse:
        return await self.transport.send(req, d, timeout, cap)
