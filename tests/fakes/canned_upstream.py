"""A fake upstream that answers every wire format with a recorded success, whatever the request body says.

The per-provider fakes compute their answers from the body, so a body of an odd (but valid) shape can
trip the fake itself; this one only records each request and replies with the recorded fixtures under
tests/fixtures/ (OpenAI, Anthropic, Gemini, Cohere, Ollama; plain or streamed as the request asks). That
makes it the upstream for tests that throw random or huge bodies at the gateway: any failure is the
gateway's. Bodies over 1 MiB are recorded by size only, so a huge request costs the test process no parsing.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

FIXTURES = Path(__file__).parent.parent / "fixtures"
PARSE_LIMIT = 1 << 20


def _read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


OPENAI_COMPLETION = orjson.dumps({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m", "choices": [
    {"index": 0, "text": "ok", "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
OPENAI_COMPLETION_STREAM = (b"data: " + orjson.dumps({"id": "cmpl-1", "object": "text_completion", "created": 1,
                                                      "model": "m", "choices": [{"index": 0, "text": "ok",
                                                                                 "finish_reason": "stop"}]})
                            + b"\n\ndata: [DONE]\n\n")
OPENAI_EMBEDDINGS = orjson.dumps({"object": "list", "model": "m", "data": [
    {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}], "usage": {"prompt_tokens": 1, "total_tokens": 1}})

# path → (plain answer, streamed answer, streamed media type)
ANSWERS: dict[str, tuple[bytes, bytes | None, str]] = {
    "/v1/chat/completions": (_read("openai/chat_response.json"), _read("openai/chat_stream.txt"), "text/event-stream"),
    "/v1/completions": (OPENAI_COMPLETION, OPENAI_COMPLETION_STREAM, "text/event-stream"),
    "/v1/embeddings": (OPENAI_EMBEDDINGS, None, ""),
    "/v1/messages": (_read("anthropic/message_text.json"), _read("anthropic/stream_text.txt"), "text/event-stream"),
    "/v1/messages/count_tokens": (b'{"input_tokens": 3}', None, ""),
    "/v2/chat": (_read("cohere/chat_response.json"), _read("cohere/chat_stream.txt"), "text/event-stream"),
    "/v2/embed": (_read("cohere/embed_response.json"), None, ""),
    "/api/chat": (_read("ollama_chat/chat_response.json"), _read("ollama_chat/chat_stream.ndjson"),
                  "application/x-ndjson"),
    "/api/embed": (_read("ollama_chat/embed_response.json"), None, ""),
}
GEMINI = {"generateContent": _read("gemini/chat_response.json"),
          "streamGenerateContent": _read("gemini/chat_stream.txt"),
          "batchEmbedContents": _read("gemini/embed_response.json")}


class CannedUpstream:
    """`requests` holds {"path", "size", "body"} per request received (`body` None past PARSE_LIMIT)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        routes = [Route(path, self.handle, methods=["POST"]) for path in ANSWERS]
        routes.append(Route("/v1beta/models/{target}", self.gemini, methods=["POST"]))
        self.app = Starlette(routes=routes)

    def clear(self) -> None:
        self.requests.clear()

    async def record(self, request: Request):
        raw = await request.body()
        body = orjson.loads(raw) if raw and len(raw) <= PARSE_LIMIT else None
        self.requests.append({"path": request.url.path, "size": len(raw), "body": body})
        return body

    async def handle(self, request: Request) -> Response:
        body = await self.record(request)
        plain, streamed, media = ANSWERS[request.url.path]
        if streamed is not None and isinstance(body, dict) and body.get("stream") is True:
            return Response(streamed, media_type=media)
        return Response(plain, media_type="application/json")

    async def gemini(self, request: Request) -> Response:
        await self.record(request)
        method = request.path_params["target"].rpartition(":")[2]
        media = "text/event-stream" if method == "streamGenerateContent" else "application/json"
        return Response(GEMINI[method], media_type=media)
