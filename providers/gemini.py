"""Google AI Studio (`gemini/<model>`): generateContent, streamGenerateContent over SSE, batchEmbedContents.

The translation itself lives in gemini_request.py / gemini_response.py and is shared with Vertex AI
(providers/vertex.py), which differs only in its URL, its auth and its embeddings call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from kernel.call import Call
from kernel.guards.answers import json_object
from kernel.models import Deployment
from kernel.plugins import ProviderBase
from kernel.registry import register_provider
from kernel.upstream import UpstreamRequest
from providers.gemini_request import chat_body
from providers.gemini_response import chat_response, chat_stream, google_error
from providers.shared.embeddings import embedding_list, embedding_texts
from providers.shared.replies import model_of

CHAT_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "n", "tools", "tool_choice",
    "response_format", "seed", "presence_penalty", "frequency_penalty", "safety_settings", "cached_content",
})
EMBED_PARAMS = frozenset({"dimensions", "encoding_format"})


class GoogleGenAI(ProviderBase):
    """The part Gemini and Vertex AI share; subclasses say where to send a request and how to authenticate."""

    wire = "gemini"
    endpoints = frozenset({"chat", "embeddings"})
    supported_params = CHAT_PARAMS | EMBED_PARAMS

    def model_url(self, d: Deployment, method: str) -> str:
        raise NotImplementedError

    def auth_headers(self, d: Deployment) -> dict[str, str]:
        raise NotImplementedError

    def embed_body(self, d: Deployment, texts: list[str], body: dict) -> tuple[str, dict]:
        raise NotImplementedError

    def embed_vectors(self, resp: dict) -> tuple[list[list[float]], int]:
        raise NotImplementedError

    def build_request(self, call: Call, d: Deployment) -> UpstreamRequest:
        body = call.body
        if d.defaults:
            body = {**d.defaults, **body}
        headers = self.auth_headers(d)
        headers["content-type"] = "application/json"
        if call.endpoint == "embeddings":
            method, payload = self.embed_body(d, embedding_texts(body), body)
            return UpstreamRequest("POST", self.model_url(d, method), headers, content=orjson.dumps(payload))
        if call.stream:
            url = self.model_url(d, "streamGenerateContent") + "?alt=sse"
        else:
            url = self.model_url(d, "generateContent")
        return UpstreamRequest("POST", url, headers, content=orjson.dumps(chat_body(body)), stream=call.stream)

    def parse_response(self, call: Call, data: bytes) -> dict:
        if call.endpoint == "embeddings":
            vectors, tokens = self.embed_vectors(json_object(call, data))
            body = call.body or {}
            return embedding_list(vectors, model_of(call), tokens, body.get("encoding_format"))
        return chat_response(call, data)

    def parse_stream(self, call: Call, chunks: AsyncIterator[bytes]) -> AsyncIterator[dict]:
        return chat_stream(call, chunks)

    def parse_error(self, status: int, headers, data: bytes, d: Deployment):
        return google_error(status, headers, data, d)


class Gemini(GoogleGenAI):
    """Registered as `gemini`; the key goes in `x-goog-api-key`, never in the URL (so it cannot leak into logs)."""

    name = "gemini"
    key_env = "GEMINI_API_KEY"
    base_env = "GEMINI_API_BASE"
    default_base = "https://generativelanguage.googleapis.com/v1beta"

    def validate_deployment(self, d: Deployment) -> list[str]:
        if d.api_key or any(rule.param == "api_key" for rule in d.clientside_auth):
            return []
        return ["gemini needs api_key (or the GEMINI_API_KEY environment variable)"]

    def model_url(self, d: Deployment, method: str) -> str:
        return f"{d.api_base or self.default_base}/models/{d.upstream_model}:{method}"

    def auth_headers(self, d: Deployment) -> dict[str, str]:
        return {"x-goog-api-key": d.api_key} if d.api_key else {}

    def embed_body(self, d: Deployment, texts: list[str], body: dict) -> tuple[str, dict]:
        model = "models/" + d.upstream_model
        dims = body.get("dimensions")
        requests = []
        for text in texts:
            item = {"model": model, "content": {"parts": [{"text": text}]}}
            if dims:
                item["outputDimensionality"] = dims
            requests.append(item)
        return "batchEmbedContents", {"requests": requests}

    def embed_vectors(self, resp: dict) -> tuple[list[list[float]], int]:
        # batchEmbedContents reports no token counts.
        return [e.get("values") or [] for e in resp.get("embeddings") or ()], 0


GEMINI = Gemini()
register_provider("gemini", GEMINI)
