"""Keys as clients present them and as the store keeps them: the header rules, the hash, new keys, key names."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "sk-"
KEY_BYTES = 32  # secrets.token_urlsafe(32) is 43 url-safe characters after the prefix


def presented_key(headers: dict[str, str]) -> str | None:
    """The key a client sent, in any of the header styles OpenAI, Azure and Anthropic SDKs use."""
    value = headers.get("authorization")
    if value:
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else value.strip()
    return headers.get("api-key") or headers.get("x-api-key")


def hash_key(key: str) -> str:
    """What the store keeps: the SHA-256 hex of the whole key, `sk-` included (LiteLLM stores the same)."""
    return hashlib.sha256(key.encode()).hexdigest()


def token_of(value: str) -> str:
    """A management request may name a key by the key itself or by its hash (as LiteLLM's endpoints accept)."""
    return hash_key(value) if value.startswith(KEY_PREFIX) else value


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def key_name(key: str) -> str:
    """`sk-...abcd`: enough to tell keys apart in a list, not enough to use one."""
    return f"{KEY_PREFIX}...{key[-4:]}" if len(key) >= 16 else f"{KEY_PREFIX}..."
