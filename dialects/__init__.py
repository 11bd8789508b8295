"""Client-facing wire formats; importing this package registers each dialect."""

from dialects import anthropic, azure, openai, responses  # noqa: F401  (imported for registration)
