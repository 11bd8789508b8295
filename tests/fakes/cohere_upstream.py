"""A fake Cohere v2 API: /v2/chat (JSON, or typed SSE events with `stream: true`) and /v2/embed.

Shapes follow docs.cohere.com/reference/chat, chat-stream and embed. The model name is the cue:
`tool-user` answers with a tool call, `bad-token` answers 498 (Cohere's invalid-token status).
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.recording import RecordingFake

USAGE = {"billed_units": {"input_tokens": 5, "output_tokens": 3}, "tokens": {"input_tokens": 70, "output_tokens": 3}}


def event(kind: str, payload: dict) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **payload}) + b"\n\n"


class FakeCohere(RecordingFake):
    """The fake's state; `app` is the ASGI app to serve."""

    def __init__(self) -> None:
        super().__init__()
        self.app = Starlette(routes=[Route("/v2/chat", self.chat, methods=["POST"]),
                                     Route("/v2/embed", self.embed, methods=["POST"])])

    async def chat(self, request: Request) -> Response:
        body = await self.record(request)
        if body["model"] == "bad-token":
            return JSONResponse({"id": "e1", "message": "invalid api token"}, status_code=498)
        last = body["messages"][-1]["content"]
        text = f"echo: {last}"
        tool = body["model"] == "tool-user" and body.get("tools")
        if not body.get("stream"):
            if tool:
                message = {"role": "assistant", "tool_plan": "I will call the tool.", "tool_calls": [
                    {"id": "get_weather_abc", "type": "function",
                     "function": {"name": body["tools"][0]["function"]["name"], "arguments": '{"location":"Paris"}'}}]}
                return JSONResponse({"id": "m1", "finish_reason": "TOOL_CALL", "message": message, "usage": USAGE})
            return JSONResponse({"id": "m1", "finish_reason": "COMPLETE", "usage": USAGE,
                                 "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}})

        async def events():
            yield event("message-start", {"id": "m1", "delta": {"message": {
                "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}})
            if tool:
                yield event("tool-plan-delta", {"delta": {"message": {"tool_plan": "I will call the tool."}}})
                yield event("tool-call-start", {"index": 0, "delta": {"message": {"tool_calls": {
                    "id": "get_weather_abc", "type": "function",
                    "function": {"name": body["tools"][0]["function"]["name"], "arguments": ""}}}}})
                for piece in ('{"location":', '"Paris"}'):
                    yield event("tool-call-delta", {"index": 0, "delta": {"message": {"tool_calls": {
                        "function": {"arguments": piece}}}}})
                yield event("tool-call-end", {"index": 0})
                finish = "TOOL_CALL"
            else:
                yield event("content-start", {"index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}})
                for i, word in enumerate(text.split(" ")):
                    yield event("content-delta", {"index": 0, "delta": {"message": {"content": {
                        "text": (" " if i else "") + word}}}})
                yield event("content-end", {"index": 0})
                finish = "COMPLETE"
            yield event("message-end", {"delta": {"finish_reason": finish, "usage": USAGE}})

        return StreamingResponse(events(), media_type="text/event-stream")

    async def embed(self, request: Request) -> Response:
        body = await self.record(request)
        return JSONResponse({"id": "e1", "texts": body["texts"], "response_type": "embeddings_by_type",
                             "embeddings": {"float": [[0.5, 0.25] for _ in body["texts"]]},
                             "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": len(body["texts"])}}})
