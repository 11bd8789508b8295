"""Upstream APIs; importing this package registers each provider."""

from providers import anthropic, azure, cohere, compat, echo, ollama_chat, openai  # noqa: F401  (imported for registration)
from providers import bedrock, gemini, sagemaker, vertex  # noqa: F401  (imported for registration)
