"""Observability sinks fed by the meter's per-call record (middleware/spend/sinks.py): Prometheus metrics."""

from middleware.observe import metrics_route  # noqa: F401  (imported for registration)
