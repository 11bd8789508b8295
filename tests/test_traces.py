"""OpenTelemetry traces (middleware/observe/traces.py) from the real gateway: the SDK's in-memory exporter for the
span tree and its attributes, and end to end a real OTLP/HTTP receiver served by the test (protobuf decoded with
opentelemetry-proto) for `otel` with the standard variables, a client's traceparent, and `langfuse`'s mapping."""

from __future__ import annotations

import base64
import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from kernel.config import parse_config
from kernel.errors import ConfigError
from middleware.observe import traces
from tests.routing_helpers import MESSAGES, dep

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
PHASES = ["read", "auth", "decode", "route"]


def config(url: str, callbacks: dict | None = None) -> dict:
    return {"model_list": [dep("ok", "good", url, model_info={"input_cost_per_token": 1e-6}),
                           dep("a", "fail-500", url), dep("c", "good", url), dep("bad", "fail-400", url)],
            "router_settings": {"fallbacks": [{"a": ["c"]}]},
            "litellm_settings": callbacks or {"callbacks": ["otel"]}}


def client(gw, **kw) -> openai.OpenAI:
    return openai.OpenAI(api_key="unused", base_url=gw.url + "/v1", max_retries=0, **kw)


@pytest.fixture
def memory(monkeypatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    monkeypatch.setattr(traces, "exporter_factory", lambda settings: exporter)
    return exporter


def tree(spans) -> dict:
    """server span → its children (by name), checking every child hangs off a server span of the same trace."""
    servers = {s.context.span_id: s for s in spans if s.kind == SpanKind.SERVER}
    out = {s.context.span_id: [] for s in servers.values()}
    for s in spans:
        if s.kind != SpanKind.SERVER:
            assert s.parent.span_id in servers and s.context.trace_id == servers[s.parent.span_id].context.trace_id
            out[s.parent.span_id].append(s)
    return {sid: (servers[sid], sorted(kids, key=lambda k: k.start_time)) for sid, kids in out.items()}


def test_a_whole_answer_a_stream_and_a_failure_each_get_a_tree(fake_openai, start_gateway, memory):
    gw = start_gateway(config(fake_openai.url))
    c = client(gw)
    whole = c.chat.completions.with_raw_response.create(model="ok", messages=MESSAGES)
    assert "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
        model="ok", messages=MESSAGES, stream=True)) == "echo: hi"
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="bad", messages=MESSAGES)
    gw.__exit__(None, None, None)  # shutdown flushes the batch processor
    calls = sorted(tree(memory.get_finished_spans()).values(), key=lambda t: t[0].start_time)
    assert len(calls) == 3
    (ok, ok_kids), (streamed, stream_kids), (failed, failed_kids) = calls
    a = ok.attributes
    assert ok.name == "POST /v1/chat/completions" and ok.resource.attributes["service.name"] == "relaykit"
    assert a["relaykit.call_id"] == whole.headers["x-relaykit-call-id"]
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "ok" and a["gen_ai.response.model"] == "good"
    assert a["gen_ai.usage.input_tokens"] == 9 and a["gen_ai.usage.output_tokens"] == 12
    assert list(a["gen_ai.response.finish_reasons"]) == ["stop"]
    assert a["http.response.status_code"] == 200 and a["http.request.method"] == "POST"
    assert a["relaykit.cost"] == pytest.approx(9e-6) and ok.status.status_code == StatusCode.UNSET
    assert [k.name for k in ok_kids] == [*PHASES, "chat good"]
    upstream = ok_kids[-1]
    assert upstream.kind == SpanKind.CLIENT and upstream.attributes["gen_ai.request.model"] == "good"
    assert upstream.attributes["relaykit.deployment.id"] == whole.headers["x-relaykit-model-id"]
    for kid in ok_kids:
        assert ok.start_time <= kid.start_time <= kid.end_time <= ok.end_time
    for before, after in itertools.pairwise(ok_kids):  # the phases follow one another
        assert before.end_time <= after.start_time
    s = streamed.attributes
    assert s["relaykit.stream"] is True and s["gen_ai.usage.output_tokens"] == 12 and "relaykit.ttft_ms" in s
    assert [k.name for k in stream_kids] == [*PHASES, "chat good"]
    assert failed.status.status_code == StatusCode.ERROR and failed.attributes["error.type"] == "invalid_request_error"
    assert failed.attributes["http.response.status_code"] == 400
    assert [k.name for k in failed_kids] == [*PHASES, "chat fail-400"]
    assert failed_kids[-1].attributes["http.response.status_code"] == 400
    assert failed_kids[-1].status.status_code == StatusCode.ERROR


def test_a_fallback_has_a_span_per_upstream_attempt(fake_openai, start_gateway, memory):
    gw = start_gateway(config(fake_openai.url))
    assert client(gw).chat.completions.create(model="a", messages=MESSAGES).choices[0].message.content == "echo: hi"
    gw.__exit__(None, None, None)
    [(server, kids)] = tree(memory.get_finished_spans()).values()
    tries = [k for k in kids if k.kind == SpanKind.CLIENT]
    assert [t.name for t in tries] == ["chat fail-500", "chat good"]
    lost, won = tries
    assert lost.status.status_code == StatusCode.ERROR and lost.attributes["http.response.status_code"] == 500
    assert lost.attributes["relaykit.attempt.number"] == 1 and won.attributes["relaykit.attempt.number"] == 2
    assert lost.attributes["error.type"] and lost.end_time <= won.start_time
    assert server.attributes["gen_ai.request.model"] == "c"  # the group that answered (the meter's model_group)
    assert server.status.status_code == StatusCode.UNSET


