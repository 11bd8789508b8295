"""AWS errors (Bedrock, Sagemaker): the `x-amzn-errortype` header or an event-stream exception → typed errors."""

from __future__ import annotations

from kernel.errors import (
    ContextWindowExceeded,
    RateLimited,
    UpstreamAuthError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from kernel.models import Deployment
from providers.shared.error_body import body_text, classify, error_json, retry_after

# Bedrock's own wording for an over-long prompt, beyond the phrases every provider shares.
_CONTEXT = ("too many input tokens", "input is too long", "exceeds the context window", "too long for requested model")
_BY_TYPE = {
    "ThrottlingException": RateLimited, "ServiceQuotaExceededException": RateLimited,
    "ModelNotReadyException": RateLimited, "TooManyRequestsException": RateLimited,
    "AccessDeniedException": UpstreamAuthError, "UnrecognizedClientException": UpstreamAuthError,
    "ExpiredTokenException": UpstreamAuthError, "InvalidSignatureException": UpstreamAuthError,
    "IncompleteSignatureException": UpstreamAuthError,
    "ModelTimeoutException": UpstreamTimeout,
    "ServiceUnavailableException": UpstreamUnavailable, "InternalServerException": UpstreamUnavailable,
    "ModelErrorException": UpstreamUnavailable, "ModelStreamErrorException": UpstreamUnavailable,
    "InternalFailure": UpstreamUnavailable,
}


def error_type(value: str | None) -> str:
    """`ValidationException:http://internal.amazon.com/...` → `ValidationException` (also from a `__type` URI)."""
    if not value:
        return ""
    name = value.split(":", 1)[0]
    return name.rsplit("#", 1)[-1]


def aws_error(status: int, kind: str, message: str, d: Deployment, headers=None) -> UpstreamError:
    named = f"deployment {d.label}: {kind + ': ' if kind else ''}{message}"
    if any(p in message.lower() for p in _CONTEXT):
        return ContextWindowExceeded(named, deployment=d.id, status=400, code=kind or None)
    cls = _BY_TYPE.get(kind)
    if cls is not None:
        status = status if status >= 400 else cls.status
        if cls is RateLimited:
            return RateLimited(named, deployment=d.id, status=429, code=kind, retry_after=retry_after(headers))
        return cls(named, deployment=d.id, status=status, code=kind)
    return classify(status if status >= 400 else 400, message, kind or None, d, headers)


def _message(data: bytes) -> tuple[str, str]:
    payload = error_json(data)
    if isinstance(payload, dict):
        message = payload.get("message") or payload.get("Message") or ""
        return str(message), error_type(payload.get("__type"))
    return body_text(data), ""


def parse_aws_error(status: int, headers, data: bytes, d: Deployment) -> UpstreamError:
    message, body_type = _message(data)
    kind = error_type(headers.get("x-amzn-errortype") if headers is not None else None) or body_type
    return aws_error(status, kind, message or f"upstream answered HTTP {status}", d, headers)


def stream_exception(headers: dict, payload: bytes, d: Deployment | None) -> UpstreamError:
    """An event-stream message of type `exception` (or `error`) mid-stream."""
    message, _ = _message(payload)
    kind = headers.get(":exception-type") or headers.get(":error-code") or ""
    kind = kind[:1].upper() + kind[1:]  # streams spell them lowerCamel: throttlingException
    message = message or headers.get(":error-message") or "the stream reported an error"
    if d is None:
        return UpstreamUnavailable(f"{kind}: {message}")
    return aws_error(0, kind, message, d)
