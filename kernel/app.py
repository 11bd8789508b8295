"""The ASGI adapter: turns an HTTP request into a Call, runs its pipeline, and sends the Reply back.

Raw ASGI on purpose: starlette's base HTTP middleware class breaks streaming and costs time, and routing a
handful of fixed paths needs a dict, not a framework.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator

import orjson

from kernel import registry
from kernel.call import Call, Reply
from kernel.errors import GatewayError, NotFound, PayloadTooLarge, ServerBusy
from kernel.pipeline import PathRouter, Pipeline
from kernel.serve.timing import server_timing
from kernel.serve.upload import BODY_TIMED_OUT, Upload
from kernel.serve.upload import body_timeout as _body_timeout
from kernel.state import Gateway

log = logging.getLogger("relaykit")

_JSON = b"application/json"
# Call ids: a random per-process prefix and a counter (uuid4 per request showed in profiles; this is unique
# enough for logs and headers, across workers too).
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)


def _error_body(err: GatewayError) -> bytes:
    return orjson.dumps({"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}})


def error_reply(dialect, err: GatewayError, gateway: Gateway, call: Call | None) -> Reply:
    """`err` as the client's dialect renders it (`encode_error`), with every secret masked, as a Reply: the one way
    an error becomes bytes, used by the `encode` link for errors inside a chain and by the adapter for the rest."""
    # Upstream error text may echo the key it was sent: every secret is masked on the way out.
    scrub = gateway.scrubber
    body = scrub.scrub_bytes(dialect.encode_error(err) if dialect is not None else _error_body(err), call)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("call %s answered %d: %s", call.id if call else "-", err.status, scrub.scrub(err.message, call))
    headers = {k.lower(): scrub.scrub(str(v), call) for k, v in err.headers.items()}
    return Reply(status=err.status, raw=body, wire=dialect.wire if dialect is not None else None, headers=headers)


class App:
    """An ASGI application serving the gateway's pipelines."""

    def __init__(self, gateway: Gateway, pipelines: dict[str, Pipeline]) -> None:
        self.gateway = gateway
        gateway.pipelines = pipelines
        self.router = PathRouter(pipelines)
        # For paths no pipeline serves: the dialect of the longest served path that is a prefix of it, so a typo
        # under /v1/messages/ still gets Anthropic's error envelope.
        self.prefix_dialects = sorted(((path.rstrip("/") + "/", p.dialect) for p in pipelines.values()
                                       for path in p.paths if "{" not in path), key=lambda kv: -len(kv[0]))
        self.max_body = int(gateway.settings.general.max_request_size_mb * 1024 * 1024)

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for fn in self.gateway.startup:
                        await fn()
                except Exception as exc:  # a failed startup must say why and stop the server
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for fn in self.gateway.shutdown:
                    try:
                        await fn()
                    except Exception:
                        log.exception("shutdown hook failed")
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope, receive, send) -> None:
        started = time.perf_counter()
        path = scope["path"]
        methods, params = self.router.match(path)
        if methods is None:
            err = NotFound(f"no route for {path}; see /v1/models for the models this gateway serves")
            return await self.send_error(send, err, started, dialect=self.dialect_near(path))
        pipeline = methods.get(scope["method"])
        if pipeline is None:
            err = GatewayError(f"method {scope['method']} is not allowed on {path}", status=405,
                               type="invalid_request_error", code="method_not_allowed")
            return await self.send_error(send, err, started, pipeline=next(iter(methods.values())))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        call = Call(
            id=headers.get("x-request-id") or f"{_ID_PREFIX}{next(_ID_COUNTER):016x}",
            route=pipeline.name,
            endpoint=pipeline.endpoint,
            dialect=pipeline.dialect,
            gateway=self.gateway,
            method=scope["method"],
            path=path,
            raw_path=scope.get("raw_path") or b"",
            headers=headers,
            path_params=params,
            started=started,
        )
        qs = scope.get("query_string")
        if qs:
            from urllib.parse import parse_qsl

            call.query = dict(parse_qsl(qs.decode("latin-1")))
        try:
            if headers.get("content-type", "").startswith("multipart/form-data"):
                call.form = Upload(scope, receive, self.max_body)
            else:
                call.raw = await self.read_body(receive, headers, scope)
            call.marks.append(("read", time.perf_counter()))
            reply = await pipeline.handler(call)
        except GatewayError as err:
            return await self.send_error(send, err, started, call, pipeline)
        except asyncio.CancelledError:
            # The server cancels the call of a client that has hung up (its sends are then no-ops), and uvicorn
            # cancels what still runs when the shutdown grace period ends: answer whoever is still there.
            err = ServerBusy("relaykit stopped this call before it finished: the server is shutting down")
            return await self.send_error(send, err, started, call, pipeline)
        except Exception:
            log.exception("unhandled error in pipeline %s (call %s)", pipeline.name, call.id)
            err = GatewayError("internal error in relaykit; see the server log for call " + call.id, status=500)
            return await self.send_error(send, err, started, call, pipeline)
        try:
            await self.send_reply(send, receive, reply, call)
        except asyncio.CancelledError:  # as above, mid-answer: the stream's own cleanup has closed the upstream
            log.debug("call %s was cancelled while its answer was being sent", call.id)

    async def read_body(self, receive, headers: dict[str, str], scope) -> bytes:
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await _drain(receive, {"more_body": True})
            raise PayloadTooLarge(f"request body of {declared} bytes is over the {self.max_body}-byte limit")
        message = await receive()
        body = message.get("body", b"")
        if not message.get("more_body"):
            # Chunked bodies have no content-length to check up front, and may arrive in one message.
            if len(body) > self.max_body:
                raise PayloadTooLarge(f"request body is over the {self.max_body}-byte limit")
            return body
        parts = [body]
        size = len(body)
        while message.get("more_body"):
            if BODY_TIMED_OUT in scope:
                raise _body_timeout(scope)
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _drain(receive, message)
                raise PayloadTooLarge(f"request body is over the {self.max_body}-byte limit")
            parts.append(chunk)
        return b"".join(parts)

    def timing_headers(self, call: Call | None, started: float) -> list[tuple[bytes, bytes]]:
        total_ms = (time.perf_counter() - started) * 1000
        total = b"%.3f" % total_ms
        out = [(b"x-relaykit-response-ms", total), (b"x-litellm-response-duration-ms", total)]
        if call is not None:
            out.append((b"x-relaykit-call-id", call.id.encode("latin-1")))
            overhead = b"%.3f" % (total_ms - call.upstream_s * 1000)
            out += ((b"x-relaykit-overhead-ms", overhead), (b"x-litellm-overhead-duration-ms", overhead))
            out.append((b"server-timing", server_timing(call, total_ms)))
            if call.deployment is not None:
                out.append((b"x-relaykit-model-id", call.deployment.id.encode("latin-1")))
            for k, v in call.reply_headers.items():
                out.append((k.encode("latin-1"), str(v).encode("latin-1")))
        return out

    def error_body(self, path: str, err: GatewayError) -> bytes:
        """`err` in the envelope of the dialect serving `path`, for the errors the server answers itself."""
        methods, _ = self.router.match(path)
        name = next(iter(methods.values())).dialect if methods else self.dialect_near(path)
        dialect = registry.DIALECTS.get(name) if name else None
        return dialect.encode_error(err) if dialect is not None else _error_body(err)

    def dialect_near(self, path: str) -> str | None:
        for prefix, dialect in self.prefix_dialects:
            if path.startswith(prefix):
                return dialect
        return None

    async def send_error(self, send, err: GatewayError, started: float, call: Call | None = None,
                         pipeline: Pipeline | None = None, dialect: str | None = None) -> None:
        """An error that escaped every chain's `encode` (the route is unknown, the body could not be read, the call
        was cancelled), rendered the same way `encode` renders the rest."""
        name = pipeline.dialect if pipeline else dialect
        reply = error_reply(registry.DIALECTS.get(name) if name else None, err, self.gateway, call)
        body = reply.raw
        headers = [(b"content-type", _JSON), (b"content-length", str(len(body)).encode())]
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
        headers += self.timing_headers(call, started)
        await send({"type": "http.response.start", "status": err.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def send_reply(self, send, receive, reply: Reply, call: Call) -> None:
        headers = [(b"content-type", reply.media_type.encode("latin-1"))]
        headers += [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in reply.headers.items()]
        if reply.stream is None:
            body = reply.raw if reply.raw is not None else orjson.dumps(reply.body)
            headers.append((b"content-length", str(len(body)).encode()))
            headers += self.timing_headers(call, call.started)
            await send({"type": "http.response.start", "status": reply.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        headers += self.timing_headers(call, call.started)
        await self.send_stream(send, receive, reply.status, headers, reply.stream, call)

    async def send_stream(self, send, receive, status: int, headers, stream: AsyncIterator[bytes], call: Call) -> None:
        # Watch for the client going away so a dropped stream stops pulling from the upstream.
        gone = asyncio.get_running_loop().create_future()
        watcher = asyncio.create_task(_watch_disconnect(receive, gone))
        started = False
        try:
            async for chunk in stream:
                if not started:
                    await send({"type": "http.response.start", "status": status, "headers": headers})
                    started = True
                if gone.done():
                    break
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if not started:
                await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
        except GatewayError as err:  # failed before the first byte: an ordinary error response
            if not started:
                return await self.send_error(send, err, call.started, call, self.gateway.pipelines.get(call.route))
            log.warning("stream of call %s ended with %s", call.id, self.gateway.scrubber.scrub(err.message, call))
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:
                    log.debug("closing stream of call %s failed", call.id, exc_info=True)


async def _drain(receive, message: dict, cap: int = 1 << 20) -> None:
    """Read (and drop) up to `cap` more bytes of a refused body before answering 413.

    Closing a socket with unread bytes in it makes the kernel send a reset, which can destroy the 413 before
    the client reads it; draining a modest overage lets the client see the answer. Past `cap`, the reset
    is the lesser cost."""
    seen = 0
    while message.get("more_body") and seen < cap:
        message = await receive()
        chunk = message.get("body", b"")
        if not chunk:  # nothing came: the server woke the reader because the body stalled (or the client left)
            return
        seen += len(chunk)


async def _watch_disconnect(receive, gone: asyncio.Future) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if not gone.done():
                gone.set_result(True)
            return
