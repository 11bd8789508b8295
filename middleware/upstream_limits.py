"""upstream_limits: the provider's rate-limit headers under their plain names, for a client's own retry logic.

provider_call has put the upstream's allow-listed rate-limit headers in the call's reply headers with LiteLLM's
`llm_provider-` prefix (middleware/ratelimit_names.py). On the way out this link adds them under the plain
names the client's SDK reads: for an OpenAI-wire client Anthropic's `anthropic-ratelimit-*` become OpenAI's
`x-ratelimit-*` (a reset time becomes OpenAI's `6s`-style wait); an Anthropic client gets them as they came.
When the caller's virtual key has its own limits, the rate_limit link has already set `x-ratelimit-*` for the
key: those keep the plain names, and the provider's stay under the prefix only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kernel.call import Call, Next, Reply
from kernel.registry import DIALECTS, middleware
from middleware.limits.refusal import reset_text
from middleware.ratelimit_names import ANTHROPIC, OPENAI, PREFIX, TO_OPENAI

_PREFIXED_OPENAI = tuple(PREFIX + n for n in OPENAI)
_PREFIXED_ANTHROPIC = tuple(PREFIX + n for n in ANTHROPIC)


@middleware("upstream_limits")
class UpstreamLimits:
    def __init__(self, options, gateway) -> None:
        pass

    async def __call__(self, call: Call, next: Next) -> Reply:
        reply = await next(call)
        headers = call.reply_headers
        if not headers or not any(k.startswith(PREFIX) for k in headers):
            return reply
        anthropic_client = DIALECTS[call.dialect].wire == "anthropic"
        key_limited = any(k.startswith("x-ratelimit-") for k in headers)
        plain: dict[str, str] = {}
        if anthropic_client:
            plain.update((k[len(PREFIX):], headers[k]) for k in _PREFIXED_ANTHROPIC if k in headers)
        if not key_limited:
            if not anthropic_client:
                for name, openai_name in TO_OPENAI.items():
                    value = headers.get(PREFIX + name)
                    if value is not None:
                        plain[openai_name] = _reset(value) if openai_name.startswith("x-ratelimit-reset") else value
            plain.update((k[len(PREFIX):], headers[k]) for k in _PREFIXED_OPENAI if k in headers)  # theirs win
        headers.update((k, v) for k, v in plain.items() if v is not None)
        return reply


def _reset(value: str) -> str | None:
    """Anthropic's reset (an RFC 3339 time) as OpenAI's wait until then (`1m30s`); None when unreadable."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return reset_text(max(0.0, (when - datetime.now(UTC)).total_seconds()))
