"""The upstream rate-limit headers a client may see: the allow-list, the `llm_provider-` prefix, and Anthropic → OpenAI names.

Only these names ever leave an upstream's answer for the client (never cookies, auth or server internals).
provider_call copies them, prefixed as LiteLLM does (`llm_provider-x-ratelimit-remaining-requests`), into the
call's reply headers; the `upstream_limits` link decides what else the client sees under the plain names.
"""

from __future__ import annotations

from collections.abc import Iterable

PREFIX = "llm_provider-"
OPENAI = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
          "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens")
# Anthropic's (docs.anthropic.com, "Rate limits"): tokens-* is the most restrictive token limit in effect; the
# input/output ones have no OpenAI name, so an OpenAI client sees them only with the prefix.
ANTHROPIC = tuple(f"anthropic-ratelimit-{what}-{part}" for what in ("requests", "tokens", "input-tokens", "output-tokens")
                  for part in ("limit", "remaining", "reset"))
TO_OPENAI = {f"anthropic-ratelimit-{what}-{part}": f"x-ratelimit-{part}-{what}"
             for what in ("requests", "tokens") for part in ("limit", "remaining", "reset")}
_ALLOWED = frozenset(n.encode() for n in OPENAI + ANTHROPIC)


def copy_upstream(headers: Iterable[tuple[bytes, bytes]], into: dict[str, str]) -> None:
    """The allow-listed rate-limit headers of an upstream answer, prefixed, into `into` (a call's reply headers);
    an earlier attempt's are replaced, so a retried call shows the upstream that answered."""
    found = [(k.lower(), v) for k, v in headers if k.lower() in _ALLOWED]
    if not found and not any(k.startswith(PREFIX) for k in into):
        return  # the common case for providers that send none: one pass over the headers, nothing written
    for k in [k for k in into if k.startswith(PREFIX)]:
        del into[k]
    for k, v in found:
        into[PREFIX + k.decode("latin-1")] = v.decode("latin-1")
