"""The `anthropic/<model>` provider: Anthropic's Messages API, natively for Anthropic clients, translated for the rest.

An Anthropic-dialect call carries the client's own body in `call.native`; it is forwarded with only the
model swapped, and the reply keeps wire "anthropic" so it reaches the client byte for byte (cache_control,
thinking, documents and citations survive). Any other call is translated from the canonical OpenAI body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from kernel.bodies import drop_paths
from kernel.call import Call
from kernel.errors import ContextWindowExceeded, UnsupportedParam, UpstreamError, UpstreamUnavailable
from kernel.models import Deployment
from kernel.plugins import ProviderBase
from kernel.registry import register_provider
from kernel.upstream import UpstreamRequest
from providers import anthropic_response
from providers.anthropic_request import build_body
from providers.shared.error_body import classify, error_json, status_message

DEFAULT_BASE = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
PATHS = {"chat": "/v1/messages", "count_tokens": "/v1/messages/count_tokens"}
# Client headers that change what Anthropic does and so must reach it.
PASSED_HEADERS = ("anthropic-beta",)


def _error(status: int, err_type: str | None, message: str, d: Deployment, headers) -> UpstreamError:
    if status == 529 or err_type == "overloaded_error":
        # 529 is Anthropic's own "overloaded": retryable, shown to clients as 503
        return UpstreamUnavailable(f"deployment {d.label}: {message}", deployment=d.id, status=503,
                                   type="overloaded_error")
    if status == 413 and "prompt is too long" in message.lower():
        return ContextWindowExceeded(f"deployment {d.label}: {message}", deployment=d.id)
    return classify(status, message, err_type, d, headers, err_type=err_type)


def parse_anthropic_error(status: int, headers, data: bytes, d: Deployment) -> UpstreamError:
    """Anthropic's envelope {"type": "error", "error": {"type", "message"}} → the typed error."""
    message, err_type = None, None
    payload = error_json(data)
    if isinstance(payload, dict):
        err = payload.get("error")
        if isinstance(err, dict):
            message, err_type = err.get("message"), err.get("type")
        elif isinstance(err, str):
            message = err
    if not message:
        message = status_message(status, data)
    return _error(status, err_type if isinstance(err_type, str) else None, str(message), d, headers)


class Anthropic(ProviderBase):
    """Registered as provider `anthropic`."""

    name = "anthropic"
    wire = "anthropic"
    key_env = "ANTHROPIC_API_KEY"
    base_env = "ANTHROPIC_API_BASE"
    endpoints = frozenset({"chat", "messages", "count_tokens"})
    supported_params = frozenset({
        "temperature", "top_p", "top_k", "stop", "max_tokens", "max_completion_tokens", "user", "tools",
        "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort", "thinking",
    })  # not `n`: one choice per request, so n > 1 is param_drop's to refuse or drop (n: 1 asks nothing)

    def url(self, d: Deployment, endpoint: str) -> str:
        base = d.api_base or DEFAULT_BASE
        path = PATHS.get(endpoint, PATHS["chat"])
        if base.endswith("/v1"):
            path = path[3:]  # an api_base given with its /v1 already
        return base + path

    def headers(self, call: Call, d: Deployment) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept-encoding": "identity",
                   "anthropic-version": API_VERSION}
        if d.api_key:
            headers["x-api-key"] = d.api_key
        for name in PASSED_HEADERS:
            value = call.headers.get(name)
            if value:
                headers[name] = value
        return headers

    def build_request(self, call: Call, d: Deployment) -> UpstreamRequest:
        headers = self.headers(call, d)
        native = call.native if call.dialect == "anthropic" else None
        if native is not None:
            version = call.headers.get("anthropic-version")
            if version:
                headers["anthropic-version"] = version  # the client chose the shape it sends and expects
            # The native body skips the canonical param_drop, so the deployment's always-dropped paths apply here.
            body = drop_paths({**native, "model": d.upstream_model}, d.additional_drop_params)
            for key, value in d.defaults.items():
                if key in ("temperature", "top_p", "top_k", "max_tokens") and key not in body:
                    body[key] = value
        else:
            body = call.body
            if d.defaults:
                body = {**d.defaults, **body}
            n = body.get("n")
            if n not in (None, 1):
                raise UnsupportedParam(f"anthropic returns one choice per request; n={n} is not supported", param="n")
            body = build_body(body, d.upstream_model)
            if call.endpoint == "count_tokens":
                # count_tokens takes the request minus what only generation needs
                body = {k: v for k, v in body.items() if k not in ("max_tokens", "stream", "temperature", "top_p",
                                                                   "top_k", "stop_sequences", "metadata")}
        stream = bool(body.get("stream")) and call.endpoint != "count_tokens"
        return UpstreamRequest("POST", self.url(d, call.endpoint), headers, content=orjson.dumps(body), stream=stream)

    def parse_response(self, call: Call, data: bytes) -> dict:
        return anthropic_response.parse_response(call, data)

    def parse_stream(self, call: Call, chunks: AsyncIterator[bytes]) -> AsyncIterator[dict]:
        d = call.deployment

        def error_of(payload: dict) -> UpstreamError:
            err = payload.get("error") or {}
            status = anthropic_response.STATUS_OF_TYPE.get(err.get("type"), 500)
            message = err.get("message") or "the upstream stream failed"
            if d is None:
                return UpstreamError(message, status=status, type=err.get("type"))
            return _error(status, err.get("type"), message, d, None)

        return anthropic_response.parse_stream(call, chunks, error_of)

    def parse_error(self, status: int, headers, data: bytes, d: Deployment) -> UpstreamError:
        return parse_anthropic_error(status, headers, data, d)


ANTHROPIC = Anthropic()
register_provider("anthropic", ANTHROPIC)
