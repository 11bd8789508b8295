"""A request-log record: the spend-log row's fields plus the request and response bodies, as one JSON line.

Bodies are left out (null, `messages_logged: false`) under `litellm_settings.turn_off_message_logging`, or when
the client asked with `"no-log": true` (top level, LiteLLM's form) or `metadata: {"no-log": true}`, unless
`global_disable_no_log_param` says clients may not. A stream's response is not kept (it was sent piece by piece
and holding it would cost memory per stream); its record has the usage and times. Secrets are masked later,
off the request path, by each outlet.
"""

from __future__ import annotations

from typing import Any

import orjson

from kernel.config.observe import ObserveSettings


def bodies_wanted(call: Any, settings: ObserveSettings) -> bool:
    if settings.turn_off_message_logging:
        return False
    if settings.global_disable_no_log_param:
        return True
    meta = call.metadata
    return not ((isinstance(meta, dict) and meta.get("no-log") is True) or call.options.get("no-log") is True)


def response_body(reply: Any) -> Any:
    """A whole answer's body as JSON: canonical, or as parsed on the fast path, or its bytes parsed."""
    if reply is None:
        return None
    if reply.body is not None:
        return reply.body
    if reply.parsed is not None:
        return reply.parsed
    if reply.raw is not None and reply.wire != "binary":
        try:
            return orjson.loads(reply.raw)
        except orjson.JSONDecodeError:
            return reply.raw.decode("utf-8", "replace")
    return None


def line(call: Any, record: dict[str, Any], reply: Any, settings: ObserveSettings) -> bytes:
    """The record as one JSON line (no newline). Serialised here, on the request path, because the bodies it
    points at may be changed by the links outside once this returns; orjson makes it a few microseconds."""
    out = dict(record)
    wanted = bodies_wanted(call, settings)
    body = call.body
    out["request"] = body if wanted and isinstance(body, (dict, list)) else None
    out["response"] = response_body(reply) if wanted else None
    out["messages_logged"] = wanted
    out["route"] = call.route
    out["stream"] = call.stream
    return orjson.dumps(out, default=_other)


def _other(value: Any) -> Any:
    """What orjson cannot write itself: uploaded bytes and form files are named, never written."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    return f"<{type(value).__name__}>"
