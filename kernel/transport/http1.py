"""A small pooled HTTP/1.1 client for the upstream hot path: asyncio protocols, httptools' C parser, keep-alive.

Why not aiohttp's ClientSession: profiled under `python -m bench`, building its ClientRequest (yarl URLs,
multidicts, payload registry, trace hooks) and its per-request timer cost a third of the gateway's CPU.
This client does one thing: send a prepared head and body on a pooled connection and hand back the
status, the headers and the body (whole or as it arrives), with one timer per request.

Two ways to take a body, with different flow control:
- `chunks()` (streams): at most about _PAUSE_AT bytes wait in memory; past that the socket is paused until
  the consumer takes them, so a slow client slows the upstream instead of filling the gateway.
- `read(limit)` (whole answers): never pauses (nothing else would take the bytes: pausing there stalled every
  answer over 256 KiB until its deadline) and fails with ResponseTooLargeError past `limit` bytes, on the
  wire or once decompressed. Memory for one answer of N bytes: the received pieces, then their join (about
  2·N for the instant of the join, N after it); a compressed answer adds its decompressed size (≤ limit).

At most `max_per_host` connections per (tls, host, port) are open at once, idle ones included: a request that
finds none free waits in line (first come, first served) for one to be handed back or closed, until its deadline
(then PoolFullError). Without the cap a burst opens as many sockets as there are requests in flight.
"""

from __future__ import annotations

import asyncio
import socket
import ssl as _ssl
import zlib
from collections import deque
from urllib.parse import quote, urlsplit

import httptools

_IDLE_S = 60.0  # a pooled connection unused this long is closed rather than reused
_PAUSE_AT = 1 << 18  # buffered stream bytes before the upstream is asked to wait (client slower than upstream)
_URL_CACHE_MAX = 4096
_URL_SAFE = "/?#[]@!$&'()*+,;=:%-._~"
_OWN_HEADERS = frozenset({"host", "content-length"})  # computed here; a provider's copy would be a duplicate


class UpstreamTimeoutError(TimeoutError):
    """The request's deadline passed."""


class PoolFullError(UpstreamTimeoutError):
    """The request's deadline passed while it waited for one of its host's `limit` connections to free up."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"all {limit} connections to the host are busy")
        self.limit = limit


class ResponseTooLargeError(Exception):
    """A whole-body read passed its byte limit (on the wire or decompressed); the connection is closed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is over {limit} bytes")
        self.limit = limit


class _Target:
    """A parsed URL: the pool key, the request-target and the Host header, computed once per distinct URL."""

    __slots__ = ("host", "key", "port", "prefix", "tls")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.key = (self.tls, self.host, self.port)
        # Sent as given (no re-quoting of what is already escaped: SigV4 signs the exact path), with only
        # characters that cannot appear on a request line percent-encoded, as httpx would.
        target = quote((parts.path or "/") + ("?" + parts.query if parts.query else ""), safe=_URL_SAFE)
        default = (self.tls and self.port == 443) or (not self.tls and self.port == 80)
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        host_header = netloc if default else f"{netloc}:{self.port}"
        self.prefix = f"{target} HTTP/1.1\r\nhost: {host_header}\r\n".encode("latin-1")


