"""Is an upstream's 2xx an answer? Whole bodies: one orjson parse and the top-level keys; streams: each SSE line.

An upstream (or a proxy in front of it) can say 200 and send garbage, an HTML error page, nothing, or JSON of
the wrong shape. On the fast path those bytes would reach the client as a success, so they are checked here,
cheaply, and a failure is an InvalidUpstreamResponse naming the deployment: a 502 that the router counts against
the deployment and that retry and fallback handle like any other upstream failure. Only the top level is
checked: the fast path promises the client the upstream's own answer, not a validated copy of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from kernel.errors import InvalidUpstreamResponse

# wire → endpoint → (key, type it must have, what the answer is called). An endpoint not listed is not checked
# (speech and text-format transcriptions are binary; pass-through routes never come here).
SHAPES: dict[str, dict[str, tuple[str, type, str]]] = {
    "openai": {
        "chat": ("choices", list, "a chat completion"),
        "completions": ("choices", list, "a completion"),
        "embeddings": ("data", list, "an embedding list"),
        "moderations": ("results", list, "a moderation"),
        "images": ("data", list, "an image list"),
        "transcriptions": ("text", str, "a transcription"),
        "translations": ("text", str, "a translation"),
    },
    "anthropic": {
        "chat": ("content", list, "a message"),
        "count_tokens": ("input_tokens", int, "a token count"),
    },
    "responses": {"chat": ("output", list, "a response")},  # the Responses API (dialects/responses.py) decodes to chat
}
_TYPES = {list: "list", str: "string", int: "number"}
FULL_PARSE_MAX = 2 << 20  # bytes: a fast-path answer up to this is parsed in full (see checked_fast)
_MEANING = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def invalid(call: Any, what: str) -> InvalidUpstreamResponse:
    """The error for a 2xx that is no answer; names the deployment (never its URL or key), says what was wrong."""
    d = call.deployment
    who = f"deployment {d.label}" if d is not None else "the upstream"
    return InvalidUpstreamResponse(f"{who} answered with a success status but {what}",
                                   deployment=d.id if d is not None else None)


def json_object(call: Any, data: bytes) -> dict:
    """`data` parsed, which must be a JSON object; else InvalidUpstreamResponse."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise invalid(call, "an empty body" if not data.strip() else "a body that is not JSON") from None
    if type(value) is not dict:
        raise invalid(call, f"a JSON {_MEANING.get(type(value), 'null')} instead of an object")
    return value


def checked(call: Any, data: bytes, wire: str) -> dict:
    """The parsed answer of `wire` for the call's endpoint, its top level checked; InvalidUpstreamResponse if not."""
    value = json_object(call, data)
    shape = SHAPES.get(wire, {}).get(call.endpoint)
    if shape is not None:
        key, kind, name = shape
        if wire == "anthropic" and call.endpoint == "chat" and value.get("type") != "message":
            raise invalid(call, f'{_describe(value)} instead of {name} (no "type": "message")')
        if not isinstance(value.get(key), kind) or (kind is int and type(value[key]) is bool):
            raise invalid(call, f'{_describe(value)} instead of {name} (no "{key}" {_TYPES[kind]})')
    return value


def checked_fast(call: Any, data: bytes, wire: str) -> dict | None:
    """The fast path's check: `checked` (and its parsed answer) up to FULL_PARSE_MAX bytes; past that, a light
    check that returns None. A full parse holds the event loop about 10 ms per MB of float vectors (1 s for a
    100 MB embeddings answer, measured) and keeps a parsed copy as large again as the body, for a body the
    client gets as raw bytes anyway; the light check (an object's braces, the endpoint's key) costs ~1 ms per
    100 MB."""
    if len(data) <= FULL_PARSE_MAX:
        return checked(call, data, wire)
    if data[:64].lstrip()[:1] != b"{" or data[-64:].rstrip()[-1:] != b"}":
        raise invalid(call, "a body that is not a JSON object")
    shape = SHAPES.get(wire, {}).get(call.endpoint)
    if shape is not None and data.find(b'"%s"' % shape[0].encode()) < 0:
        raise invalid(call, f'a JSON object instead of {shape[2]} (no "{shape[0]}")')
    return None


def _describe(value: dict) -> str:
    return "an empty JSON object" if not value else "a JSON object"


# Stream wires whose events are SSE lines carrying JSON objects, and whether `data: [DONE]` ends them.
STREAMS: dict[str, bool] = {"openai": True, "anthropic": False, "gemini": False, "responses": False}
_FIELDS = (b"event:", b":", b"id:", b"retry:")
_HEAD = 16  # bytes of a line enough to judge its start (`data: [DONE]` is 12)


class StreamCheck:
    """Checks an upstream SSE byte stream line by line as it passes, without changing or holding it.

    A line must be blank, a comment, an `event:`/`id:`/`retry:` field, or `data:` carrying a JSON object —
    judged by its first and last bytes, `{` and `}` — or `[DONE]` where the wire ends that way. A full parse of
    each line measured about 3 µs per chunk against 0.7 µs for this (the whole pass-through costs a few µs
    per chunk), and the check still tells events from text, HTML, truncated lines and `data: not json`. A line
    split across chunks is carried as its first bytes and its last two, so nothing is held and nothing copied.
    """

    __slots__ = ("call", "done_ok", "end", "head")

    def __init__(self, call: Any, *, done_ok: bool) -> None:
        self.call, self.done_ok = call, done_ok
        self.head = b""  # the first bytes of the line a chunk ended inside ("" when none)
        self.end = b""  # that line's last two bytes so far

    def feed(self, chunk: bytes) -> None:
        lines = chunk.split(b"\n")
        tail = lines.pop()
        start = 0
        if self.head:
            if not lines:  # still inside the same line
                self._carry(tail)
                return
            first = lines[0]
            self.check(self.head if len(self.head) >= _HEAD else self.head + first[:_HEAD], (self.end + first[-2:])[-2:])
            self.head = self.end = b""
            start = 1
        for i in range(start, len(lines)):
            line = lines[i]
            if line and line != b"\r":
                self.check(line, line[-2:])
        if tail:
            self._carry(tail)

    def end_of_stream(self) -> None:
        """The stream ended: an unterminated last line must still be a valid one."""
        if self.head:
            self.check(self.head, self.end)
            self.head = self.end = b""

    def _carry(self, piece: bytes) -> None:
        if len(self.head) < _HEAD:
            self.head = (self.head + piece[:_HEAD])[:_HEAD]
        self.end = (self.end + piece[-2:])[-2:]

    def check(self, start: bytes, end: bytes) -> None:
        """One line, given by its first bytes (or all of it) and its last two."""
        if start.startswith(b"data:"):
            i = 6 if start[5:6] == b" " else 5
            last = end[-2:-1] if end[-1:] == b"\r" else end[-1:]
            if start[i:i + 1] == b"{" and last == b"}":
                return
            if self.done_ok and start[i:i + 6] == b"[DONE]" and last == b"]":
                return
            raise invalid(self.call, "a stream event whose data is not a JSON object")
        if start.startswith(_FIELDS) or start == b"\r":
            return
        raise invalid(self.call, "a stream that is not server-sent events")


async def checked_stream(chunks: AsyncIterator[bytes], check: StreamCheck) -> AsyncIterator[bytes]:
    """`chunks` unchanged, each checked before it is passed on."""
    async for chunk in chunks:
        check.feed(chunk)
        yield chunk
    check.end_of_stream()
