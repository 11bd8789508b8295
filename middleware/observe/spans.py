"""One finished call → its spans, built after the fact from the times the links recorded (never live on the hot path).

A server span covers the whole call (arrival to the meter's settling: a stream's end, or a whole answer's
return, before it is written out); under it, one span per phase the marks record (read, auth, decode, route:
the first of each, as Server-Timing has them) and one client span per upstream attempt: each failed try from
`call.attempts` (it ended at `at`, after `ms`), and the try that answered (from the last `route` mark to the call's
end; for a stream that includes its whole body). Attributes follow the OpenTelemetry GenAI semantic conventions.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from middleware.observe.sink import STATUS_OF_TYPE

# gen_ai.operation.name for relaykit's canonical endpoints (the conventions' well-known values where they have one).
OPERATIONS = {"chat": "chat", "completions": "text_completion", "embeddings": "embeddings",
              "responses": "chat", "messages": "chat"}
# gen_ai.provider.name's well-known values for LiteLLM's provider names; others are passed on as they are.
PROVIDERS = {"azure": "azure.ai.openai", "azure_ai": "azure.ai.inference", "bedrock": "aws.bedrock",
             "vertex_ai": "gcp.vertex_ai", "gemini": "gcp.gemini", "mistral": "mistral_ai", "xai": "x_ai"}
_PROPAGATOR = TraceContextTextMapPropagator()


class SpanBuilder:
    """Builds a call's spans on one tracer; `offset_ns` turns perf_counter seconds into epoch nanoseconds."""

    def __init__(self, tracer, deployments: dict[str, Any]) -> None:
        self.tracer = tracer
        self.deployments = deployments  # id → Deployment: a failed attempt's provider and upstream model
        # One offset for the process, taken at start-up: perf_counter does not jump when the wall clock is set.
        self.offset_ns = time.time_ns() - int(time.perf_counter() * 1e9)

    def ns(self, t: float) -> int:
        return int(t * 1e9) + self.offset_ns

    def build(self, call, record: dict[str, Any], reply) -> None:
        started = call.started
        end = started + record["latency_ms"] / 1000
        headers = call.headers
        # A client's traceparent (and tracestate) continue its trace: its span is this one's parent.
        parent = _PROPAGATOR.extract(headers) if "traceparent" in headers else None
        ok = record["status"] == "success"
        operation = OPERATIONS.get(call.endpoint, call.endpoint)
        d = call.deployment
        attrs: dict[str, Any] = {
            "http.request.method": call.method, "url.path": call.path, "http.route": call.path,
            "relaykit.call_id": call.id, "relaykit.route": call.route, "gen_ai.operation.name": operation,
        }
        group = record["model_group"]
        if group:
            attrs["gen_ai.request.model"] = group
        if d is not None:
            attrs["gen_ai.provider.name"] = PROVIDERS.get(d.provider, d.provider)
            attrs["relaykit.deployment.id"] = d.id
        body = _reply_body(reply)
        if body is not None:
            model = body.get("model")
            attrs["gen_ai.response.model"] = model if isinstance(model, str) else record["model"]
            if isinstance(body.get("id"), str):
                attrs["gen_ai.response.id"] = body["id"]
            reasons = _finish_reasons(body)
            if reasons:
                attrs["gen_ai.response.finish_reasons"] = reasons
        elif d is not None and ok:
            attrs["gen_ai.response.model"] = record["model"]
        if record["total_tokens"]:
            attrs["gen_ai.usage.input_tokens"] = record["prompt_tokens"]
            attrs["gen_ai.usage.output_tokens"] = record["completion_tokens"]
        if record["spend"]:
            attrs["relaykit.cost"] = record["spend"]
            attrs["relaykit.cost_estimated"] = bool(record["cost_estimated"])
        if call.stream:
            attrs["relaykit.stream"] = True
            if record["ttft_ms"] is not None:
                attrs["relaykit.ttft_ms"] = record["ttft_ms"]
        for name in ("key_alias", "team_id"):
            if record[name]:
                attrs[f"relaykit.{name}"] = record[name]
        attempts = call.attempts
        if ok:
            attrs["http.response.status_code"] = reply.status if reply is not None else 200
        else:
            error = record["error_type"] or "error"
            attrs["error.type"] = error
            status = attempts[-1].status if attempts and attempts[-1].status else STATUS_OF_TYPE.get(error, 500)
            attrs["http.response.status_code"] = status
        name = f"{call.method} {call.path}" if not call.path_params else f"{call.method} {call.route}"
        server = self.tracer.start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attrs,
                                        start_time=self.ns(started))
        if not ok:
            server.set_status(Status(StatusCode.ERROR, record.get("error_message") or record["error_type"]))
        inside = trace.set_span_in_context(server)
        routes = self._phases(call, inside)
        self._attempts(call, attempts, routes, ok, end, operation, inside)
        server.end(end_time=self.ns(end))

    def _phases(self, call, inside) -> list[float]:
        """A span per phase (the first mark of each name); returns the times of every `route` mark (one per try)."""
        prev = call.started
        seen: tuple = ()
        routes = []
        for phase, at in call.marks:
            if phase == "route":
                routes.append(at)
            if phase in seen:
                continue
            seen += (phase,)
            self.tracer.start_span(phase, context=inside, attributes={"relaykit.phase": phase},
                                   start_time=self.ns(prev)).end(end_time=self.ns(at))
            prev = at
        return routes

    def _attempts(self, call, attempts, routes: list[float], ok: bool, end: float, operation: str, inside) -> None:
        for number, a in enumerate(attempts, 1):
            d = self.deployments.get(a.deployment)
            if d is None and call.deployment is not None and call.deployment.id == a.deployment:
                d = call.deployment
            at = a.at or end
            attrs = _attempt_attrs(a.deployment, d, number)
            attrs["relaykit.attempt.kind"] = a.kind
            attrs["error.type"] = a.error or "error"
            if a.status:
                attrs["http.response.status_code"] = a.status
            span = self.tracer.start_span(_attempt_name(operation, d), context=inside, kind=SpanKind.CLIENT,
                                          attributes=attrs, start_time=self.ns(at - a.ms / 1000))
            span.set_status(Status(StatusCode.ERROR, a.error))
            span.end(end_time=self.ns(at))
        d = call.deployment
        # Each try that reached provider_call left a `route` mark; one more mark than failures is the try that
        # answered (or failed in-band, mid-stream).
        if d is None or not routes or len(routes) <= len(attempts):
            return
        attrs = _attempt_attrs(d.id, d, len(attempts) + 1)
        span = self.tracer.start_span(_attempt_name(operation, d), context=inside, kind=SpanKind.CLIENT,
                                      attributes=attrs, start_time=self.ns(routes[-1]))
        if not ok:
            span.set_status(Status(StatusCode.ERROR, "the answer failed after it began"))
        span.end(end_time=self.ns(end))


def _attempt_attrs(model_id: str, d, number: int) -> dict[str, Any]:
    attrs: dict[str, Any] = {"relaykit.deployment.id": model_id, "relaykit.attempt.number": number}
    if d is not None:
        attrs["gen_ai.provider.name"] = PROVIDERS.get(d.provider, d.provider)
        attrs["gen_ai.request.model"] = d.upstream_model
        if d.api_base:
            attrs["server.address"] = d.api_base
    return attrs


def _attempt_name(operation: str, d) -> str:
    return f"{operation} {d.upstream_model}" if d is not None else operation


def _reply_body(reply) -> dict | None:
    """The answer's JSON if some layer already parsed it (never parsed here just for a trace)."""
    if reply is None:
        return None
    body = reply.body if reply.body is not None else reply.parsed
    return body if isinstance(body, dict) else None


def _finish_reasons(body: dict) -> list[str]:
    choices = body.get("choices")
    if isinstance(choices, list):
        return [c["finish_reason"] for c in choices if isinstance(c, dict) and isinstance(c.get("finish_reason"), str)]
    reason = body.get("stop_reason")  # an Anthropic-shaped answer
    return [reason] if isinstance(reason, str) else []
