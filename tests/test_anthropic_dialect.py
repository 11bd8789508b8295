"""Snapshots of the /v1/messages dialect in both directions, and of the Anthropic provider's native fast path.

Anthropic requests (tests/fixtures/anthropic/dialect_requests.yaml) → canonical body; canonical replies and
chunk streams (recorded OpenAI shapes) → Anthropic Messages and SSE transcripts; native bodies → the upstream
request; errors → Anthropic's envelope. The provider's OpenAI-side direction is pinned by the contract test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
import yaml

from dialects import anthropic as dialect
from dialects.anthropic_stream import encode_stream, guard_native
from kernel import errors
from kernel.call import Call, Reply
from kernel.config import build_deployment
from providers.anthropic import ANTHROPIC
from tests.contract import collect_stream, request_snapshot

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
REQUESTS = yaml.safe_load((FIXTURES / "dialect_requests.yaml").read_text())


def deployment(**params):
    problems: list[str] = []
    d = build_deployment({"model_name": "claude", "litellm_params": {
        "model": "anthropic/claude-sonnet-4-5-20250929", "api_key": "sk-ant-secret", **params}}, 0, problems, [], "t")
    assert not problems
    return d


def decoded(body: dict, endpoint: str = "messages", headers: dict | None = None) -> Call:
    call = Call(id="c1", route="messages", endpoint=endpoint, dialect="anthropic", raw=orjson.dumps(body),
                headers=headers or {})
    asyncio.run(dialect.decode(call))
    return call


def sse_transcript(data: bytes) -> list[dict]:
    """An SSE byte stream as [{event, data}] so a snapshot reads event by event."""
    out = []
    for frame in data.decode().split("\n\n"):
        if not frame.strip():
            continue
        lines = dict(line.split(": ", 1) for line in frame.strip().split("\n"))
        out.append({"event": lines.get("event"), "data": orjson.loads(lines["data"])})
    return out


async def _aiter(items):
    for item in items:
        yield item


def _drain(stream) -> bytes:
    async def run():
        return b"".join([c async for c in stream])

    return asyncio.run(run())


@pytest.mark.parametrize("case", REQUESTS, ids=[c["name"] for c in REQUESTS])
def test_decode_to_canonical(case, json_snapshot):
    call = decoded(case["body"], case.get("endpoint", "messages"))
    assert call.native["model"] == case["body"]["model"]
    assert call.endpoint == ("count_tokens" if case.get("endpoint") == "count_tokens" else "chat")
    assert {"body": call.body, "stream": call.stream, "metadata": call.metadata} == json_snapshot


def test_native_body_kept_and_gateway_fields_set_aside():
    call = decoded({"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
                    "metadata": {"user_id": "u1", "trace_id": "t1"}, "fallbacks": ["gpt-4o"], "api_key": "sk-x"})
    assert call.native == {"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
                           "metadata": {"user_id": "u1"}}
    assert call.options["fallbacks"] == ["gpt-4o"]
    assert call.credentials == {"api_key": "sk-x"}
    assert call.metadata == {"user_id": "u1", "trace_id": "t1"}


@pytest.mark.parametrize("stream", [False, True])
def test_native_pass_through_request(stream, json_snapshot):
    body = {"model": "claude", "max_tokens": 2048, "stream": stream, "top_k": 5,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "system": [{"type": "text", "text": "ctx", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"},
                 "citations": {"enabled": True}}, {"type": "text", "text": "?"}]}]}
    call = decoded(body, headers={"anthropic-version": "2023-06-01", "anthropic-beta": "files-api-2025-04-14",
                                  "x-api-key": "sk-gateway"})
    req = ANTHROPIC.build_request(call, deployment(temperature=0.1, api_base="http://claude.internal/v1"))
    snap = request_snapshot(req)
    assert snap["body"] == {**body, "model": "claude-sonnet-4-5-20250929", "temperature": 0.1}
    assert snap["headers"]["x-api-key"] == "***"
    assert req.headers["x-api-key"] == "sk-ant-secret"  # the upstream key, never the gateway's
    assert snap == json_snapshot


def test_count_tokens_native_request():
    call = decoded({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}, endpoint="count_tokens")
    req = ANTHROPIC.build_request(call, deployment())
    assert req.url == "https://api.anthropic.com/v1/messages/count_tokens"
    assert orjson.loads(req.content) == {"model": "claude-sonnet-4-5-20250929",
                                         "messages": [{"role": "user", "content": "hi"}]}
    assert req.stream is False


@pytest.mark.parametrize("name", ["canonical_text", "canonical_tool_calls", "canonical_length_reasoning"])
def test_encode_canonical_reply(name, json_snapshot):
    body = orjson.loads((FIXTURES / f"{name}.json").read_bytes())
    call = Call(id="c1", route="messages", endpoint="chat", dialect="anthropic", model="claude")
    out = dialect.encode(call, Reply(body=body))
    assert out.media_type == "application/json" and out.wire == "anthropic"
    assert orjson.loads(out.raw) == json_snapshot


def test_encode_passes_anthropic_bytes_through():
    raw = (FIXTURES / "message_text.json").read_bytes()
    call = Call(id="c1", route="messages", endpoint="chat", dialect="anthropic", model="claude")
    out = dialect.encode(call, Reply(raw=raw, wire="anthropic"))
    assert out.raw is raw  # not parsed, not re-serialised


@pytest.mark.parametrize("name", ["chunks_text", "chunks_tools", "chunks_reasoning"])
def test_encode_canonical_stream(name, json_snapshot):
    chunks = [orjson.loads(line) for line in (FIXTURES / f"{name}.jsonl").read_bytes().splitlines() if line]
    events = sse_transcript(_drain(encode_stream(_aiter(chunks), "claude")))
    names = [e["event"] for e in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    starts = [e["data"]["index"] for e in events if e["event"] == "content_block_start"]
    stops = [e["data"]["index"] for e in events if e["event"] == "content_block_stop"]
    assert starts == stops == list(range(len(starts)))  # blocks open and close in order, one at a time
    assert events == json_snapshot


def test_stream_error_after_start_is_in_band():
    async def failing():
        yield orjson.loads((FIXTURES / "chunks_text.jsonl").read_bytes().splitlines()[1])
        raise errors.UpstreamUnavailable("deployment x broke off its stream", status=502)

    events = sse_transcript(_drain(encode_stream(failing(), "claude")))
    assert [e["event"] for e in events][-1] == "error"
    assert events[-1]["data"] == {"type": "error", "error": {"type": "api_error",
                                                             "message": "deployment x broke off its stream"}}


def test_stream_error_before_start_is_an_ordinary_error():
    async def failing():
        raise errors.RateLimited("slow down")
        yield  # pragma: no cover

    with pytest.raises(errors.RateLimited):
        _drain(encode_stream(failing(), "claude"))


def test_native_stream_guard_adds_error_event():
    async def broken():
        yield b'event: message_start\ndata: {"type":"message_start"}\n\n'
        raise errors.UpstreamUnavailable("cut", status=503)

    out = _drain(guard_native(broken()))
    assert out.startswith(b"event: message_start")
    assert sse_transcript(out)[-1] == {"event": "error", "data": {"type": "error", "error": {
        "type": "overloaded_error", "message": "cut"}}}


def test_provider_stream_error_event_raises_typed_error():
    call = Call(id="c1", route="chat", endpoint="chat", dialect="openai", body={"messages": []},
                deployment=deployment())
    data = (FIXTURES / "stream_error.txt").read_bytes()
    with pytest.raises(errors.UpstreamUnavailable) as info:
        collect_stream(ANTHROPIC, call, data)
    assert info.value.status == 503 and info.value.retryable


@pytest.mark.parametrize(("err", "status", "kind"), [
    (errors.ClientError("messages: field required"), 400, "invalid_request_error"),
    (errors.AuthError("invalid API key"), 401, "authentication_error"),
    (errors.PermissionDenied("no"), 403, "permission_error"),
    (errors.NotFound("no route"), 404, "not_found_error"),
    (errors.PayloadTooLarge("big"), 413, "request_too_large"),
    (errors.RateLimited("slow"), 429, "rate_limit_error"),
    (errors.GatewayError("boom"), 500, "api_error"),
    (errors.UpstreamUnavailable("busy", status=503), 503, "overloaded_error"),
    (errors.UpstreamUnavailable("down"), 502, "api_error"),
    (errors.UpstreamTimeout("slow"), 504, "api_error"),
    (errors.UnknownModel("model 'x' is not served"), 400, "invalid_request_error"),
])
def test_error_envelope(err, status, kind):
    assert err.status == status
    assert orjson.loads(dialect.encode_error(err)) == {"type": "error", "error": {"type": kind, "message": err.message}}


def _chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-x1", "model": "gpt-4o", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_stream_holds_late_text_and_tools_until_the_open_tool_closes():
    # Tool 1 starts first, tool 0 and then text arrive while it is open: each waits its turn, whole.
    chunks = [_chunk({"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "b", "arguments": '{"x":'}}]}),
              _chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "a", "arguments": "{}"}}]}),
              _chunk({"content": "late "}),
              _chunk({"tool_calls": [{"index": 1, "function": {"arguments": " 1}"}}]}),
              _chunk({"content": "words"}),
              _chunk({}, "tool_calls")]
    events = sse_transcript(_drain(encode_stream(_aiter(chunks), "claude")))
    blocks = [(e["data"]["index"], e["data"]["content_block"]) for e in events if e["event"] == "content_block_start"]
    assert [(i, b["type"], b.get("id")) for i, b in blocks] == [(0, "tool_use", "call_b"), (1, "text", None),
                                                                (2, "tool_use", "call_a")]
    deltas = [(e["data"]["index"], e["data"]["delta"]) for e in events if e["event"] == "content_block_delta"]
    assert deltas == [(0, {"type": "input_json_delta", "partial_json": '{"x":'}),
                      (0, {"type": "input_json_delta", "partial_json": " 1}"}),
                      (1, {"type": "text_delta", "text": "late words"}),
                      (2, {"type": "input_json_delta", "partial_json": "{}"})]
    order = [(e["event"], e["data"].get("index")) for e in events if e["event"].startswith("content_block_")]
    opened = None
    for name, index in order:  # one block at a time
        assert (opened is None) if name == "content_block_start" else (index == opened)
        opened = index if name != "content_block_stop" else None
    assert events[0]["data"]["message"]["id"] == "msg_x1"
