"""A fake Gemini API (generativelanguage v1beta) and Vertex AI (publishers/google) upstream on loopback.

It answers in the documented GenerateContentResponse shapes, streams `?alt=sse` with one whole response
per CRLF-framed event, and refuses what the real APIs refuse: a wrong `x-goog-api-key` (400 API_KEY_INVALID),
a Vertex call without a token its fake token endpoint issued (401 UNAUTHENTICATED), and schema keys
Gemini does not know (`additionalProperties`, `$ref`, ...: 400 "Unknown name"). The last user text is
the cue: `blocked` gets a promptFeedback block, anything else is echoed; with tools, the first function
is called (until a functionResponse arrives).
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

API_KEY = "gm-upstream-key"
_UNKNOWN_SCHEMA_KEYS = ("additionalProperties", "$ref", "$defs", "$schema", "const", "oneOf", "allOf")


def google_error(status: int, code: str, message: str, reason: str | None = None) -> JSONResponse:
    err: dict = {"code": status, "message": message, "status": code}
    if reason:
        err["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                           "domain": "googleapis.com"}]
    return JSONResponse({"error": err}, status_code=status)


def _unknown_key(schema, where: str) -> str | None:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in _UNKNOWN_SCHEMA_KEYS:
                return f"{where}.{key}"
            found = _unknown_key(value, f"{where}.{key}")
            if found:
                return found
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            found = _unknown_key(value, f"{where}[{i}]")
            if found:
                return found
    return None


class FakeGemini:
    """The fake's state; `app` is the ASGI app to serve. `tokens` is the set of Vertex tokens to accept."""

    def __init__(self, tokens: set[str] | None = None) -> None:
        self.requests: list[dict] = []
        self.tokens = tokens if tokens is not None else set()
        self.app = Starlette(routes=[
            Route("/v1beta/models/{target}", self.gemini, methods=["POST"]),
            Route("/v1/projects/{project}/locations/{location}/publishers/google/models/{target}", self.vertex,
                  methods=["POST"]),
        ])

    def clear(self) -> None:
        self.requests.clear()

    async def _record(self, request: Request) -> dict:
        body = orjson.loads(await request.body())
        self.requests.append({"path": request.url.path, "query": str(request.url.query),
                              "headers": dict(request.headers), "body": body})
        return body

    async def gemini(self, request: Request) -> Response:
        body = await self._record(request)
        if request.headers.get("x-goog-api-key") != API_KEY:
            return google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                                "API_KEY_INVALID")
        return await self.dispatch(request, body)

    async def vertex(self, request: Request) -> Response:
        body = await self._record(request)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            return google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.",
                                "ACCESS_TOKEN_TYPE_UNSUPPORTED")
        return await self.dispatch(request, body)

    async def dispatch(self, request: Request, body: dict) -> Response:
        model, _, method = request.path_params["target"].partition(":")
        if method == "batchEmbedContents":
            return JSONResponse({"embeddings": [{"values": [0.5, float(i)]} for i, _ in enumerate(body["requests"])]})
        if method == "predict":
            return JSONResponse({"predictions": [
                {"embeddings": {"statistics": {"truncated": False, "token_count": 2}, "values": [0.25, float(i)]}}
                for i, _ in enumerate(body["instances"])]})
        bad = _unknown_key(body.get("tools"), "tools") or _unknown_key(body.get("generationConfig"), "generation_config")
        if bad:
            return google_error(400, "INVALID_ARGUMENT", f'Invalid JSON payload received. Unknown name "{bad}": '
                                                         "Cannot find field.")
        for content in body["contents"]:
            if content.get("role") not in ("user", "model"):
                return google_error(400, "INVALID_ARGUMENT", "Please use a valid role: user, model.")
        response = self.answer(body, model)
        if method == "streamGenerateContent":
            return self.stream(response, request.query_params.get("alt") == "sse")
        return JSONResponse(response)

    def answer(self, body: dict, model: str) -> dict:
        last = body["contents"][-1]["parts"]
        text = " ".join(p["text"] for p in last if "text" in p)
        usage = {"promptTokenCount": 7, "candidatesTokenCount": 5, "totalTokenCount": 12}
        if text == "blocked":
            return {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]},
                "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}, "modelVersion": model}
        declarations = [d for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]
        answered = any("functionResponse" in p for p in last)
        if declarations and not answered:
            parts = [{"functionCall": {"name": declarations[0]["name"], "args": {"location": "Boston, MA"}},
                      "thoughtSignature": "c2lnbmF0dXJl"}]
        elif answered:
            response = next(p["functionResponse"] for p in last if "functionResponse" in p)
            parts = [{"text": "tool said " + orjson.dumps(response["response"]).decode()}]
        else:
            parts = [{"text": "echo: " + text}]
        return {"candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": usage, "modelVersion": model, "responseId": "fake-response-1"}

    def stream(self, response: dict, sse: bool) -> Response:
        if not sse:  # without alt=sse the API streams one JSON array; relaykit always asks for SSE
            return google_error(400, "INVALID_ARGUMENT", "the fake only streams with alt=sse")
        events = [response]
        candidates = response.get("candidates")
        if candidates and "text" in candidates[0]["content"]["parts"][0]:
            words = candidates[0]["content"]["parts"][0]["text"].split(" ")
            events = []
            for i, word in enumerate(words):
                piece = {"candidates": [{"content": {"parts": [{"text": (" " if i else "") + word}], "role": "model"},
                                         "index": 0}], "modelVersion": response["modelVersion"]}
                if i == len(words) - 1:
                    piece["candidates"][0]["finishReason"] = "STOP"
                    piece["usageMetadata"] = response["usageMetadata"]
                events.append(piece)

        async def body():
            for e in events:
                yield b"data: " + orjson.dumps(e) + b"\r\n\r\n"
                await asyncio.sleep(0)

        return StreamingResponse(body(), media_type="text/event-stream")