class Connection(asyncio.Protocol):
    """One keep-alive connection; carries one exchange at a time."""

    def __init__(self, pool: Pool, key: tuple) -> None:
        self.pool, self.key = pool, key
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.counted = False  # holds one of its host's slots under the pool's cap (set once connected)
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head: asyncio.Future | None = None
        self.body: list[bytes] = []
        self.buffered = 0
        self.paused = False
        self.limit: int | None = None  # set by read(): a whole body, taken without pausing, up to this many bytes
        self.complete = False
        self.keep_alive = False
        self.error: BaseException | None = None
        self.wake: asyncio.Future | None = None
        self.got_bytes = False
        self.timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"malformed upstream response: {exc}"))
            self.transport.abort()

    def connection_lost(self, exc) -> None:
        self._gone()
        self.pool.forget(self)
        if self.head is not None and not self.complete:
            if self.head.done() and self._reads_until_close():
                self.on_message_complete()  # a body delimited by the connection closing ends here
            else:
                self._fail(exc or ConnectionResetError("upstream closed the connection"))

    # -- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.head is not None and not self.head.done():
            self.head.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self.error is not None:
            return  # failed (over the limit, timed out): the rest of this segment is dropped, not kept
        self.body.append(body)
        self.buffered += len(body)
        if self.limit is not None:  # a whole body: keep reading, up to its limit
            if self.buffered > self.limit:
                self._too_large()
                return
        elif self.buffered > _PAUSE_AT and not self.paused:  # a stream: wait until the consumer takes some
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        # llhttp answers should_keep_alive() only until feed_data() returns: ask while the message is current.
        self.keep_alive = self.parser.should_keep_alive()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._wake()

    # -- internals
    def _gone(self) -> None:
        """Closed for good: its slot under the host's cap goes to the next request in line (once)."""
        self.closed = True
        if self.counted:
            self.counted = False
            self.pool.slot_freed(self.key)

    def _reads_until_close(self) -> bool:
        names = {k.lower() for k, _ in self.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    def _wake(self) -> None:
        if self.wake is not None and not self.wake.done():
            self.wake.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        if self.head is not None and not self.head.done():
            self.head.set_exception(exc)
        self._wake()

    def _too_large(self) -> None:
        self.body, self.buffered = [], 0  # let go of what came so far at once
        self._fail(ResponseTooLargeError(self.limit))
        self.transport.abort()

    def _expired(self) -> None:
        self.timer = None
        self._fail(UpstreamTimeoutError())
        if self.transport is not None:
            self.transport.abort()

    def start(self, data: bytes, deadline: float | None) -> asyncio.Future:
        loop = self.pool.loop
        self._reset()
        self.head = loop.create_future()
        if deadline is not None:
            self.timer = loop.call_at(deadline, self._expired)
        self.transport.write(data)
        return self.head

    def clear_deadline(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    async def read(self, limit: int = 1 << 62) -> bytes:
        """The whole body (decompressed if the upstream sent it compressed anyway), at most `limit` bytes.

        Raises ResponseTooLargeError past `limit`, with the connection closed and what came so far dropped."""
        self.limit = limit
        if self.buffered > limit:
            self._too_large()
        elif self.paused:  # paused before read() was called (a body that arrived ahead of its reader)
            self.paused = False
            self.transport.resume_reading()
        try:
            while True:
                if self.error is not None:  # first: the parser may finish a message it was failed in
                    raise self.error
                if self.complete:
                    break
                self.wake = self.pool.loop.create_future()
                await self.wake
        except BaseException:
            self.close()  # half-read: the connection cannot be reused
            raise
        data = b"".join(self.body)
        self.release()
        encoding = self.header(b"content-encoding")
        if encoding in (b"gzip", b"deflate"):
            data = _decompress(data, 31 if encoding == b"gzip" else 15, limit)
        return data

    async def chunks(self):
        """The body as it arrives."""
        try:
            while True:
                if self.body:
                    parts, self.body, self.buffered = self.body, [], 0
                    if self.paused:
                        self.paused = False
                        self.transport.resume_reading()
                    # Whatever arrived since the last read goes on as one piece: one write to the client, not one each.
                    yield parts[0] if len(parts) == 1 else b"".join(parts)
                    continue
                if self.complete:
                    return
                if self.error is not None:
                    raise self.error
                self.wake = self.pool.loop.create_future()
                await self.wake
        finally:
            self.release()

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k.lower() == name:
                return v.strip().lower() if name == b"content-encoding" else v
        return None

    def release(self) -> None:
        """Back to the pool when the exchange finished cleanly and both sides allow keep-alive; else closed."""
        if self.head is None:
            return
        self.clear_deadline()
        self.head = None
        self.body = []  # an idle pooled connection must not hold on to its last answer
        if self.complete and self.keep_alive and self.error is None and not self.closed:
            self.pool.put(self)
        else:
            self.close()

    def close(self) -> None:
        self._gone()
        self.clear_deadline()
        if self.transport is not None:
            self.transport.abort()


def _hand(waiting: deque[asyncio.Future], value: Connection | None) -> bool:
    """Give `value` to the first request still waiting in line; False when none is."""
    while waiting:
        fut = waiting.popleft()
        if not fut.done():
            fut.set_result(value)
            return True
    return False


def _decompress(data: bytes, wbits: int, limit: int) -> bytes:
    """zlib.decompress that stops past `limit` output bytes (a small compressed body can expand a thousandfold)."""
    d = zlib.decompressobj(wbits)
    out = d.decompress(data, limit + 1)
    if len(out) > limit or d.unconsumed_tail:
        raise ResponseTooLargeError(limit)
    if not d.eof:
        raise zlib.error("incomplete compressed body")
    return out


class Pool:
    """Idle keep-alive connections per (tls, host, port), most recently used first, at most `max_per_host` open."""

    def __init__(self, max_per_host: int = 512) -> None:
        self.loop = asyncio.get_running_loop()
        self.max_per_host = max_per_host
        self.idle: dict[tuple, deque[Connection]] = {}
        self.open: dict[tuple, int] = {}  # connections per host, open or being opened: what the cap counts
        self.waiting: dict[tuple, deque[asyncio.Future]] = {}  # requests in line for a connection, per host
        self.targets: dict[str, _Target] = {}
        self._ssl: _ssl.SSLContext | None = None

    def target(self, url: str) -> _Target:
        t = self.targets.get(url)
        if t is None:
            if len(self.targets) >= _URL_CACHE_MAX:
                self.targets.clear()
            t = self.targets[url] = _Target(url)
        return t

    def ssl_context(self) -> _ssl.SSLContext:
        if self._ssl is None:
            try:
                import certifi  # httpx's trust store, so both client paths trust the same CAs

                self._ssl = _ssl.create_default_context(cafile=certifi.where())
            except ImportError:
                self._ssl = _ssl.create_default_context()
        return self._ssl

    def put(self, conn: Connection) -> None:
        waiting = self.waiting.get(conn.key)
        if waiting and _hand(waiting, conn):  # straight to the first request in line, never idle meanwhile
            return
        conn.idle_since = self.loop.time()
        self.idle.setdefault(conn.key, deque()).append(conn)

    def slot_freed(self, key: tuple) -> None:
        """A connection to `key` closed: its slot passes to the first request in line, else it is counted free."""
        waiting = self.waiting.get(key)
        if waiting and _hand(waiting, None):
            return
        self.open[key] -= 1

    def forget(self, conn: Connection) -> None:
        idle = self.idle.get(conn.key)
        if idle:
            try:
                idle.remove(conn)
            except ValueError:
                pass

    async def connection(self, t: _Target, deadline: float | None) -> tuple[Connection, bool]:
        """A connection to `t` and whether it was reused from the pool."""
        key = t.key
        while True:
            idle = self.idle.get(key)
            if idle:
                now = self.loop.time()
                while idle:
                    conn = idle.pop()
                    if not conn.closed and now - conn.idle_since < _IDLE_S:
                        return conn, True
                    conn.close()
            opened = self.open.get(key, 0)
            if opened < self.max_per_host:
                self.open[key] = opened + 1
                break
            conn = await self._wait(key, deadline)
            if conn is None:
                break  # a slot handed over by a connection that closed: still counted, now this request's
            if not conn.closed:
                return conn, True
            # Handed back, then closed by the upstream before this request woke: its slot went on; look again.
        try:
            async with asyncio.timeout_at(deadline):
                _, conn = await self.loop.create_connection(
                    lambda: Connection(self, key), t.host, t.port,
                    ssl=self.ssl_context() if t.tls else None, server_hostname=t.host if t.tls else None)
        except TimeoutError:
            self.slot_freed(key)
            raise UpstreamTimeoutError() from None
        except BaseException:
            self.slot_freed(key)
            raise
        if conn.closed:  # lost before this request resumed (the upstream hung up at once): not counted yet
            self.slot_freed(key)
            raise ConnectionResetError("upstream closed the connection")
        conn.counted = True
        return conn, False

    async def _wait(self, key: tuple, deadline: float | None) -> Connection | None:
        """Wait in line for a connection handed back (returned) or a slot freed by one that closed (None)."""
        fut = self.loop.create_future()
        waiting = self.waiting.setdefault(key, deque())
        waiting.append(fut)
        try:
            async with asyncio.timeout_at(deadline):
                return await fut
        except BaseException as exc:
            if fut.done() and not fut.cancelled():  # handed over just as this request gave up: pass it on
                got = fut.result()
                if got is None:
                    self.slot_freed(key)
                elif not got.closed:
                    self.put(got)
            else:
                fut.cancel()
                try:
                    waiting.remove(fut)
                except ValueError:
                    pass
            if isinstance(exc, TimeoutError):
                raise PoolFullError(self.max_per_host) from None
            raise

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                      deadline: float | None) -> Connection:
        """Send a request; returns the connection once the response head is in (status and headers set)."""
        t = self.target(url)
        lines = []
        for k, v in headers.items():
            if k.lower() in _OWN_HEADERS:
                continue
            if "\n" in v or "\r" in v or "\n" in k or "\r" in k:
                raise ValueError(f"header {k!r} contains a line break")
            lines.append(f"{k}: {v}\r\n")
        if body is not None or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            lines.append(f"content-length: {len(body) if body else 0}\r\n")
        # One join: the head and the body in a single buffer, copied once (a chain of + copied the body again).
        data = b"".join((method.encode(), b" ", t.prefix, "".join(lines).encode("latin-1"), b"\r\n", body or b""))
        for attempt in (0, 1):
            conn, reused = await self.connection(t, deadline)
            head = conn.start(data, deadline)
            try:
                await head
                return conn
            except asyncio.CancelledError:
                conn.close()
                raise
            except UpstreamTimeoutError:
                conn.close()
                raise
            except OSError:
                conn.close()
                # A pooled connection the upstream closed while idle fails before any byte comes back: the
                # request never reached it, so one retry on a fresh connection is safe, even for a POST.
                if attempt or not reused or conn.got_bytes:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        for idle in self.idle.values():
            for conn in idle:
                conn.close()
        self.idle.clear()
