"""A fake OpenAI-compatible upstream: records each request and answers in OpenAI's documented shapes.

The model name in a request is its cue: `fail-429`, `fail-500`, `fail-400`, `context-too-long`,
`policy`, `slow-<seconds>`, `stream-break` (stream cut off after two chunks), `flaky-<n>-<tag>` (HTTP 500
for the first n requests naming it, then answers; counts reset by `clear`), `ratelimit-<seconds>` (429 with
that Retry-After), `slow-stream-<seconds>` (stream headers at once, first chunk after a delay); any other
model answers. Tests can also queue exact responses with `script`, and set `extra_headers` (cleared by `clear`) for
headers every answer carries, such as an upstream's x-ratelimit-*.
"""

from __future__ import annotations

import asyncio
import threading
import time

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def error(status: int, message: str, type_: str, code: str | None = None, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": None, "code": code}},
                        status_code=status, headers=headers)


def chat_completion(model: str, content: str, tool_calls: list | None = None) -> dict:
    message = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message = {"role": "assistant", "content": None, "tool_calls": tool_calls, "refusal": None}
    return {
        "id": "chatcmpl-fake123", "object": "chat.completion", "created": 1700000000, "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": "tool_calls" if tool_calls else "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
    }


def chunk(model: str, delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-fake123", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
            "system_fingerprint": "fp_fake", "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                          "finish_reason": finish}]}


def response_object(model: str, text: str, status: str = "completed") -> dict:
    """A Responses API object as OpenAI documents it (one message with output_text)."""
    done = status == "completed"
    return {
        "id": "resp_fake123", "object": "response", "created_at": 1700000000, "status": status, "error": None,
        "incomplete_details": None, "instructions": None, "max_output_tokens": None, "model": model,
        "output": [{"type": "message", "id": "msg_fake123", "status": status, "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}] if done else []}] if done else [],
        "parallel_tool_calls": True, "previous_response_id": None, "reasoning": {"effort": None, "summary": None},
        "store": True, "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
        "top_p": 1.0, "truncation": "disabled", "user": None, "metadata": {},
        "usage": {"input_tokens": 11, "input_tokens_details": {"cached_tokens": 3}, "output_tokens": 5,
                  "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 16} if done else None,
    }


def responses_answer(body: dict) -> Response:
    """POST /v1/responses: an echo of the input, whole or as the documented event stream."""
    model = body["model"]
    given = body.get("input")
    text = f"echo: {given}" if isinstance(given, str) else "echo"
    if not body.get("stream"):
        return JSONResponse(response_object(model, text))

    def event(seq: int, kind: str, **payload) -> bytes:
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, "sequence_number": seq,
                                                                         **payload}) + b"\n\n"

    async def events():
        part = {"type": "output_text", "text": "", "annotations": []}
        item = {"type": "message", "id": "msg_fake123", "status": "in_progress", "role": "assistant", "content": []}
        where = {"item_id": "msg_fake123", "output_index": 0, "content_index": 0}
        yield event(0, "response.created", response=response_object(model, "", "in_progress"))
        yield event(1, "response.in_progress", response=response_object(model, "", "in_progress"))
        yield event(2, "response.output_item.added", output_index=0, item=item)
        yield event(3, "response.content_part.added", part=part, **where)
        yield event(4, "response.output_text.delta", delta=text, logprobs=[], **where)
        yield event(5, "response.output_text.done", text=text, logprobs=[], **where)
        yield event(6, "response.content_part.done", part={**part, "text": text}, **where)
        yield event(7, "response.output_item.done", output_index=0, item={
            **item, "status": "completed", "content": [{**part, "text": text}]})
        yield event(8, "response.completed", response=response_object(model, text))

    return StreamingResponse(events(), media_type="text/event-stream")


class FakeOpenAI:
    """The fake's state; `app` is the ASGI app to serve."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[Response] = []
        self.counts: dict[str, int] = {}  # requests seen per `flaky-` model
        self.gate = threading.Event()  # model `gated` streams one chunk, then waits for the test to open this
        self.extra_headers: dict[str, str] = {}
        routes = [Route(p, self.handle, methods=["GET", "POST", "DELETE"]) for p in (
            "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/moderations",
            "/v1/images/generations", "/v1/audio/speech", "/v1/audio/transcriptions", "/v1/audio/translations",
            "/v1/files", "/v1/files/{rest:path}", "/v1/batches", "/v1/batches/{rest:path}",
            "/v1/fine_tuning/jobs", "/v1/fine_tuning/jobs/{rest:path}", "/v1/assistants", "/v1/threads",
            "/v1/threads/{rest:path}", "/v1/responses", "/v1/responses/{rest:path}")]
        self.app = Starlette(routes=routes)

    def clear(self) -> None:
        self.requests.clear()
        self.script.clear()
        self.counts.clear()
        self.gate.clear()
        self.extra_headers.clear()

    async def handle(self, request: Request) -> Response:
        resp = await self.answer(request)
        for name, value in self.extra_headers.items():
            resp.headers[name] = value
        return resp

    async def answer(self, request: Request) -> Response:
        raw = await request.body()
        ctype = request.headers.get("content-type", "")
        body = None
        form = None
        if ctype.startswith("application/json") and raw:
            body = orjson.loads(raw)
        elif ctype.startswith("multipart/form-data"):
            parsed = await request.form()
            form = {k: (v if isinstance(v, str) else {"filename": v.filename, "size": len(await v.read())})
                    for k, v in parsed.multi_items()}
        self.requests.append({"method": request.method, "path": request.url.path, "query": str(request.url.query),
                              "headers": dict(request.headers), "body": body, "form": form, "raw": raw})
        if self.script:
            return self.script.pop(0)
        path = request.url.path
        model = (body or form or {}).get("model", "")
        cue = self.cue(model)
        if cue is not None:
            return await cue
        if path.endswith("/chat/completions"):
            return self.chat(body)
        if path.endswith("/completions"):
            return JSONResponse({"id": "cmpl-fake", "object": "text_completion", "created": 1700000000, "model": model,
                                 "choices": [{"index": 0, "text": "fake completion", "logprobs": None,
                                              "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}})
        if path.endswith("/embeddings"):
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return JSONResponse({"object": "list", "model": model, "data": [
                {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(len(inputs))],
                "usage": {"prompt_tokens": 3, "total_tokens": 3}})
        if path.endswith("/moderations"):
            return JSONResponse({"id": "modr-fake", "model": model or "omni-moderation-latest", "results": [
                {"flagged": False, "categories": {"hate": False}, "category_scores": {"hate": 0.001}}]})
        if path.endswith("/images/generations"):
            return JSONResponse({"created": 1700000000, "data": [{"url": "https://example.invalid/img.png",
                                                                   "revised_prompt": body["prompt"]}]})
        if path.endswith("/audio/speech"):
            async def audio():
                for i in range(4):
                    yield bytes([i]) * 1024
                    await asyncio.sleep(0.01)
            return StreamingResponse(audio(), media_type="audio/mpeg")
        if path == "/v1/responses" and request.method == "POST":
            return responses_answer(body)
        if path.endswith(("/audio/transcriptions", "/audio/translations")):
            return JSONResponse({"text": f"heard {form['file']['size']} bytes"})
        return self.forwarded(request, body)

    def cue(self, model: str):
        async def respond(resp):
            return resp
        if model == "fail-429":
            return respond(error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded",
                                 {"retry-after": "1"}))
        if model == "fail-500":
            return respond(error(500, "The server had an error while processing your request.", "server_error"))
        if model == "fail-400":
            return respond(error(400, "Invalid value for 'temperature'.", "invalid_request_error", "invalid_value"))
        if model == "context-too-long":
            return respond(error(400, "This model's maximum context length is 8192 tokens. However, your messages "
                                      "resulted in 9000 tokens.", "invalid_request_error", "context_length_exceeded"))
        if model == "policy":
            return respond(error(400, "Your request was rejected as a result of our safety system.",
                                 "invalid_request_error", "content_policy_violation"))
        if model.startswith("flaky-"):
            seen = self.counts[model] = self.counts.get(model, 0) + 1
            if seen <= int(model.split("-")[1]):
                return respond(error(500, "The server had an error while processing your request.", "server_error"))
            return None
        if model.startswith("ratelimit-"):
            return respond(error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded",
                                 {"retry-after": model[10:]}))
        if model.startswith("slow-stream-"):
            async def late():
                await asyncio.sleep(float(model[12:]))
                yield b"data: " + orjson.dumps(chunk(model, {"role": "assistant", "content": "late"})) + b"\n\n"
                yield b"data: [DONE]\n\n"
            return respond(StreamingResponse(late(), media_type="text/event-stream"))
        if model.startswith("slow-"):
            async def slow():
                await asyncio.sleep(float(model[5:]))
                return JSONResponse(chat_completion(model, "slow answer"))
            return slow()
        return None

    def chat(self, body: dict) -> Response:
        model = body["model"]
        tools = body.get("tools")
        tool_calls = None
        if tools and body.get("tool_choice") != "none" and body["messages"][-1]["role"] != "tool":
            fn = tools[0]["function"]["name"]
            tool_calls = [{"id": "call_abc", "type": "function",
                           "function": {"name": fn, "arguments": '{"location": "Boston, MA"}'}}]
        last = body["messages"][-1].get("content")
        content = f"echo: {last}" if isinstance(last, str) else "echo"
        if not body.get("stream"):
            return JSONResponse(chat_completion(model, content, tool_calls))
        include_usage = (body.get("stream_options") or {}).get("include_usage")

        async def events():
            yield b"data: " + orjson.dumps(chunk(model, {"role": "assistant", "content": ""})) + b"\n\n"
            if tool_calls:
                tc = tool_calls[0]
                yield b"data: " + orjson.dumps(chunk(model, {"tool_calls": [
                    {"index": 0, "id": tc["id"], "type": "function",
                     "function": {"name": tc["function"]["name"], "arguments": ""}}]})) + b"\n\n"
                yield b"data: " + orjson.dumps(chunk(model, {"tool_calls": [
                    {"index": 0, "function": {"arguments": tc["function"]["arguments"]}}]})) + b"\n\n"
            else:
                if model == "gated":
                    while not self.gate.is_set():
                        await asyncio.sleep(0.005)
                for i, word in enumerate(content.split(" ")):
                    if model == "stream-break" and i == 2:
                        raise RuntimeError("upstream died mid-stream")
                    yield b"data: " + orjson.dumps(chunk(model, {"content": (" " if i else "") + word})) + b"\n\n"
                    await asyncio.sleep(0.005)
            yield b"data: " + orjson.dumps(chunk(model, {}, "tool_calls" if tool_calls else "stop")) + b"\n\n"
            if include_usage:
                yield b"data: " + orjson.dumps({**chunk(model, {}), "choices": [], "usage": {
                    "prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}}) + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def forwarded(self, request: Request, body) -> Response:
        return JSONResponse({"object": "forwarded", "method": request.method, "path": request.url.path,
                             "query": str(request.url.query), "created": int(time.time())})
