"""Upstream APIs; importing this package registers each provider."""

from providers import anthropic, azure, compat, echo, openai  # noqa: F401  (imported for registration)
