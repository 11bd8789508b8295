"""A fault upstream for hostile tests: a raw HTTP/1.1 server on loopback answering huge, trickling or invalid replies.

Raw asyncio rather than an ASGI app, so a test controls the bytes on the wire: the framing (content-length,
chunked, gzip), the size of each TCP segment and the pauses between them, and bodies no framework would send.
It speaks OpenAI's paths (/v1/chat/completions, /v1/embeddings, /v1/audio/transcriptions, ...) and Anthropic's
(/v1/messages); what it answers is cued by the request's model name:

    chat-<N>        a valid answer whose text is text(N) (N characters): a chat completion, an Anthropic message
                    on /v1/messages, {"text": ...} on the audio paths; streamed as SSE when the request asks to
    embed-<N>       an embeddings list of embedding_count(N) vectors of DIM floats (about N bytes of JSON)
    garbage · html · empty · list · object · choices-str · truncated
                    HTTP 200 with a body that is no answer: text, an HTML page, nothing, [1,2,3], {},
                    {"choices": "x"}, a valid answer cut in half
    bightml-<N> · bigobject-<N>
                    the same, N characters long: an HTML page, a JSON object of no endpoint's shape
    sse-garbage · sse-html · sse-valid-then-garbage · sse-valid-then-badjson
                    HTTP 200 text/event-stream that is no event stream, or one that starts well and then breaks

Modifiers follow a `+`: `+trickle` sends the body a few hundred bytes per TCP segment with pauses, `+chunked`
uses chunked transfer encoding, `+gzip` compresses the body (whatever accept-encoding said). Each request is
recorded with the number of the connection it came on; `closed` holds the numbers of connections the
gateway closed.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import socket
import threading
from functools import lru_cache

import orjson

DIM = 1536
STREAM_PIECE = 1 << 16  # characters of text per streamed event
TRICKLE_SEGMENT = 300  # bytes per TCP segment under +trickle
_PATTERN = "".join(f"relaykit {i:03d} the quick brown fox jumps over the lazy dog " for i in range(17))[:997]
_MULTIPART_MODEL = re.compile(rb'name="model"\r\n\r\n([^\r]*)\r\n')


@lru_cache(maxsize=8)
def text(n: int) -> str:
    """n characters of JSON-safe text; its 997-character period does not divide any chunk size a transport uses,
    so a lost, doubled or reordered piece changes it."""
    return (_PATTERN * (n // len(_PATTERN) + 1))[:n]


@lru_cache(maxsize=1)
def vector() -> list[float]:
    return [round(((i * 7919) % 10007) / 10007 - 0.5, 6) for i in range(DIM)]


@lru_cache(maxsize=1)
def _vector_json() -> bytes:
    return orjson.dumps(vector())


def _embedding_item(i: int) -> bytes:
    return b'{"object":"embedding","index":%d,"embedding":%s}' % (i, _vector_json())


def embedding_count(n: int) -> int:
    """How many vectors `embed-<n>` answers with: as many as make about n bytes."""
    return max(1, n // len(_embedding_item(0)))


def embeddings(n: int, model: str) -> bytes:
    items = b",".join(_embedding_item(i) for i in range(embedding_count(n)))
    tail = orjson.dumps({"model": model, "usage": {"prompt_tokens": 8, "total_tokens": 8}})
    return b'{"object":"list","data":[' + items + b"]," + tail[1:]


def chat_completion(model: str, content: str) -> bytes:
    return orjson.dumps({
        "id": "chatcmpl-fault", "object": "chat.completion", "created": 1700000000, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}})


def anthropic_message(model: str, content: str) -> bytes:
    return orjson.dumps({
        "id": "msg_fault", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": content}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 7}})


def _sse(payload: dict) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _event(name: str, payload: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def openai_events(model: str, content: str) -> list[bytes]:
    base = {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 1700000000, "model": model}

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        return _sse({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": content[i:i + STREAM_PIECE]}) for i in range(0, len(content), STREAM_PIECE)]
    out += [chunk({}, "stop"), b"data: [DONE]\n\n"]
    return out


def anthropic_events(model: str, content: str) -> list[bytes]:
    out = [_event("message_start", {"type": "message_start", "message": {
        "id": "msg_fault", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        _event("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}}),
        _event("ping", {"type": "ping"})]
    out += [_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                           "delta": {"type": "text_delta", "text": content[i:i + STREAM_PIECE]}})
            for i in range(0, len(content), STREAM_PIECE)]
    out += [_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                        "stop_sequence": None},
                                     "usage": {"output_tokens": 7}}),
            _event("message_stop", {"type": "message_stop"})]
    return out


HTML = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>Bad Gateway</h1></body></html>\n"
BAD_BODIES = {
    "garbage": (b"application/json", b"this is not json, it is just words"),
    "html": (b"text/html", HTML),
    "empty": (b"application/json", b""),
    "list": (b"application/json", b"[1,2,3]"),
    "object": (b"application/json", b"{}"),
    "choices-str": (b"application/json", b'{"choices": "x"}'),
}


class FaultUpstream:
    """The server and what it saw; use as a context manager (it runs its own event loop in a thread)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.closed: set[int] = set()
        self._connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def clear(self) -> None:
        self.requests.clear()
        self.closed.clear()

    def __enter__(self) -> FaultUpstream:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault upstream did not start")
        return self

    def __exit__(self, *exc) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop)
        self._thread.join(timeout=10)

    def _stop(self) -> None:
        self._server.close()
        self._loop.stop()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        number = self._connections
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one write, one segment (for +trickle)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                await self._answer(writer, number, method, path, headers, body)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the gateway went away mid-answer (over its size limit, say)
        finally:
            self.closed.add(number)
            writer.close()

    async def _answer(self, writer, number: int, method: str, path: str, headers: dict, body: bytes) -> None:
        if headers.get("content-type", "").startswith("multipart/form-data"):
            found = _MULTIPART_MODEL.search(body)
            request = {"model": found.group(1).decode() if found else ""}
        else:
            request = orjson.loads(body) if body else {}
        self.requests.append({"method": method, "path": path, "connection": number, "body": request})
        cue, *mods = str(request.get("model", "")).split("+")
        anthropic = path.endswith("/messages")
        ctype, data, events = self._body(cue, path, request, anthropic)
        await _send(writer, ctype, data, events, set(mods))

    def _body(self, cue: str, path: str, request: dict, anthropic: bool):
        """(content type, whole body or None, list of stream events or None)."""
        model = request.get("model", "")
        kind, _, size = cue.partition("-")
        if kind == "chat" and size.isdigit():
            content = text(int(size))
            if request.get("stream"):
                return b"text/event-stream", None, (anthropic_events if anthropic else openai_events)(model, content)
            if anthropic:
                return b"application/json", anthropic_message(model, content), None
            if "/audio/" in path:
                return b"application/json", orjson.dumps({"text": content}), None
            return b"application/json", chat_completion(model, content), None
        if kind == "embed" and size.isdigit():
            return b"application/json", embeddings(int(size), model), None
        if kind == "bightml" and size.isdigit():
            return b"text/html", HTML[:-8] + text(int(size)).encode() + b"</html>\n", None
        if kind == "bigobject" and size.isdigit():
            return b"application/json", orjson.dumps({"object": "what", "text": text(int(size))}), None
        if cue in BAD_BODIES:
            ctype, data = BAD_BODIES[cue]
            return ctype, data, None
        valid = (anthropic_events if anthropic else openai_events)(model, "fine so far")
        if cue == "truncated":
            whole = anthropic_message(model, "cut") if anthropic else chat_completion(model, "cut")
            return b"application/json", whole[:len(whole) // 2], None
        if cue == "sse-garbage":
            return b"text/event-stream", None, [b"this is not an event stream\n", b"nor is this\n\n"]
        if cue == "sse-html":
            return b"text/event-stream", None, [HTML]
        if cue == "sse-valid-then-garbage":
            return b"text/event-stream", None, [*valid[:2], b"garbage in the middle of a stream\n\n", *valid[2:]]
        if cue == "sse-valid-then-badjson":
            return b"text/event-stream", None, [*valid[:2], b"data: {not json at all\n\n", *valid[2:]]
        raise ValueError(f"fault upstream: no cue {cue!r}")


async def _send(writer, ctype: bytes, data: bytes | None, events: list[bytes] | None, mods: set[str]) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: " + ctype + b"\r\n"
    if events is not None:  # a stream: chunked, one event per chunk, each sent as it is made
        writer.write(head + b"transfer-encoding: chunked\r\n\r\n")
        for ev in events:
            await _write(writer, b"%x\r\n%s\r\n" % (len(ev), ev), mods)
            if "trickle" not in mods:
                await asyncio.sleep(0.02 if len(events) < 20 else 0)  # small streams: events apart, as a model sends
        await _write(writer, b"0\r\n\r\n", mods)
        return
    if "gzip" in mods:
        data = gzip.compress(data, compresslevel=6)
        head += b"content-encoding: gzip\r\n"
    if "chunked" in mods:
        writer.write(head + b"transfer-encoding: chunked\r\n\r\n")
        for i in range(0, len(data), 8192):
            piece = data[i:i + 8192]
            await _write(writer, b"%x\r\n%s\r\n" % (len(piece), piece), mods)
        await _write(writer, b"0\r\n\r\n", mods)
        return
    writer.write(head + b"content-length: %d\r\n\r\n" % len(data))
    await _write(writer, data, mods)


async def _write(writer, data: bytes, mods: set[str]) -> None:
    if "trickle" not in mods:
        writer.write(data)
        await writer.drain()
        return
    for n, i in enumerate(range(0, len(data), TRICKLE_SEGMENT)):
        writer.write(data[i:i + TRICKLE_SEGMENT])
        await writer.drain()
        if n % 4 == 3:
            await asyncio.sleep(0.001)  # let the segment leave before the next one is written
