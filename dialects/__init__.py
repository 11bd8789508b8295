"""Client-facing wire formats; importing this package registers each dialect."""

from dialects import anthropic, azure, openai  # noqa: F401  (imported for registration)