class Receiver:
    """An OTLP/HTTP endpoint on loopback: records every POST (path, headers, decoded ExportTraceServiceRequest)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict, ExportTraceServiceRequest]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                outer.posts.append((self.path, {k.lower(): v for k, v in self.headers.items()}, request))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list:
        return [span for _, _, req in self.posts for rs in req.resource_spans for ss in rs.scope_spans
                for span in ss.spans]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def attrs(span) -> dict:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in span.attributes}


def test_otlp_over_http_to_the_standard_endpoint_continues_the_clients_trace(fake_openai, start_gateway, receiver,
                                                                               monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gateway-under-test")
    gw = start_gateway(config(fake_openai.url))
    c = client(gw, default_headers={"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"})
    c.chat.completions.create(model="ok", messages=MESSAGES)
    client(gw).chat.completions.create(model="ok", messages=MESSAGES)  # no traceparent: a trace of its own
    gw.__exit__(None, None, None)
    assert {path for path, _, _ in receiver.posts} == {"/v1/traces"}
    resource = receiver.posts[0][2].resource_spans[0].resource
    assert attrs(resource)["service.name"] == "gateway-under-test"
    spans = receiver.spans()
    servers = [s for s in spans if s.kind == s.SPAN_KIND_SERVER]
    assert len(servers) == 2 and len(spans) == 2 * 6
    continued = next(s for s in servers if s.trace_id.hex() == TRACE_ID)
    assert continued.parent_span_id.hex() == CLIENT_SPAN  # the client's span is the gateway's parent
    other = next(s for s in servers if s is not continued)
    assert other.trace_id.hex() != TRACE_ID and other.parent_span_id == b""
    kids = [s for s in spans if s.parent_span_id == continued.span_id]
    assert sorted(s.name for s in kids) == sorted([*PHASES, "chat good"])
    assert all(s.trace_id == continued.trace_id for s in kids)
    a = attrs(continued)
    assert a["gen_ai.request.model"] == "ok" and a["gen_ai.usage.input_tokens"] == 9
    assert a["gen_ai.provider.name"] == "openai" and a["relaykit.call_id"]


def test_callback_settings_endpoint_and_failure_callback_only_get_failures(fake_openai, start_gateway, receiver):
    gw = start_gateway({**config(fake_openai.url, {"failure_callback": ["otel"]}),
                        "callback_settings": {"otel": {"endpoint": receiver.url + "/custom/traces",
                                                       "headers": {"x-team": "blue"}}}})
    c = client(gw)
    c.chat.completions.create(model="ok", messages=MESSAGES)
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="bad", messages=MESSAGES)
    gw.__exit__(None, None, None)
    assert {(path, headers["x-team"]) for path, headers, _ in receiver.posts} == {("/custom/traces", "blue")}
    servers = [s for s in receiver.spans() if s.kind == s.SPAN_KIND_SERVER]
    assert [attrs(s)["gen_ai.request.model"] for s in servers] == ["bad"]


def test_langfuse_is_otlp_to_its_endpoint_with_basic_auth(fake_openai, start_gateway, receiver, monkeypatch):
    public, secret = "pk-lf-7c1e2a90-test", "sk-lf-93b4d2f1-test"
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", public)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", secret)
    monkeypatch.setenv("LANGFUSE_HOST", receiver.url + "/")
    gw = start_gateway(config(fake_openai.url, {"success_callback": ["langfuse"]}))
    client(gw).chat.completions.create(model="ok", messages=MESSAGES)
    gw.__exit__(None, None, None)
    assert receiver.posts
    for path, headers, _ in receiver.posts:
        assert path == "/api/public/otel/v1/traces"
        assert headers["authorization"] == "Basic " + base64.b64encode(f"{public}:{secret}".encode()).decode()
    assert sorted(s.name for s in receiver.spans()) == sorted(["POST /v1/chat/completions", *PHASES, "chat good"])


def test_langfuse_without_its_keys_is_a_startup_error(monkeypatch):
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-only-the-secret")
    with pytest.raises(ConfigError) as err:
        parse_config({"litellm_settings": {"success_callback": ["langfuse"]}}, "config.yaml")
    [problem] = err.value.problems
    assert "litellm_settings.success_callback[0]" in problem and "LANGFUSE_PUBLIC_KEY" in problem
    assert "LANGFUSE_SECRET_KEY" not in problem and "sk-lf-only-the-secret" not in problem


def test_otel_without_the_packages_is_a_startup_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ConfigError) as err:
        parse_config({"litellm_settings": {"callbacks": ["otel"]}}, "config.yaml")
    assert "pip install 'relaykit[otel]'" in err.value.problems[0]


def test_bad_otel_settings_are_startup_errors_and_known_names_do_not_warn():
    with pytest.raises(ConfigError) as err:
        parse_config({"litellm_settings": {"callbacks": ["otel"]},
                      "callback_settings": {"otel": {"endpoint": "localhost:4318", "colour": 1}}}, "config.yaml")
    assert any('unknown key "colour"' in p for p in err.value.problems)
    settings = parse_config({"litellm_settings": {"callbacks": ["otel"]},
                             "callback_settings": {"otel": {"endpoint": "http://127.0.0.1:4318/v1/traces"}}},
                            "config.yaml")
    assert not settings.warnings
    [cb] = settings.observe.of_kind("otel")
    assert cb.events == frozenset({"success", "failure"}) and cb.settings["endpoint"].endswith("/v1/traces")
