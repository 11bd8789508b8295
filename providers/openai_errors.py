"""Read an OpenAI-style error envelope into the gateway's error tree (shared by every OpenAI-compatible API)."""

from __future__ import annotations

from kernel.errors import UpstreamError
from kernel.models import Deployment
from providers.shared.error_body import classify, error_json, status_message


def parse_openai_error(status: int, headers, data: bytes, d: Deployment) -> UpstreamError:
    message, code, err_type, param = None, None, None, None
    payload = error_json(data)
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
        message = status_message(status, data)
    return classify(status, str(message), str(code) if code is not None else None, d, headers,
                    err_type=err_type if isinstance(err_type, str) else None,
                    param=param if isinstance(param, str) else None)
