"""The `model` a JSON body names, for links on routes no dialect decodes (the forwarded OpenAI APIs)."""

from __future__ import annotations

import orjson


def body_model(raw: bytes) -> str | None:
    """`model` of a JSON object body, or None (no JSON object, no string `model`: a file upload has none)."""
    if raw[:1] != b"{":
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None
