"""A fake Ollama server: native /api/chat (NDJSON stream by default) and /api/embed, plus its OpenAI-style /v1 API.

Answers in the shapes of Ollama's docs/api.md. The model name is the cue: `missing` → 404 "not found,
try pulling it first"; `tool-user` answers with a tool call; anything else echoes the last user message.
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.recording import RecordingFake

CREATED = "2024-07-22T20:33:28.123648Z"


class FakeOllama(RecordingFake):
    """The fake's state; `app` is the ASGI app to serve."""

    def __init__(self) -> None:
        super().__init__()
        self.openai = FakeOpenAI()  # Ollama's /v1 API speaks OpenAI's wire format
        self.openai.requests = self.requests
        self.app = Starlette(routes=[
            Route("/api/chat", self.chat, methods=["POST"]),
            Route("/api/embed", self.embed, methods=["POST"]),
            Route("/v1/chat/completions", self.openai.handle, methods=["POST"]),
            Route("/v1/embeddings", self.openai.handle, methods=["POST"]),
        ])

    async def chat(self, request: Request) -> Response:
        body = await self.record(request)
        model = body["model"]
        if model == "missing":
            return JSONResponse({"error": f'model "{model}" not found, try pulling it first'}, status_code=404)
        last = body["messages"][-1].get("content", "")
        message: dict = {"role": "assistant", "content": f"echo: {last}"}
        if model == "tool-user" and body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            message = {"role": "assistant", "content": "",
                       "tool_calls": [{"function": {"name": name, "arguments": {"location": "Paris"}}}]}
        final = {"model": model, "created_at": CREATED, "done": True, "done_reason": "stop",
                 "total_duration": 1000, "load_duration": 10, "prompt_eval_count": 7, "eval_count": 5}
        if not body.get("stream", True):  # Ollama streams unless told not to
            return JSONResponse({**final, "message": message})

        async def lines():
            if message.get("tool_calls"):
                yield orjson.dumps({"model": model, "created_at": CREATED, "message": message, "done": False}) + b"\n"
            else:
                for i, word in enumerate(message["content"].split(" ")):
                    piece = {"role": "assistant", "content": (" " if i else "") + word}
                    yield orjson.dumps({"model": model, "created_at": CREATED, "message": piece, "done": False}) + b"\n"
            yield orjson.dumps({**final, "message": {"role": "assistant", "content": ""}}) + b"\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def embed(self, request: Request) -> Response:
        body = await self.record(request)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return JSONResponse({"model": body["model"], "embeddings": [[0.25, -0.5, 0.75] for _ in inputs],
                             "total_duration": 1000, "load_duration": 10, "prompt_eval_count": len(inputs)})
