"""An upstream's error answer → the gateway's typed error: the body read tolerantly, the status and wording classified.

Error bodies are whatever the upstream (or a proxy in front of it) sends: the API's JSON envelope, an HTML
page, plain text, nothing. Each provider reads its own envelope's fields from `error_json`; when it finds no
message, `status_message` says what came back instead. `classify` is the one place wording becomes a type.
"""

from __future__ import annotations

from typing import Any

import orjson

from kernel.errors import ContentPolicy, ContextWindowExceeded, UpstreamError, from_status
from kernel.models import Deployment

# How providers word a prompt that is too long; matched case-insensitively on the upstream's message.
CONTEXT_PHRASES = ("maximum context length", "context_length_exceeded", "context length", "too many tokens",
                   "prompt is too long", "input is too long", "exceeds the maximum number of tokens",
                   "reduce the length of the messages")
POLICY_PHRASES = ("content_policy_violation", "content management policy", "content_filter", "safety system")
SNIPPET = 200  # bytes of a body without a message quoted in the error, enough to recognise an error page


def error_json(data: bytes) -> Any:
    """The body parsed as JSON; None when it is empty or not JSON."""
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def body_text(data: bytes) -> str:
    """The start of the body as text, for an error that carries no message of its own."""
    return data[:SNIPPET].decode("utf-8", "replace").strip() if data else ""


def status_message(status: int, data: bytes, who: str = "upstream") -> str:
    """The message of an error whose body has none: the status, and what the body starts with."""
    text = body_text(data)
    return f"{who} answered HTTP {status}" + (f": {text}" if text else "")


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
