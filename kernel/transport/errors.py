"""The one place a transport failure becomes an error of the gateway's tree (kernel/errors.py).

    timeout (ours, asyncio's, httpx's)           → UpstreamTimeout      504, retryable
      ... while waiting for a pooled connection  → UpstreamTimeout      saying the host's connections were all busy
    refused / reset / TLS / malformed answer     → UpstreamUnavailable  502, retryable
    a whole answer over its cap (decompressed)   → UpstreamResponseTooLarge  502
    a broken or truncated compressed body        → UpstreamUnavailable
    the client's own upload failing (too slow, too large) while streamed through → that ClientError, as it is

Every message names the deployment by its label, never its key or URL (an httpx or OS error's text can hold the
URL, so only its type name is kept). Transports catch FAILURES around each step and raise `upstream_error(...)`.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import aiohttp
import httpx

from kernel.errors import ClientError, GatewayError, UpstreamError, UpstreamResponseTooLarge, UpstreamTimeout, UpstreamUnavailable
from kernel.transport.http1 import PoolFullError, ResponseTooLargeError

if TYPE_CHECKING:
    from kernel.models import Deployment

# What the transports' I/O raises when the upstream or the network fails (OSError covers TimeoutError, ssl errors,
# refused and reset connections; ValueError an unusable URL or header; httpx.HTTPError its transport and decoding
# errors; aiohttp.ClientError what httpx-aiohttp lets through unmapped, such as a malformed status line).
# UpstreamError: a MemoryTransport handler may fail the way a real upstream does, already typed.
FAILURES = (OSError, ValueError, zlib.error, httpx.HTTPError, aiohttp.ClientError, ResponseTooLargeError, UpstreamError)

# The step that failed, for the message.
HEAD, BODY, STREAM = "head", "body", "stream"
_BROKE = {HEAD: "could not reach deployment {}", BODY: "deployment {} broke off its answer",
          STREAM: "deployment {} broke off its stream"}


def upstream_error(exc: BaseException, d: Deployment, step: str, timeout: float) -> GatewayError:
    """`exc` (one of FAILURES) raised while sending to `d` (HEAD: up to the response head; BODY: reading a whole
    answer; STREAM: relaying one), as the error tree has it; `timeout` is the deadline it was sent with."""
    if isinstance(exc, UpstreamError):
        return exc
    client_side = _client_error(exc)
    if client_side is not None:
        return client_side
    if isinstance(exc, ResponseTooLargeError):
        return too_large(d, exc.limit)
    if isinstance(exc, PoolFullError):
        return UpstreamTimeout(f"deployment {d.label} did not get a connection within {timeout:g}s: all {exc.limit} "
                               "connections to its host were busy (general_settings.max_upstream_connections_per_host)",
                               deployment=d.id)
    if isinstance(exc, TimeoutError):
        verb = "did not answer" if step == HEAD else "did not finish"
        return UpstreamTimeout(f"deployment {d.label} {verb} within {timeout:g}s", deployment=d.id)
    if isinstance(exc, httpx.TimeoutException):
        if _refused(exc):
            return UpstreamUnavailable(f"could not connect to deployment {d.label}", deployment=d.id)
        return UpstreamTimeout(f"deployment {d.label} timed out", deployment=d.id)
    return UpstreamUnavailable(f"{_BROKE[step].format(d.label)}: {type(exc).__name__}", deployment=d.id)


def too_large(d: Deployment, limit: int) -> UpstreamResponseTooLarge:
    return UpstreamResponseTooLarge(
        f"deployment {d.label} answered more than {limit / (1 << 20):g} MiB, the limit for a non-streamed answer "
        "(general_settings.max_response_size_mb); stream the call or raise the limit", deployment=d.id)


def _client_error(exc: BaseException) -> ClientError | None:
    """A client upload streamed through (kernel/app.py Upload) that failed on the client's side (408 too slow, 413
    too large) reaches the transport wrapped by aiohttp/httpx as a transport error: it is the client's error."""
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        if isinstance(cause, ClientError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _refused(exc: Exception) -> bool:
    """True when an httpx 'timeout' is really a refused or failed connection (httpx-aiohttp maps aiohttp's
    ClientConnectorError to ConnectTimeout); the chained cause is an OSError that is not a timeout."""
    cause = exc.__cause__
    return isinstance(cause, OSError) and not isinstance(cause, TimeoutError)
