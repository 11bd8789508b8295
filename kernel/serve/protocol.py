"""The HTTP server relaykit runs on: uvicorn's httptools protocol, plus limits on slow, huge and abandoned requests.

uvicorn bounds neither the time a request head may take nor its size, and keeps running a call whose client has
gone. `RelayProtocol` is a thin subclass of uvicorn's `HttpToolsProtocol` that adds, per connection:

- a header timeout: from the connection's start (or the end of its previous response) to the end of the next
  request head; past it the connection is closed, with a 408 if part of a head had arrived;
- a body timeout for the whole request body, counted from the end of its head: past it the request's scope gets
  `BODY_TIMED_OUT` and the reader is woken, so the app answers 408 in the client's own envelope;
- a cap on the request head's size (431, connection closed) and on the connections per process (503 past it);
- cancellation of the call when its client disconnects before the response is complete.

The timeouts cost nothing per request: one sweep per server, a few times a second, looks at each connection's
phase and how long it has been in it (uvicorn's own keep-alive timer is one timer per request; this adds none).
It relies on these uvicorn internals (0.54): the cycle's `more_body`, `response_complete`, `disconnected`,
`keep_alive`, `message_event` and `scope`; the protocol's `cycle`, `scope`, `pipeline`, `app`
and `_start_asgi_task`. tests/test_hostile_slow.py and tests/test_hostile_disconnect.py pin all of it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import http
import logging
import resource
import weakref
from typing import Any

import orjson
from attrs import evolve, frozen
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kernel.app import BODY_TIMED_OUT
from kernel.errors import GatewayError, HeadersTooLarge, RequestTimeout, ServerBusy

log = logging.getLogger("relaykit")

# Files a process needs besides its client connections: the listening socket, logs, config, spooled uploads.
# Each client connection may hold one upstream connection too, so the default cap is half of what is left.
_RESERVED_FILES = 256
_UNLIMITED_CONNECTIONS = 100_000  # the default cap when the file limit itself is unlimited
_DRAIN_BYTES = 1 << 20  # read at most this much of a refused request's body before answering (see _Refusal)
_DRAIN_SECONDS = 1.0


@frozen
class Limits:
    """What one server process allows its clients; see docs/limits.md. `max_connections=0` means "derive it from
    the open-file limit" (`resolved` does, at start-up)."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_header_bytes: int = 64 * 1024
    max_connections: int = 0
    keepalive_timeout: float = 5.0
    graceful_timeout: float = 10.0

    def resolved(self) -> Limits:
        if self.max_connections:
            return self
        return evolve(self, max_connections=default_max_connections(open_file_limit()[0]))


def open_file_limit() -> tuple[int, int]:
    """The soft and hard RLIMIT_NOFILE of this process."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft open-file limit to the hard one: every connection is a file, and the usual soft default
    (1024) locks every client out long before memory or CPU run short. Returns the limits now in force."""
    soft, hard = open_file_limit()
    if soft == resource.RLIM_INFINITY or soft == hard:
        return soft, hard
    # An unlimited hard limit cannot be the soft one everywhere (macOS caps it): try big, then smaller.
    for want in (hard,) if hard != resource.RLIM_INFINITY else (1 << 20, 1 << 16, 10240):
        if want <= soft:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            return want, hard
        except (ValueError, OSError):
            continue
    return soft, hard


