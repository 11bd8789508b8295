"""Read an OpenAI-style error envelope into the gateway's error tree (shared by every OpenAI-compatible API)."""

from __future__ import annotations

import orjson

from kernel.errors import ContentPolicy, ContextWindowExceeded, UpstreamError, from_status
from kernel.models import Deployment

# How providers word a prompt that is too long; matched case-insensitively on the upstream's message.
CONTEXT_PHRASES = ("maximum context length", "context_length_exceeded", "context length", "too many tokens",
                   "prompt is too long", "input is too long", "exceeds the maximum number of tokens",
                   "reduce the length of the messages")
POLICY_PHRASES = ("content_policy_violation", "content management policy", "content_filter", "safety system")


def retry_after(headers) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def classify(status: int, message: str, code: str | None, d: Deployment, headers, *,
             err_type: str | None = None, param: str | None = None) -> UpstreamError:
    """The typed error for an upstream failure; context-length and policy errors are recognised by wording."""
    text = f"{code or ''} {message}".lower()
    named = f"deployment {d.label}: {message}"
    if status < 500 and status != 429:
        if any(p in text for p in CONTEXT_PHRASES):
            return ContextWindowExceeded(named, deployment=d.id, status=400, param=param)
        if any(p in text for p in POLICY_PHRASES):
            return ContentPolicy(named, deployment=d.id, status=400, param=param)
    return from_status(status, named, deployment=d.id, retry_after=retry_after(headers), code=code,
                       type=err_type, param=param)


def parse_openai_error(status: int, headers, data: bytes, d: Deployment) -> UpstreamError:
    message, code, err_type, param = None, None, None, None
    try:
        payload = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        err = payload.get("error", payload)
        if isinstance(err, dict):
            message = err.get("message") or err.get("detail")
            code = err.get("code")
            err_type = err.get("type")
            param = err.get("param")
        elif isinstance(err, str):
            message = err
    if not message:
        text = data[:200].decode("utf-8", "replace").strip() if data else ""
        message = f"upstream answered HTTP {status}" + (f": {text}" if text else "")
    return classify(status, str(message), str(code) if code is not None else None, d, headers,
                    err_type=err_type if isinstance(err_type, str) else None,
                    param=param if isinstance(param, str) else None)
