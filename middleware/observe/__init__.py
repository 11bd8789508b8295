"""Observability sinks fed by the meter's one per-call record (middleware/spend/sinks.py): Prometheus metrics
(state.py, metrics_route.py), request logs to stdout, a file, webhooks and a user's own loggers (setup.py), and
OpenTelemetry traces (traces.py, spans.py).
Importing the package registers its links and sink factories."""

from middleware.observe import metrics_route, setup, traces  # noqa: F401  (imported for registration)
