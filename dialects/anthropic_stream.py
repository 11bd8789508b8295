"""Canonical OpenAI chunks → Anthropic's exact SSE event sequence, and the guard for native Anthropic streams.

The sequence the official SDK's stream helpers expect: message_start, then per content block
content_block_start · content_block_delta… · content_block_stop (a ping after the first start),
then message_delta (stop_reason, usage) and message_stop. An error once bytes have gone out is an
in-band `event: error`, as Anthropic itself sends it.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable

import orjson

from kernel.errors import GatewayError
from kernel.guards.secrets import scrub_marked, unchanged

STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
               "content_filter": "refusal"}
PING = b'event: ping\ndata: {"type":"ping"}\n\n'
STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
# Anthropic's own in-band error event (which may echo the key it was sent), anchored to its line start:
# inside a JSON string a newline is escaped, so text that merely says "event: error" does not match.
ERROR_MARK = b"\nevent: error"


# What an id keeps of an upstream's: Anthropic's ids are `msg_` and letters, digits, `_` (and `-` in tool ids).
_NOT_ID = re.compile(r"[^A-Za-z0-9_]")


def message_id(upstream: object) -> str:
    """An Anthropic `msg_…` id for a message built from another provider's answer: the upstream's id kept
    readable (`chatcmpl-abc` → `msg_abc`, so logs on both sides still match), or a random one when it has none."""
    if isinstance(upstream, str):
        if upstream.startswith("msg_"):
            return upstream
        rest = _NOT_ID.sub("", upstream.removeprefix("chatcmpl-"))[:64]
        if rest:
            return "msg_" + rest
    return "msg_" + os.urandom(12).hex()


def event(name: str, payload: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def error_event(payload: dict) -> bytes:
    return event("error", payload)


def anthropic_usage(u: dict | None) -> dict:
    """OpenAI usage → Anthropic usage (Anthropic counts cached input apart from input_tokens)."""
    u = u or {}
    cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    written = u.get("cache_creation_input_tokens") or 0
    prompt = u.get("prompt_tokens") or 0
    return {"input_tokens": max(0, prompt - cached - written), "output_tokens": u.get("completion_tokens") or 0,
            "cache_creation_input_tokens": written, "cache_read_input_tokens": cached}


class _Blocks:
    """Anthropic content blocks, numbered from 0, one open at a time: each opened, given its deltas, and closed
    before the next opens, as the SDK's stream accumulator demands.

    OpenAI may interleave the argument deltas of several tool calls (call 0, call 1, call 0 ...), and nothing
    says when a call's arguments are complete until the stream ends. So the first tool call streams live, and
    whatever arrives once it is open (another call's deltas, late text or thinking) is held and sent whole at
    the end, when its turn comes: thinking, then text, then the held tool calls in index order.
    """

    __slots__ = ("held", "held_text", "held_thinking", "index", "kind", "live_tool", "msg_id")

    def __init__(self) -> None:
        self.index = -1
        self.kind: str | None = None
        self.live_tool: int | None = None  # the OpenAI index of the tool call streaming in the open block
        self.held: dict[int, list] = {}  # OpenAI tool-call index → [id, name, argument parts], sent at the end
        self.held_text: list[str] = []
        self.held_thinking: list[str] = []
        self.msg_id = ""

    def close(self) -> list[bytes]:
        if self.kind is None:
            return []
        self.kind = None
        return [event("content_block_stop", {"type": "content_block_stop", "index": self.index})]

    def open(self, kind: str, block: dict) -> list[bytes]:
        out = self.close()
        self.index += 1
        self.kind = kind
        out.append(event("content_block_start", {"type": "content_block_start", "index": self.index,
                                                 "content_block": block}))
        if self.index == 0:
            out.append(PING)
        return out

    def _delta(self, delta: dict) -> bytes:
        return event("content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta})

    def text(self, kind: str, piece: str) -> list[bytes]:
        """A piece of text or thinking: streamed in its own block, or held once a tool call has opened."""
        if self.live_tool is not None:
            (self.held_thinking if kind == "thinking" else self.held_text).append(piece)
            return []
        out = self.open(kind, _BLOCK[kind]) if self.kind != kind else []
        out.append(self._delta({"type": _DELTA[kind], kind: piece}))
        return out

    def tool(self, tc: dict) -> list[bytes]:
        idx = tc.get("index", 0)
        fn = tc.get("function") or {}
        args = fn.get("arguments")
        if self.live_tool is None:
            self.live_tool = idx
            out = self.open("tool", {"type": "tool_use", "id": tc.get("id") or self.tool_id(idx),
                                     "name": fn.get("name") or "", "input": {}})
        elif idx == self.live_tool:
            out = []
        else:
            held = self.held.get(idx)
            if held is None:
                held = self.held[idx] = [tc.get("id"), fn.get("name"), []]
            held[0] = held[0] or tc.get("id")
            held[1] = held[1] or fn.get("name")
            if args:
                held[2].append(args)
            return []
        if args:
            out.append(self._delta({"type": "input_json_delta", "partial_json": args}))
        return out

    def tool_id(self, idx: int) -> str:
        return f"toolu_{self.msg_id[4:]}_{idx}"

    def finish(self) -> list[bytes]:
        """Close the open block, then send what was held, each block whole."""
        out = self.close()
        for kind, pieces in (("thinking", self.held_thinking), ("text", self.held_text)):
            if pieces:
                out += self.open(kind, _BLOCK[kind])
                out.append(self._delta({"type": _DELTA[kind], kind: "".join(pieces)}))
                out += self.close()
        for idx in sorted(self.held):
            tool_id, name, parts = self.held[idx]
            out += self.open("tool", {"type": "tool_use", "id": tool_id or self.tool_id(idx), "name": name or "",
                                      "input": {}})
            if parts:
                out.append(self._delta({"type": "input_json_delta", "partial_json": "".join(parts)}))
            out += self.close()
        return out


_BLOCK = {"text": {"type": "text", "text": ""}, "thinking": {"type": "thinking", "thinking": "", "signature": ""}}
_DELTA = {"text": "text_delta", "thinking": "thinking_delta"}


def message_start(msg_id: str, model: str | None, usage: dict | None = None) -> bytes:
    return event("message_start", {"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": usage or {"input_tokens": 0, "output_tokens": 0}}})


async def encode_stream(chunks: AsyncIterator[dict], model: str | None,
                        scrub: Callable[[bytes], bytes] = unchanged) -> AsyncIterator[bytes]:
    """Canonical chunks → Anthropic events; `model` names the message when the chunks do not; `scrub` masks
    secrets in an error event."""
    blocks = _Blocks()
    started = False
    stop_reason = None
    usage = None
    try:
        async for chunk in chunks:
            out: list[bytes] = []
            if not started:
                started = True
                blocks.msg_id = message_id(chunk.get("id"))
                out.append(message_start(blocks.msg_id, chunk.get("model") or model))
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                if choice.get("index", 0) != 0:
                    continue  # Anthropic has one message per request
                delta = choice.get("delta") or {}
                thinking = delta.get("reasoning_content") or delta.get("reasoning")
                if thinking:
                    out += blocks.text("thinking", thinking)
                if delta.get("content"):
                    out += blocks.text("text", delta["content"])
                for tc in delta.get("tool_calls") or ():
                    out += blocks.tool(tc)
                if choice.get("finish_reason"):
                    stop_reason = STOP_REASON.get(choice["finish_reason"], "end_turn")
            if out:
                yield b"".join(out)
    except GatewayError as err:
        if not started:
            raise  # nothing sent yet: the client gets an ordinary error response with its status
        yield scrub(error_event(error_payload(err)))
        return
    if not started:
        yield message_start(message_id(None), model)
    tail = blocks.finish()
    tail.append(event("message_delta", {"type": "message_delta",
                                        "delta": {"stop_reason": stop_reason or "end_turn", "stop_sequence": None},
                                        "usage": anthropic_usage(usage)}))
    tail.append(STOP)
    yield b"".join(tail)


async def guard_native(chunks: AsyncIterator[bytes], scrub: Callable[[bytes], bytes] = unchanged) -> AsyncIterator[bytes]:
    """Anthropic's own stream, passed through untouched but for its own error events, which are scrubbed of
    secrets; a failure mid-stream becomes an in-band error event."""
    sent = False
    try:
        async for chunk in scrub_marked(chunks, ERROR_MARK, scrub):
            sent = True
            yield chunk
    except GatewayError as err:
        if not sent:
            raise
        yield b"\n\n" + scrub(error_event(error_payload(err)))


def error_payload(err: GatewayError) -> dict:
    return {"type": "error", "error": {"type": error_type(err), "message": err.message}}


# Anthropic's error types by HTTP status (https://docs.anthropic.com/en/api/errors).
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large",
               429: "rate_limit_error", 500: "api_error", 503: "overloaded_error", 529: "overloaded_error"}


def error_type(err: GatewayError) -> str:
    known = ERROR_TYPES.get(err.status)
    if known is not None:
        return known
    return "invalid_request_error" if err.status < 500 else "api_error"
