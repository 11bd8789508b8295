"""OpenAI and every API that speaks its wire format: build requests, read responses, streams and errors.

One class serves the whole OpenAI-compatible family; a flavour differs only in data (base URL, key
variable, supported parameters), so adding one is a table row, not a module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import orjson
from attrs import frozen

from kernel.call import Call
from kernel.guards.answers import checked, invalid
from kernel.models import EMPTY, Deployment
from kernel.plugins import ProviderBase
from kernel.registry import register_provider
from kernel.sse import sse_events
from kernel.upstream import UpstreamRequest
from providers.openai_errors import parse_openai_error

PATHS = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
    "moderations": "/moderations",
    "images": "/images/generations",
    "speech": "/audio/speech",
    "transcriptions": "/audio/transcriptions",
    "translations": "/audio/translations",
}

# A deployment's default chat parameters → their Responses API names (the rest have no Responses counterpart).
_RESPONSES_DEFAULTS = {"temperature": "temperature", "top_p": "top_p", "max_tokens": "max_output_tokens",
                       "max_completion_tokens": "max_output_tokens"}


@frozen
class OpenAICompatible(ProviderBase):
    """A provider speaking OpenAI's wire format at some base URL; a row of data (providers/compat.py)."""

    name: str
    default_base: str | None
    key_env: str | None
    base_env: str | None = None
    endpoints: frozenset[str] = frozenset(PATHS)
    supported_params: frozenset[str] | None = None  # None: pass every parameter on
    forwards: bool = False  # serves the files/batches/assistants/... pass-through
    config_keys: frozenset[str] = frozenset()
    wire: str = "openai"
    local: bool = False
    renames: Mapping[str, str] = EMPTY  # OpenAI parameter → this API's name for it (seed → random_seed)
    base_suffix: str = ""  # appended to a configured api_base that lacks it (Ollama's "/v1")
    native_wires: frozenset[str] = frozenset()  # "responses": OpenAI's own Responses API, forwarded as the client sent it

    def base(self, d: Deployment) -> str:
        if d.api_base:
            if self.base_suffix and not d.api_base.endswith(self.base_suffix):
                return d.api_base + self.base_suffix
            return d.api_base
        return self.default_base or ""

    def url(self, call: Call, d: Deployment) -> str:
        return self.base(d) + PATHS[call.endpoint]

    def validate_deployment(self, d: Deployment) -> list[str]:
        if not self.base(d):
            return [f"{self.name} needs api_base (or the {self.base_env or 'API base'} environment variable)"]
        return []

    def auth_headers(self, d: Deployment) -> dict[str, str]:
        headers = {}
        if d.api_key:
            headers["authorization"] = "Bearer " + d.api_key
        if d.organization:
            headers["openai-organization"] = d.organization
        return headers

    def forward_url(self, d: Deployment, rest: str) -> str:
        return self.base(d) + rest

    def build_request(self, call: Call, d: Deployment) -> UpstreamRequest:
        url = self.url(call, d)
        headers = self.auth_headers(d)
        headers["accept-encoding"] = "identity"  # stream bytes are forwarded as they come: keep them plain
        if call.endpoint in ("transcriptions", "translations"):
            return self._multipart(call, d, url, headers)
        if call.dialect == "responses" and "responses" in self.native_wires:
            return self._responses(call, d, headers)
        body = call.body
        if d.defaults:
            body = {**d.defaults, **body}
        if body.get("model") != d.upstream_model:
            body = {**body, "model": d.upstream_model}
        if self.renames and not self.renames.keys().isdisjoint(body):
            body = {self.renames.get(k, k): v for k, v in body.items()}
        headers["content-type"] = "application/json"
        # Fast path: the client's bytes go upstream as they came when nothing in the body changed.
        content = call.raw if body is call.raw_body and call.raw else orjson.dumps(body)
        binary = call.endpoint == "speech"
        return UpstreamRequest("POST", url, headers, content=content, stream=call.stream or binary,
                               wire="binary" if binary else None)

    def _responses(self, call: Call, d: Deployment, headers: dict) -> UpstreamRequest:
        """A Responses-API call to OpenAI itself: the client's body to /responses, its bytes when nothing changed,
        so stored responses, built-in tools and every field relaykit does not translate keep working."""
        native = call.native
        for key, value in d.defaults.items():  # chat parameters: only those the Responses API also has
            key = _RESPONSES_DEFAULTS.get(key)
            if key is not None and key not in native:
                native = {**native, key: value}
        if native.get("model") != d.upstream_model:
            native = {**native, "model": d.upstream_model}
        headers["content-type"] = "application/json"
        content = call.raw if native is call.raw_body and call.raw else orjson.dumps(native)
        return UpstreamRequest("POST", self.base(d) + "/responses", headers, content=content, stream=call.stream,
                               wire="responses")

    def _multipart(self, call: Call, d: Deployment, url: str, headers: dict) -> UpstreamRequest:
        data, files = {}, []
        for key, value in call.body.items():
            if hasattr(value, "filename"):  # an uploaded file, spooled by starlette
                files.append((key, (value.filename or "audio", value.file, value.content_type or "application/octet-stream")))
            else:
                data[key] = value
        data["model"] = d.upstream_model
        return UpstreamRequest("POST", url, headers, data=data, files=files,
                               stream=False, wire="binary" if data.get("response_format") in ("text", "srt", "vtt") else None)

    def parse_response(self, call: Call, data: bytes) -> dict:
        return checked(call, data, "openai")  # the wire is the canonical form: checking its shape is all there is

    async def parse_stream(self, call: Call, chunks: AsyncIterator[bytes]) -> AsyncIterator[dict]:
        async for _event, data in sse_events(chunks):
            if data == b"[DONE]":
                return
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise invalid(call, "a stream event whose data is not valid JSON") from None
            if type(chunk) is not dict or not isinstance(chunk.get("choices", ()), list | tuple):
                raise invalid(call, 'a stream event that is not a chat completion chunk (no "choices" list)')
            yield chunk

    def parse_error(self, status: int, headers, data: bytes, d: Deployment):
        return parse_openai_error(status, headers, data, d)


OPENAI = OpenAICompatible("openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_API_BASE", forwards=True,
                          native_wires=frozenset({"responses"}))
register_provider("openai", OPENAI)
# Any OpenAI-compatible server at an api_base of the user's choosing (LiteLLM's `openai/` with api_base,
# and its `custom_openai/` / `text-completion-openai/` spellings).
register_provider("custom_openai", OpenAICompatible("custom_openai", None, None))
