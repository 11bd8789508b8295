"""The gateway's error tree: every failure is one of these, typed, so callers branch on type, never text.

    GatewayError (status, type, code, retryable)
    ├── ClientError            400 bad body · 401 auth · 403 not allowed · 404 unknown route · 413 too large
    │   ├── AuthError          401
    │   ├── PermissionDenied   403
    │   ├── NotFound           404
    │   ├── PayloadTooLarge    413
    │   ├── RequestTimeout     408, the request body did not arrive in time
    │   ├── HeadersTooLarge    431, the request head is over the server's limit
    │   ├── UnsupportedParam   400, names the parameter and the provider
    │   ├── UnknownModel       400, names the model
    │   └── ConfigError        raised at startup, never on the wire
    ├── ServerBusy             503, over the connection cap, or stopped by shutdown; retryable
    └── UpstreamError          carries the deployment name, never its key
        ├── UpstreamTimeout      504, retryable
        ├── UpstreamUnavailable  502/503/5xx, retryable (connection refused, overloaded)
        │   └── InvalidUpstreamResponse  502, a 2xx that is no answer (not JSON, wrong shape, broken stream)
        ├── UpstreamResponseTooLarge     502, an answer over general_settings.max_response_size_mb
        ├── RateLimited          429, retryable, may carry retry_after
        ├── ContextWindowExceeded 400
        ├── ContentPolicy        400
        ├── UpstreamBadRequest   the upstream's own 4xx, status kept
        └── UpstreamAuthError    the upstream refused our credentials (401/403 kept)
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error relaykit renders to a client."""

    status = 500
    type = "internal_error"
    code: str | None = None
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        if type is not None:
            self.type = type
        self.param = param
        self.headers = headers or {}


class ClientError(GatewayError):
    status = 400
    type = "invalid_request_error"


class AuthError(ClientError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(ClientError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFound(ClientError):
    status = 404
    type = "not_found_error"
    code = "not_found"


class PayloadTooLarge(ClientError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RequestTimeout(ClientError):
    status = 408
    code = "request_timeout"


class HeadersTooLarge(ClientError):
    status = 431
    code = "request_header_fields_too_large"


class UnsupportedParam(ClientError):
    code = "unsupported_parameter"


class UnknownModel(ClientError):
    code = "model_not_found"


class ConfigError(ClientError):
    """A bad config or pipelines file; raised at startup with every problem listed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class ServerBusy(GatewayError):
    """relaykit itself cannot take the call now (its own limits, or shutting down); another try may succeed."""

    status = 503
    type = "server_error"
    code = "server_busy"
    retryable = True


class UpstreamError(GatewayError):
    status = 502
    type = "api_error"
    code = "upstream_error"

    def __init__(self, message: str, *, deployment: str | None = None, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.deployment = deployment
        self.retry_after = retry_after


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"
    retryable = True


class UpstreamUnavailable(UpstreamError):
    status = 502
    type = "api_error"
    code = "upstream_unavailable"
    retryable = True


class InvalidUpstreamResponse(UpstreamUnavailable):
    """The upstream said 2xx but sent no answer (garbage, HTML, an empty body, the wrong JSON shape, a stream
    of non-events): the deployment's failure, so retried, counted toward its cooldown and fallen back from."""

    code = "invalid_upstream_response"


class UpstreamResponseTooLarge(UpstreamError):
    """A non-streamed answer over the configured size limit. Not retryable and not counted against the
    deployment: the request asked for that much."""

    status = 502
    type = "api_error"
    code = "upstream_response_too_large"


class RateLimited(UpstreamError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"
    retryable = True


class ContextWindowExceeded(UpstreamError):
    status = 400
    type = "invalid_request_error"
    code = "context_length_exceeded"


class ContentPolicy(UpstreamError):
    status = 400
    type = "invalid_request_error"
    code = "content_policy_violation"


class UpstreamBadRequest(UpstreamError):
    status = 400
    type = "invalid_request_error"
    code = None


class UpstreamAuthError(UpstreamError):
    status = 401
    type = "authentication_error"
    code = "upstream_auth_error"


def from_status(status: int, message: str, *, deployment: str | None, retry_after: float | None = None,
                code: str | None = None, type: str | None = None, param: str | None = None) -> UpstreamError:
    """Map an upstream HTTP status to the error class that carries the right retry semantics."""
    kw = {"deployment": deployment, "status": status, "code": code, "type": type, "param": param}
    if status == 429:
        return RateLimited(message, retry_after=retry_after, **kw)
    if status in (408, 504):
        return UpstreamTimeout(message, **kw)
    if status >= 500:
        return UpstreamUnavailable(message, retry_after=retry_after, **kw)
    if status in (401, 403):
        return UpstreamAuthError(message, **kw)
    return UpstreamBadRequest(message, **kw)
