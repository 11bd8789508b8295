"""Client-facing wire formats; importing this package registers each dialect."""

from dialects import azure, openai  # noqa: F401  (imported for registration)
