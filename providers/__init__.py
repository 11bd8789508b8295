"""Upstream APIs; importing this package registers each provider."""

from providers import (  # noqa: F401  (imported for registration)
    anthropic,
    azure,
    bedrock,
    cohere,
    compat,
    echo,
    gemini,
    ollama_chat,
    openai,
    sagemaker,
    vertex,
)