def default_max_connections(soft_file_limit: int) -> int:
    if soft_file_limit == resource.RLIM_INFINITY:
        return _UNLIMITED_CONNECTIONS
    return max(16, (soft_file_limit - _RESERVED_FILES) // 2)


def uvicorn_options(limits: Limits, *, host: str, port: int, debug: bool = False) -> dict[str, Any]:
    """The uvicorn settings relaykit serves with, shared by the CLI (one process or `--num_workers N`) and tests."""
    return dict(
        host=host, port=port, loop="uvloop",
        # A partial of a module-level class pickles, so `--num_workers` processes get the same protocol and limits.
        http=functools.partial(RelayProtocol, limits=limits.resolved()),
        ws="none",  # relaykit serves no WebSockets: every connection stays on RelayProtocol and its limits
        lifespan="on", access_log=debug, log_level="debug" if debug else "warning",
        timeout_keep_alive=limits.keepalive_timeout, timeout_graceful_shutdown=limits.graceful_timeout,
        server_header=False, date_header=False,
        # relaykit reads neither the client address nor the scheme, so X-Forwarded-* parsing is wasted work
        proxy_headers=False,
    )


# What the sweep saw a connection doing; a phase lasting past its limit ends the connection or the body read.
_HEAD, _BODY, _BUSY, _EXPIRED = range(4)


class RelayProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with relaykit's limits (see the module docstring)."""

    def __init__(self, config, server_state, app_state, _loop=None, *, limits: Limits) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._max_head = limits.max_header_bytes
        self._head_bytes = 0  # bytes received so far of a request head that is not complete
        self._task: asyncio.Task | None = None  # the ASGI task of the request being answered, and its cycle
        self._task_cycle = None
        self._phase = _HEAD
        self._watched = None  # the cycle the phase belongs to (None before the first request)
        self._since = 0.0

    # -- connection
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            # Decided once per connection: one past the cap is answered 503 on its first request (then closed),
            # while the ones already in keep being served.
            busy = ServerBusy(f"relaykit is at its limit of {self.limits.max_connections} connections; retry shortly",
                              headers={"retry-after": "1"})
            self.app = _Refusal(busy, self.app)
        self._since = self.loop.time()
        _Sweeper.of(self.server_state, self.loop, self.limits).ensure()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        task, cycle = self._task, self._task_cycle
        self._task = self._task_cycle = None
        if task is not None and not task.done() and not cycle.response_complete:
            # The client has gone before its answer was complete: nobody will read it, so stop the call and with
            # it the upstream request (the upstream client closes a connection whose exchange was cut short).
            cycle.disconnected = True  # uvicorn marks only the newest cycle; this one's sends become no-ops
            log.debug("client disconnected; cancelling its call")
            task.cancel()

    def _start_asgi_task(self, cycle, app) -> None:
        # As uvicorn's, but the task is kept so connection_lost can cancel it.
        if self.config.reset_contextvars:
            task = self.loop.create_task(cycle.run_asgi(app), context=contextvars.Context())
        else:
            task = self.loop.create_task(cycle.run_asgi(app))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)
        self._task, self._task_cycle = task, cycle

    # -- request head: the one hook on every request (the base class is called directly: super() costs a call)
    def data_received(self, data: bytes) -> None:
        size = len(data)
        if self._head_bytes + size <= self._max_head:
            HttpToolsProtocol.data_received(self, data)  # the usual case: no head in this data can be over the cap
        else:
            # A head completed in this data may be over the cap (or a big body came with a small head): requests
            # that start here go through a gate that measures their head exactly.
            app = self.app
            self.app = _HeadSizeGate(self._max_head, app)
            try:
                HttpToolsProtocol.data_received(self, data)
            finally:
                self.app = app
        scope, cycle = self.scope, self.cycle
        if scope is not None and (cycle is None or cycle.scope is not scope):  # in the middle of a request head
            self._head_bytes += size
            if self._head_bytes > self._max_head and not self.transport.is_closing():
                # The head never ends: answer now rather than buffer it without bound.
                self._answer_and_close(_too_large(self._max_head), None)
        elif self._head_bytes:
            self._head_bytes = 0

    def _answer_and_close(self, err: GatewayError, path: str | None) -> None:
        body = error_body(self.app, path, err)
        head = [b"HTTP/1.1 %d %s\r\n" % (err.status, http.HTTPStatus(err.status).phrase.encode()),
                b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body), b"connection: close\r\n"]
        head += [b"%s: %s\r\n" % (k.encode("latin-1"), v.encode("latin-1")) for k, v in err.headers.items()]
        self.transport.write(b"".join(head) + b"\r\n" + body)
        self.transport.close()

    # -- timeouts, driven by _Sweeper
    def check(self, now: float) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            phase = _BUSY if self.pipeline else _HEAD  # a queued pipelined request has its head already
        elif cycle.more_body:
            phase = _BODY
        else:
            phase = _BUSY
        if cycle is self._watched and phase == _BODY and self._phase == _EXPIRED:
            return  # the reader has been told; what it answers is up to it
        if cycle is not self._watched or phase != self._phase:
            self._phase, self._watched, self._since = phase, cycle, now
            return
        if phase == _HEAD and now - self._since >= self.limits.header_timeout:
            self._head_expired()
        elif phase == _BODY and now - self._since >= self.limits.body_timeout:
            self._phase = _EXPIRED
            cycle.scope[BODY_TIMED_OUT] = self.limits.body_timeout
            cycle.keep_alive = False  # the rest of the body is never read: the connection cannot carry another request
            cycle.message_event.set()  # wake the reader; it sees the mark and answers 408

    def _head_expired(self) -> None:
        if self.transport.is_closing():
            return
        scope, cycle = self.scope, self.cycle
        if scope is not None and (cycle is None or cycle.scope is not scope):
            err = RequestTimeout(f"the request head did not arrive within {self.limits.header_timeout:g}s")
            self._answer_and_close(err, None)
        else:
            self.transport.close()  # an idle connection: nothing was asked, nothing to answer


