"""OpenAI embeddings for providers that translate them: the request's inputs as texts, vectors as OpenAI's list."""

from __future__ import annotations

import base64
import struct
from typing import Any

from kernel.errors import ClientError


def embedding_texts(body: dict) -> list[str]:
    """The `input` of an embeddings request as a list of strings (token arrays cannot be sent to these APIs)."""
    value = body["input"]
    items = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(i, str) for i in items):
        raise ClientError("this provider embeds text only; send `input` as a string or a list of strings", param="input")
    return items


def embedding_list(vectors: list[list[float]], model: str, tokens: int, encoding_format: str | None) -> dict:
    """OpenAI's embeddings response; base64 is float32 little-endian, as the OpenAI SDK decodes it."""
    data = []
    for i, values in enumerate(vectors):
        vec: Any = values
        if encoding_format == "base64":
            vec = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vec})
    return {"object": "list", "model": model, "data": data, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
