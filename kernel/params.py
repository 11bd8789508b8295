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
    "request_timeout", "max_fallbacks", "model_info_id",
})

# Credential fields a client may try to set; only honoured where the config allows it.
CLIENT_CREDENTIAL_FIELDS = frozenset({
    "api_key", "api_base", "base_url", "api_version", "organization", "azure_ad_token",
    "vertex_project", "vertex_location", "vertex_credentials", "aws_access_key_id",
    "aws_secret_access_key", "aws_session_token", "aws_region_name", "aws_profile_name",
})
