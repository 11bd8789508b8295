"""The 429 a rate limit answers, and OpenAI's x-ratelimit-* headers that describe the tightest limit."""

from __future__ import annotations

import math

from kernel.errors import ClientError


class RateLimitExceeded(ClientError):
    """relaykit's own limit on a virtual key, team or user: the client's to wait out (no upstream was asked).

    A ClientError, not the kernel's RateLimited: that one is an upstream's 429, retryable on another deployment
    and counted against it; this one must reach the client as it is. `code` is "429" as LiteLLM's proxy sends it."""

    status = 429
    type = "rate_limit_error"
    code = "429"


def reset_text(seconds: float) -> str:
    """A wait in OpenAI's x-ratelimit-reset-* format: `250ms`, `1s`, `6m0s`, `1h2m3s`."""
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    text = _RESET_TEXTS.get(whole)
    if text is None:
        text = _whole_seconds_text(whole)
    return text


def _whole_seconds_text(whole: int) -> str:
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


_RESET_TEXTS = {n: _whole_seconds_text(n) for n in range(1, 61)}  # a minute window's waits, formatted once


def window_headers(requests: tuple[int, int] | None, tokens: tuple[int, int] | None, reset: float) -> dict[str, str]:
    """x-ratelimit-* for the tightest request limit and the tightest token limit, each (limit, remaining)."""
    out = {}
    text = reset_text(reset) if requests is not None or tokens is not None else ""
    if requests is not None:
        out["x-ratelimit-limit-requests"] = str(requests[0])
        out["x-ratelimit-remaining-requests"] = str(max(0, requests[1]))
        out["x-ratelimit-reset-requests"] = text
    if tokens is not None:
        out["x-ratelimit-limit-tokens"] = str(tokens[0])
        out["x-ratelimit-remaining-tokens"] = str(max(0, tokens[1]))
        out["x-ratelimit-reset-tokens"] = text
    return out
