"""A fake Azure OpenAI resource: /openai/deployments/{deployment}/... with api-version and Azure's credentials.

It answers like the OpenAI fake (same model-name cues: `fail-429`, `policy`, ...), after checking what Azure
checks: an `api-version` query (404 "Resource not found" without one, as Azure answers) and either a known
`api-key` or an Entra ID `Authorization: Bearer` token (401 otherwise). Streams open with Azure's
prompt-filter chunk, whose `choices` is empty, so clients and the gateway are tested against it.
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.openai_upstream import FakeOpenAI

PROMPT_FILTER_CHUNK = {
    "choices": [], "created": 0, "id": "", "model": "", "object": "",
    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
        "hate": {"filtered": False, "severity": "safe"}, "self_harm": {"filtered": False, "severity": "safe"},
        "sexual": {"filtered": False, "severity": "safe"}, "violence": {"filtered": False, "severity": "safe"}}}],
}
OPERATIONS = ("chat/completions", "completions", "embeddings", "images/generations", "audio/speech",
              "audio/transcriptions")


def azure_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class FakeAzure(FakeOpenAI):
    """The OpenAI fake's answers behind Azure's URL layout and credential checks."""

    def __init__(self, api_key: str = "azure-key", ad_token: str = "entra-token") -> None:
        super().__init__()
        self.api_key, self.ad_token = api_key, ad_token
        self.app = Starlette(routes=[Route(f"/openai/deployments/{{deployment}}/{op}", self.azure, methods=["POST"])
                                     for op in OPERATIONS])

    async def azure(self, request: Request) -> Response:
        if "api-version" not in request.query_params:
            await request.body()
            self.requests.append({"path": request.url.path, "query": str(request.url.query),
                                  "headers": dict(request.headers), "body": None, "form": None, "raw": b""})
            return azure_error(404, "404", "Resource not found")
        key = request.headers.get("api-key")
        bearer = request.headers.get("authorization")
        if key != self.api_key and bearer != f"Bearer {self.ad_token}":
            await self.handle(request)  # recorded, so tests can see what was sent
            return azure_error(401, "401", "Access denied due to invalid subscription key or wrong API endpoint. "
                                           "Make sure to provide a valid key for an active subscription and use a "
                                           "correct regional API endpoint for your resource.")
        response = await self.handle(request)
        if isinstance(response, StreamingResponse) and request.url.path.endswith("/chat/completions"):
            inner = response.body_iterator

            async def with_filter_chunk():
                yield b"data: " + orjson.dumps(PROMPT_FILTER_CHUNK) + b"\n\n"
                async for piece in inner:
                    yield piece

            response.body_iterator = with_filter_chunk()
        return response
