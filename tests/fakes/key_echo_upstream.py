"""A hostile upstream that echoes the credential it was sent back in its errors, as real APIs do.

OpenAI answers a bad key with "Incorrect API key provided: sk-proj-abc...1111"; others echo more of it, or
all of it, in a message, a body or a header. This fake does the worst of each, with the whole key, in the
real APIs' envelopes. It speaks OpenAI's routes, Anthropic's /v1/messages and Vertex AI's
`:generateContent`; the model name is the cue:

  echo-401      401, OpenAI's real "Incorrect API key provided: <key>. You can find your API key at ..."
  echo-400      400 invalid_request_error quoting the key in `message` and `param`
  echo-500      500 with a plain-text body that dumps the request's Authorization header
  echo-stream   200 stream: one chunk, then an in-band error event quoting the key; the stream ends there
  echo-split    like echo-stream, but the error event arrives a few bytes at a time
  ok            a normal answer: the last message's text back (a 2xx body is never scrubbed)

Every error also carries the key in an `x-echo-key` header. Anthropic answers in its own envelope
({"type": "error", "error": {...}}) and stream events (`event: error`); /v1/files* always answers 401 with
the key. `requests` records what each request presented.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

OPENAI_401 = ("Incorrect API key provided: {key}. You can find your API key at "
              "https://platform.openai.com/account/api-keys.")


def presented(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:]
    return request.headers.get("x-api-key") or auth


class FakeKeyEcho:
    """The fake's state; `app` is the ASGI app to serve."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.url = ""
        openai_paths = ("/v1/chat/completions", "/v1/embeddings", "/v1/completions")
        routes = [Route(p, self.openai, methods=["POST"]) for p in openai_paths]
        routes += [Route("/v1/files", self.files, methods=["GET", "POST"]),
                   Route("/v1/files/{rest:path}", self.files, methods=["GET", "POST", "DELETE"]),
                   Route("/v1/messages", self.anthropic, methods=["POST"]),
                   Route("/v1/{scope:path}:generateContent", self.vertex, methods=["POST"]),
                   Route("/v1/{scope:path}:streamGenerateContent", self.vertex, methods=["POST"])]
        self.app = Starlette(routes=routes)

    def clear(self) -> None:
        self.requests.clear()

    async def record(self, request: Request) -> tuple[dict, str]:
        raw = await request.body()
        body = orjson.loads(raw) if raw[:1] == b"{" else {}
        key = presented(request)
        self.requests.append({"path": request.url.path, "key": key, "body": body})
        return body, key

    async def openai(self, request: Request) -> Response:
        body, key = await self.record(request)
        cue = body.get("model", "")
        headers = {"x-echo-key": key}
        if cue == "echo-401":
            return JSONResponse({"error": {"message": OPENAI_401.format(key=key), "type": "invalid_request_error",
                                           "param": None, "code": "invalid_api_key"}}, 401, headers)
        if cue == "echo-400":
            return JSONResponse({"error": {"message": f"Invalid value for 'user': the request signed with {key} "
                                           "may not set it.", "type": "invalid_request_error", "param": key,
                                           "code": "invalid_value"}}, 400, headers)
        if cue == "echo-500":
            return PlainTextResponse(f"upstream proxy error while forwarding\nAuthorization: Bearer {key}\n", 500,
                                     headers)
        if cue in ("echo-stream", "echo-split"):
            error = {"error": {"message": OPENAI_401.format(key=key), "type": "invalid_request_error",
                               "param": None, "code": "invalid_api_key"}}
            return StreamingResponse(self._stream([_openai_chunk("partial")], b"data: " + orjson.dumps(error) + b"\n\n",
                                                  split=cue == "echo-split"), media_type="text/event-stream")
        if body.get("stream"):
            return StreamingResponse(self._stream([_openai_chunk("fine")], b"data: [DONE]\n\n"),
                                     media_type="text/event-stream")
        last = (body.get("messages") or [{}])[-1].get("content")
        return JSONResponse({"id": "chatcmpl-echo", "object": "chat.completion", "created": 1700000000,
                             "model": cue, "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                 "role": "assistant", "content": last if isinstance(last, str) else "fine"}}],
                             "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    async def files(self, request: Request) -> Response:
        _, key = await self.record(request)
        return JSONResponse({"error": {"message": OPENAI_401.format(key=key), "type": "invalid_request_error",
                                       "param": None, "code": "invalid_api_key"}}, 401,
                            {"x-echo-key": key, "content-type": f"application/json; charset=utf-8; key={key}"})

    async def anthropic(self, request: Request) -> Response:
        body, key = await self.record(request)
        cue = body.get("model", "")
        headers = {"x-echo-key": key}
        if cue == "echo-401":
            return _anthropic_error(401, "authentication_error", f"invalid x-api-key: {key}", headers)
        if cue == "echo-400":
            return _anthropic_error(400, "invalid_request_error", f"metadata.user_id: must not be the key {key}", headers)
        if cue == "echo-500":
            return PlainTextResponse(f"upstream proxy error\nx-api-key: {key}\n", 500, headers)
        if cue in ("echo-stream", "echo-split"):
            start = {"type": "message_start", "message": {
                "id": "msg_echo", "type": "message", "role": "assistant", "model": cue, "content": [],
                "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}}
            first = [_sse("message_start", start),
                     _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                                  "content_block": {"type": "text", "text": ""}}),
                     _sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                  "delta": {"type": "text_delta", "text": "partial"}})]
            error = _sse("error", {"type": "error", "error": {"type": "authentication_error",
                                                              "message": f"invalid x-api-key: {key}"}})
            return StreamingResponse(self._stream(first, error, split=cue == "echo-split"),
                                     media_type="text/event-stream")
        return Response(orjson.dumps({"id": "msg_echo", "type": "message", "role": "assistant", "model": cue,
                                      "content": [{"type": "text", "text": "fine"}], "stop_reason": "end_turn",
                                      "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}),
                        media_type="application/json")

    async def vertex(self, request: Request) -> Response:
        _, key = await self.record(request)
        return JSONResponse({"error": {"code": 401, "status": "UNAUTHENTICATED",
                                       "message": f"Request had invalid authentication credentials: {key}"}}, 401,
                            {"x-echo-key": key})

    @staticmethod
    async def _stream(first: list[bytes], last: bytes, split: bool = False):
        for part in first:
            yield part
            await asyncio.sleep(0.01)
        if not split:
            yield last
            return
        for i in range(0, len(last), 7):  # a few bytes per write: the key arrives across several chunks
            yield last[i:i + 7]
            await asyncio.sleep(0.002)


def _openai_chunk(text: str) -> bytes:
    chunk = {"id": "chatcmpl-echo", "object": "chat.completion.chunk", "created": 1700000000, "model": "echo",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _sse(name: str, payload: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def _anthropic_error(status: int, kind: str, message: str, headers: dict) -> Response:
    return Response(orjson.dumps({"type": "error", "error": {"type": kind, "message": message}}), status,
                    headers, media_type="application/json")
