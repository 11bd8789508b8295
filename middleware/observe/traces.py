"""Traces: the call sink `callbacks: ["otel"]` (and `langfuse`) switch on; spans go out over OTLP/HTTP in batches.

Off, no sink is registered and nothing of OpenTelemetry is imported. On, each finished call's spans are built in
the sink's `finish` from recorded times (spans.py) and handed to a BatchSpanProcessor, whose own thread exports
them: the request path only queues. The exporter reads the standard OTEL_EXPORTER_OTLP_* variables itself unless
the callback names an endpoint (callback_settings.otel, or Langfuse's, kernel/config/traces.py); the resource's
service.name is OTEL_SERVICE_NAME, default "relaykit". The tracer provider is relaykit's own, not the global one,
so a user's instrumentation in the same process is left alone. Shutdown flushes what is still queued.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from middleware.spend.sinks import sink_factory


def otlp_exporter(settings) -> Any:
    """The exporter for one trace callback: OTLP/HTTP protobuf, explicit endpoint and headers when it has them."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=settings.get("endpoint"), headers=settings.get("headers"))


# Replaceable (tests put the SDK's InMemorySpanExporter here): callback settings → a SpanExporter.
exporter_factory: Callable[[Any], Any] = otlp_exporter


class TraceSink:
    """Builds each finished call's spans, for the calls its callbacks want (success, failure or both)."""

    def __init__(self, builder, events: frozenset[str]) -> None:
        self.builder = builder
        self.success = "success" in events
        self.failure = "failure" in events

    def start(self, call) -> None:
        pass

    def health(self) -> dict:
        """For readiness: traces are on (the SDK's processor exports in its own thread and reports no drops)."""
        return {"traces": {"state": "on"}}

    def finish(self, call, record: dict[str, Any], reply) -> None:
        if self.success if record["status"] == "success" else self.failure:
            self.builder.build(call, record, reply)


@sink_factory
def traces(gateway) -> list[TraceSink]:
    callbacks = gateway.settings.observe.of_kind("otel")
    if not callbacks:
        return []
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from middleware.observe.spans import SpanBuilder

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "relaykit"})
    deployments = {d.id: d for d in gateway.settings.deployments}
    # One provider per set of events (callbacks, success_callback, failure_callback), each exporter its own processor.
    by_events: dict[frozenset[str], list] = {}
    for cb in callbacks:
        by_events.setdefault(cb.events, []).append(cb)
    sinks = []
    for events, group in by_events.items():
        provider = TracerProvider(resource=resource)
        for cb in group:
            provider.add_span_processor(BatchSpanProcessor(exporter_factory(cb.settings)))
        gateway.on_shutdown(_shutdown(provider))
        sinks.append(TraceSink(SpanBuilder(provider.get_tracer("relaykit"), deployments), events))
    return sinks


def _shutdown(provider):
    async def flush() -> None:
        await asyncio.to_thread(provider.shutdown)  # exports what is queued; blocking I/O, so off the loop

    return flush