class _Sweeper:
    """One per server: every tick, each connection checks how long it has been in its phase."""

    _servers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __init__(self, state, loop: asyncio.AbstractEventLoop, limits: Limits) -> None:
        self.state, self.loop = state, loop
        # A tenth of the shorter timeout, within [50 ms, 1 s]: a timeout fires at most two ticks late.
        self.tick = min(1.0, max(0.05, min(limits.header_timeout, limits.body_timeout) / 10))
        self.handle: asyncio.TimerHandle | None = None

    @classmethod
    def of(cls, state, loop, limits: Limits) -> _Sweeper:
        sweeper = cls._servers.get(state)
        if sweeper is None:
            sweeper = cls._servers[state] = cls(state, loop, limits)
        return sweeper

    def ensure(self) -> None:
        if self.handle is None:
            self.handle = self.loop.call_later(self.tick, self.sweep)

    def sweep(self) -> None:
        self.handle = None
        now = self.loop.time()
        for conn in list(self.state.connections):
            if isinstance(conn, RelayProtocol):
                conn.check(now)
        if self.state.connections:  # with no connection left, the next connection_made starts it again
            self.ensure()


def error_body(app: Any, path: str | None, err: GatewayError) -> bytes:
    """`err` in the envelope of the dialect serving `path` when the app can tell, else OpenAI's."""
    render = getattr(app, "error_body", None)
    if render is not None and path is not None:
        return render(path, err)
    return orjson.dumps({"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}})


def _too_large(limit: int) -> HeadersTooLarge:
    return HeadersTooLarge(f"the request head is over the {limit}-byte limit")


class _HeadSizeGate:
    """An ASGI app in front of the real one for requests whose head may be over the cap: refuses those that are."""

    def __init__(self, limit: int, app: Any) -> None:
        self.limit, self.app = limit, app

    async def __call__(self, scope, receive, send) -> None:
        size = len(scope["raw_path"]) + len(scope["query_string"])
        size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if size > self.limit:
            return await _Refusal(_too_large(self.limit), self.app)(scope, receive, send)
        return await self.app(scope, receive, send)


class _Refusal:
    """An ASGI app that answers one request with an error and closes its connection."""

    def __init__(self, err: GatewayError, app: Any) -> None:
        self.err, self.app = err, app

    async def __call__(self, scope, receive, send) -> None:
        # Read a little of a body that is still coming: closing a socket with unread bytes makes the kernel send a
        # reset, which can destroy the answer before the client reads it.
        try:
            async with asyncio.timeout(_DRAIN_SECONDS):
                seen, more = 0, True
                while more and seen < _DRAIN_BYTES:
                    message = await receive()
                    chunk = message.get("body", b"")
                    more = message.get("more_body", False) and bool(chunk)
                    seen += len(chunk)
        except TimeoutError:
            pass
        body = error_body(self.app, scope["path"], self.err)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
                   (b"connection", b"close")]
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.err.headers.items()]
        await send({"type": "http.response.start", "status": self.err.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
