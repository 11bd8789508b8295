"""Observability sinks fed by the meter's one per-call record (middleware/spend/sinks.py): request logs to stdout,
a file, webhooks and a user's own loggers (setup.py). Importing the package registers its sink factory."""

from middleware.observe import setup  # noqa: F401  (imported for registration)
