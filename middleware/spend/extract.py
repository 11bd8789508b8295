"""What a call used, read from its answer: a whole body in OpenAI or Anthropic shape, or a stream's usage event.

Providers report usage in three shapes relaykit meets after normalize: OpenAI's (`prompt_tokens`, cached ones
inside `prompt_tokens_details`), the Responses API's (`input_tokens`, `output_tokens`) and Anthropic's
(`input_tokens` without the cached ones, which come apart). Each becomes one Usage, cached tokens counted
inside prompt_tokens as OpenAI does, so a price is applied once per token.
"""

from __future__ import annotations

from typing import Any

import orjson

from middleware.spend.usage import Usage

_CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text; only used where the provider reported nothing


def from_usage(u: Any) -> Usage | None:
    """One usage object in any of the three shapes, or None when it is not one."""
    if not isinstance(u, dict):
        return None
    if "prompt_tokens" in u or "completion_tokens" in u:
        details = u.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else 0
        return Usage(prompt_tokens=_int(u.get("prompt_tokens")), completion_tokens=_int(u.get("completion_tokens")),
                     cache_read_tokens=_int(cached), cache_creation_tokens=_int(u.get("cache_creation_input_tokens")))
    if "input_tokens" in u or "output_tokens" in u:
        read, write = _int(u.get("cache_read_input_tokens")), _int(u.get("cache_creation_input_tokens"))
        details = u.get("input_tokens_details")
        if isinstance(details, dict) and not read:  # the Responses API: cached tokens inside input_tokens already
            return Usage(prompt_tokens=_int(u.get("input_tokens")), completion_tokens=_int(u.get("output_tokens")),
                         cache_read_tokens=_int(details.get("cached_tokens")))
        return Usage(prompt_tokens=_int(u.get("input_tokens")) + read + write,
                     completion_tokens=_int(u.get("output_tokens")), cache_read_tokens=read, cache_creation_tokens=write)
    return None


def from_body(endpoint: str, body: Any, request: Any) -> Usage | None:
    """A whole answer's usage; images and speech are counted from what was made or asked for."""
    if not isinstance(body, dict):
        return None
    if endpoint == "images":
        data = body.get("data")
        return Usage(images=len(data) if isinstance(data, list) else 0)
    if endpoint in ("transcriptions", "translations"):
        seconds = body.get("duration")
        usage = from_usage(body.get("usage"))
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
            return Usage(audio_seconds=float(seconds), prompt_tokens=usage.prompt_tokens if usage else 0,
                         completion_tokens=usage.completion_tokens if usage else 0)
        return usage
    usage = from_usage(body.get("usage"))
    if usage is None and endpoint == "count_tokens":
        return Usage()  # counting tokens is free
    return usage


def for_speech(request: Any) -> Usage:
    text = request.get("input") if isinstance(request, dict) else None
    return Usage(characters=len(text) if isinstance(text, str) else 0)


def estimate(request: Any, raw_len: int, completion_chunks: int) -> Usage:
    """A count for an answer whose provider reported none: the prompt from the request's size, the completion
    from the number of content events streamed (providers send about one token per event)."""
    return Usage(prompt_tokens=max(raw_len // _CHARS_PER_TOKEN, 1) if raw_len else 0,
                 completion_tokens=completion_chunks, estimated=True)


def from_sse_line(line: bytes) -> Usage | None:
    """The usage in one `data:` line of an OpenAI or Anthropic stream, if it carries one."""
    start = line.find(b"{")
    if start < 0:
        return None
    try:
        event = orjson.loads(line[start:])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict):
        return None
    if event.get("type") == "message_start":
        message = event.get("message")
        return from_usage(message.get("usage")) if isinstance(message, dict) else None
    if event.get("type") in ("response.completed", "response.incomplete"):
        response = event.get("response")
        return from_usage(response.get("usage")) if isinstance(response, dict) else None
    return from_usage(event.get("usage"))


def merge(first: Usage | None, later: Usage | None) -> Usage | None:
    """Anthropic streams report input in message_start and output in message_delta: the two make one usage."""
    if first is None or later is None:
        return later or first
    return Usage(prompt_tokens=later.prompt_tokens or first.prompt_tokens,
                 completion_tokens=later.completion_tokens or first.completion_tokens,
                 cache_read_tokens=later.cache_read_tokens or first.cache_read_tokens,
                 cache_creation_tokens=later.cache_creation_tokens or first.cache_creation_tokens)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0
