"""Names of request fields: the OpenAI parameters, and the gateway-only fields that never go upstream."""

from __future__ import annotations

# Parameters of OpenAI's chat/completions (and completions/embeddings) request bodies.
OPENAI_PARAMS = frozenset({
    "messages", "prompt", "input", "temperature", "top_p", "n", "stream", "stream_options", "stop",
    "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias",
    "logprobs", "top_logprobs", "user", "response_format", "seed", "tools", "tool_choice",
    "parallel_tool_calls", "functions", "function_call", "reasoning_effort", "modalities", "audio",
    "prediction", "service_tier", "store", "web_search_options", "verbosity", "echo", "best_of",
    "suffix", "dimensions", "encoding_format", "size", "quality", "style", "voice", "speed", "language",
    "timestamp_granularities", "thinking",
})

# Fields clients may send that are for the gateway itself: read into Call.options, never forwarded.
GATEWAY_FIELDS = frozenset({
    "metadata", "user_config", "fallbacks", "context_window_fallbacks", "content_policy_fallbacks",
    "num_retries", "drop_params", "additional_drop_params", "allowed_openai_params",
    "fastest_response", "tags", "caching", "cache", "guardrails", "mock_response", "mock_testing_fallbacks",
    "request_timeout", "max_fallbacks", "model_info_id", "no-log",
})

# Credential fields a client may try to set; only honoured where the config allows it.
CLIENT_CREDENTIAL_FIELDS = frozenset({
    "api_key", "api_base", "base_url", "api_version", "organization", "azure_ad_token",
    "vertex_project", "vertex_location", "vertex_credentials", "aws_access_key_id",
    "aws_secret_access_key", "aws_session_token", "aws_region_name", "aws_profile_name",
})


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _names(v) -> bool:
    return isinstance(v, list) and all(isinstance(i, str) for i in v)


# What each typed gateway-only field must be; checked when a dialect sets it aside, so a bad value is a 400
# naming the field rather than a failure deep in the chain.
_OPTION_CHECKS = {
    "request_timeout": (_number, "a number of seconds greater than 0"),
    "num_retries": (_count, "a whole number >= 0"),
    "max_fallbacks": (_count, "a whole number >= 0"),
    "drop_params": (lambda v: isinstance(v, bool), "true or false"),
    "fastest_response": (lambda v: isinstance(v, bool), "true or false"),
    "additional_drop_params": (_names, "an array of strings"),
    "allowed_openai_params": (_names, "an array of strings"),
}


def option_problem(key: str, value: object) -> str | None:
    """Why a gateway-only field's value is unusable, or None when it is fine (or not a typed field)."""
    check = _OPTION_CHECKS.get(key)
    if check is None or check[0](value):
        return None
    return f"'{key}' must be {check[1]}"
