"""A fake Anthropic Messages API: records each request and answers in Anthropic's documented shapes.

POST /v1/messages answers a Message (or its SSE event stream with Anthropic's exact event names and
order); POST /v1/messages/count_tokens answers {"input_tokens": n}. Like the real API it refuses a
request without x-api-key or anthropic-version, or without max_tokens.

The model name is its cue: `fail-429`, `fail-529` (overloaded), `fail-400`, `context-too-long`,
`stream-error` (an in-band `error` event after the first text delta), `thinking` (a thinking block
first); any other model answers with text, or with a tool_use block when tools are given and the
last turn is not a tool_result. Tests can also queue exact responses with `script`, and set `extra_headers`
(cleared by `clear`) for headers every answer carries, such as anthropic-ratelimit-*.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

USAGE = {"input_tokens": 21, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4, "output_tokens": 9,
         "service_tier": "standard"}


def error(status: int, type_: str, message: str, headers: dict | None = None) -> Response:
    body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": "req_fake"}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def sse(name: str, payload: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def last_text(messages: list) -> tuple[str, bool]:
    """The last turn's text, and whether it carried a tool_result."""
    content = messages[-1].get("content")
    if isinstance(content, str):
        return content, False
    texts, tool_result = [], False
    for block in content:
        if block.get("type") == "text":
            texts.append(block["text"])
        elif block.get("type") == "tool_result":
            tool_result = True
            inner = block.get("content")
            texts.append(inner if isinstance(inner, str) else "".join(b.get("text", "") for b in inner or ()))
    return " ".join(texts), tool_result


def answer(body: dict) -> dict:
    model = body["model"]
    text, after_tool = last_text(body["messages"])
    content: list[dict] = []
    if model == "thinking":
        content.append({"type": "thinking", "thinking": "Let me think.", "signature": "sig_fake=="})
    tools = [t for t in body.get("tools") or () if "input_schema" in t]
    choice = body.get("tool_choice") or {"type": "auto"}
    if tools and not after_tool and choice.get("type") != "none":
        tool = next((t for t in tools if t["name"] == choice.get("name")), tools[0])
        keys = list(tool["input_schema"].get("properties") or {})
        tool_input = {k: "Boston, MA" if i == 0 else "celsius" for i, k in enumerate(keys)}
        if choice.get("type") == "auto":
            content.append({"type": "text", "text": "Let me check."})  # a forced tool call comes without words
        content.append({"type": "tool_use", "id": "toolu_fake01", "name": tool["name"], "input": tool_input})
        stop = "tool_use"
    else:
        content.append({"type": "text", "text": f"echo: {text}"})
        stop = "end_turn"
    return {"id": "msg_fake01", "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop, "stop_sequence": None, "usage": USAGE}


async def events(message: dict, fail: bool):
    """Anthropic's stream for a finished message: the documented event names, order and delta types."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**USAGE, "output_tokens": 1}}
    yield sse("message_start", {"type": "message_start", "message": start})
    for i, block in enumerate(message["content"]):
        kind = block["type"]
        empty = {"type": "text", "text": ""} if kind == "text" else (
            {"type": "thinking", "thinking": "", "signature": ""} if kind == "thinking" else {**block, "input": {}})
        yield sse("content_block_start", {"type": "content_block_start", "index": i, "content_block": empty})
        if i == 0:
            yield sse("ping", {"type": "ping"})
        if kind == "text":
            words = block["text"].split(" ")
            for j, word in enumerate(words):
                delta = {"type": "text_delta", "text": word if j == 0 else " " + word}
                yield sse("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta})
                if fail:
                    yield sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
                    return
                await asyncio.sleep(0)
        elif kind == "thinking":
            yield sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                              "delta": {"type": "thinking_delta", "thinking": block["thinking"]}})
            yield sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                              "delta": {"type": "signature_delta", "signature": block["signature"]}})
        else:
            raw = orjson.dumps(block["input"]).decode()
            for part in ("", raw[: len(raw) // 2], raw[len(raw) // 2:]):
                yield sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                                  "delta": {"type": "input_json_delta", "partial_json": part}})
        yield sse("content_block_stop", {"type": "content_block_stop", "index": i})
    yield sse("message_delta", {"type": "message_delta",
                                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                "usage": {"output_tokens": USAGE["output_tokens"]}})
    yield sse("message_stop", {"type": "message_stop"})


class FakeAnthropic:
    """The fake's state; `app` is the ASGI app to serve."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[Response] = []
        self.extra_headers: dict[str, str] = {}
        self.url = ""
        self.app = Starlette(routes=[Route("/v1/messages", self.messages, methods=["POST"]),
                                     Route("/v1/messages/count_tokens", self.count_tokens, methods=["POST"])])

    def clear(self) -> None:
        self.requests.clear()
        self.script.clear()
        self.extra_headers.clear()

    async def record(self, request: Request) -> tuple[dict | None, Response | None]:
        raw = await request.body()
        body = orjson.loads(raw) if raw else None
        self.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body, "raw": raw})
        if not request.headers.get("x-api-key"):
            return body, error(401, "authentication_error", "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return body, error(400, "invalid_request_error", "anthropic-version: header is required")
        if self.script:
            return body, self.script.pop(0)
        return body, None

    async def count_tokens(self, request: Request) -> Response:
        body, refused = await self.record(request)
        if refused is not None:
            return refused
        words = sum(len(last_text([m])[0].split()) for m in body["messages"])
        return Response(orjson.dumps({"input_tokens": 10 + words}), media_type="application/json")

    async def messages(self, request: Request) -> Response:
        resp = await self.answer_messages(request)
        for name, value in self.extra_headers.items():
            resp.headers[name] = value
        return resp

    async def answer_messages(self, request: Request) -> Response:
        body, refused = await self.record(request)
        if refused is not None:
            return refused
        if "max_tokens" not in body:
            return error(400, "invalid_request_error", "max_tokens: Field required")
        model = body.get("model", "")
        if model == "fail-429":
            return error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
                         {"retry-after": "3"})
        if model == "fail-529":
            return error(529, "overloaded_error", "Overloaded")
        if model == "fail-400":
            return error(400, "invalid_request_error", "temperature: range: 0..1")
        if model == "context-too-long":
            return error(400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum")
        message = answer(body)
        if not body.get("stream"):
            return Response(orjson.dumps(message), media_type="application/json",
                            headers={"request-id": "req_fake"})
        return StreamingResponse(events(message, model == "stream-error"), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})
