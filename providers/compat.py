"""The OpenAI-compatible family as data: one row per API (base URL, key variable, parameters, quirks).

Every row is an `OpenAICompatible` from providers/openai.py; nothing here is code. Parameter lists are
the OpenAI parameters each API documents (checked by the param-drop middleware: an unlisted one is a
400 naming it, or dropped under drop_params). Parameters outside OpenAI's set (Mistral's `safe_prompt`,
Perplexity's `search_domain_filter`, ...) are provider-specific and always passed on.
"""

from __future__ import annotations

from types import MappingProxyType

from kernel.registry import register_provider
from providers.openai import OpenAICompatible

CHAT = frozenset({"chat"})
# What nearly every OpenAI-style chat API accepts; rows add to or subtract from it.
CORE = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "presence_penalty",
    "frequency_penalty", "response_format", "seed", "tools", "tool_choice", "user",
})
# Every row serving embeddings lists these: the openai SDK sends encoding_format on every embeddings call.
EMBED = frozenset({"encoding_format", "dimensions"})
# For APIs that only know the older name; clients on current SDKs send max_completion_tokens.
OLD_MAX_TOKENS = MappingProxyType({"max_completion_tokens": "max_tokens"})


def _row(name: str, base: str | None, key_env: str | None, params: frozenset[str] | None,
         endpoints: frozenset[str] = CHAT, base_env: str | None = None, **quirks) -> OpenAICompatible:
    return OpenAICompatible(name, base, key_env, base_env or f"{name.upper()}_API_BASE", endpoints=endpoints,
                            supported_params=params, **quirks)


FAMILY: tuple[OpenAICompatible, ...] = (
    # docs.mistral.ai/api: `random_seed` is Mistral's seed; max_completion_tokens is not known there.
    _row("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY",
         (CORE - {"user"}) | {"n", "parallel_tool_calls", "prediction"} | EMBED,
         frozenset({"chat", "embeddings"}),
         renames=MappingProxyType({**OLD_MAX_TOKENS, "seed": "random_seed"})),
    # console.groq.com/docs/openai: logprobs, logit_bias, top_logprobs are a 400 there.
    _row("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY",
         CORE | {"n", "parallel_tool_calls", "reasoning_effort", "service_tier",
                 "language", "timestamp_granularities", "voice", "speed"},  # audio endpoints' parameters
         frozenset({"chat", "transcriptions", "translations", "speech"})),
    _row("fireworks_ai", "https://api.fireworks.ai/inference/v1", "FIREWORKS_AI_API_KEY",
         CORE | {"n", "logprobs", "top_logprobs", "reasoning_effort", "parallel_tool_calls"} | EMBED,
         frozenset({"chat", "completions", "embeddings"})),
    _row("together_ai", "https://api.together.xyz/v1", "TOGETHERAI_API_KEY",
         CORE | {"n", "logprobs", "logit_bias", "reasoning_effort", "echo", "size"} | EMBED,
         frozenset({"chat", "completions", "embeddings", "images"})),
    # api-docs.deepseek.com: no n, no seed; JSON mode only as {"type": "json_object"}.
    _row("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY",
         (CORE - {"seed", "user"}) | {"logprobs", "top_logprobs"},
         frozenset({"chat", "completions"}), renames=OLD_MAX_TOKENS),
    _row("xai", "https://api.x.ai/v1", "XAI_API_KEY",
         CORE | {"n", "logprobs", "top_logprobs", "parallel_tool_calls", "reasoning_effort",
                 "web_search_options"},
         frozenset({"chat", "images"})),
    # OpenRouter routes to many models and documents every OpenAI parameter: pass all of them on.
    _row("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", None,
         frozenset({"chat", "completions", "embeddings"})),
    # docs.perplexity.ai: chat only, no tools, no n, no seed.
    _row("perplexity", "https://api.perplexity.ai", "PERPLEXITYAI_API_KEY",
         frozenset({"temperature", "top_p", "max_tokens", "max_completion_tokens", "presence_penalty",
                    "frequency_penalty", "stop", "response_format", "web_search_options", "reasoning_effort"}),
         renames=OLD_MAX_TOKENS),
    # inference-docs.cerebras.ai: frequency/presence penalties and logit_bias are not accepted.
    _row("cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY",
         (CORE - {"presence_penalty", "frequency_penalty"}) | {"logprobs", "top_logprobs",
                                                                "parallel_tool_calls", "reasoning_effort"},
         frozenset({"chat", "completions"})),
    _row("deepinfra", "https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_KEY",
         CORE | {"n", "logprobs", "stream_options"} | EMBED,
         frozenset({"chat", "completions", "embeddings"})),
    # A self-hosted vLLM server: no default URL, the key is optional; vLLM takes every OpenAI parameter.
    _row("hosted_vllm", None, "HOSTED_VLLM_API_KEY", None,
         frozenset({"chat", "completions", "embeddings"})),
    _row("lm_studio", "http://localhost:1234/v1", "LM_STUDIO_API_KEY",
         (CORE - {"user"}) | {"logit_bias"} | EMBED, frozenset({"chat", "completions", "embeddings"})),
    # Ollama's OpenAI-compatible API lives under /v1 of the server LiteLLM users configure as api_base.
    _row("ollama", "http://localhost:11434/v1", None,
         (CORE - {"tool_choice", "user"}) | EMBED,
         frozenset({"chat", "completions", "embeddings"}), base_suffix="/v1", renames=OLD_MAX_TOKENS),
)

for _flavour in FAMILY:
    register_provider(_flavour.name, _flavour)
