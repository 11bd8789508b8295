"""Snapshots of the /v1/responses dialect in both directions, and of the OpenAI provider's native fast path.

Responses requests (tests/fixtures/responses/dialect_requests.yaml) → canonical body and what only OpenAI serves;
canonical replies and chunk streams (the recorded OpenAI shapes under tests/fixtures/anthropic/, plus interleaved
parallel tool calls) → Responses objects and SSE transcripts; a native body → the upstream request.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import orjson
import pytest
import yaml

from dialects import responses as dialect
from dialects.responses_stream import encode_stream, guard_native
from kernel import errors
from kernel.call import Call, Reply
from kernel.config import build_deployment
from providers.anthropic import ANTHROPIC
from providers.openai import OPENAI
from tests.contract import request_snapshot

FIXTURES = Path(__file__).parent / "fixtures"
REQUESTS = yaml.safe_load((FIXTURES / "responses" / "dialect_requests.yaml").read_text())
REQUEST = {"model": "claude", "input": "hi", "instructions": "Be brief.", "tools": [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}], "metadata": {"team": "a"}}


def decoded(body: dict) -> Call:
    call = Call(id="c1", route="responses", endpoint="responses", dialect="responses", raw=orjson.dumps(body))
    asyncio.run(dialect.decode(call))
    return call


def steady(value):
    """The random response id and the clock taken out, so a snapshot compares what the encoder decided."""
    text = orjson.dumps(value).decode()
    for rid in set(re.findall(r"resp_([0-9a-f]{24})", text)):
        text = text.replace(rid, "RID")
    return orjson.loads(re.sub(r'"created_at":\d+', '"created_at":0', text))


def sse_transcript(data: bytes) -> list[dict]:
    out = []
    for frame in data.decode().split("\n\n"):
        if frame.strip():
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


def chunks(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


@pytest.mark.parametrize("case", REQUESTS, ids=[c["name"] for c in REQUESTS])
def test_decode_to_canonical(case, json_snapshot):
    call = decoded(case["body"])
    assert call.endpoint == "chat" and call.native == case["body"]
    only = call.native_only
    assert {"body": call.body, "stream": call.stream, "metadata": call.metadata,
            "openai_only": None if only is None else {"param": only.param, "message": only.message}} == json_snapshot


def test_gateway_fields_set_aside_and_metadata_kept():
    call = decoded({"model": "gpt", "input": "hi", "metadata": {"k": "v"}, "fallbacks": ["claude"], "api_key": "sk-x"})
    assert call.native == {"model": "gpt", "input": "hi", "metadata": {"k": "v"}}
    assert call.raw_body is None  # changed: the provider re-serialises
    assert call.options["fallbacks"] == ["claude"] and call.credentials == {"api_key": "sk-x"}
    assert call.metadata == {"k": "v"}


@pytest.mark.parametrize("stream", [False, True])
def test_native_request_to_openai(stream, json_snapshot):
    body = {"model": "gpt", "input": "hi", "stream": stream, "store": True, "tools": [{"type": "web_search"}]}
    call = decoded(body)
    problems: list[str] = []
    d = build_deployment({"model_name": "gpt", "litellm_params": {
        "model": "openai/gpt-4o", "api_key": "sk-oa-secret", "max_tokens": 99}}, 0, problems, [], "t")
    req = OPENAI.build_request(call, d)
    snap = request_snapshot(req)
    assert snap["body"] == {**body, "model": "gpt-4o", "max_output_tokens": 99}
    assert req.wire == "responses" and req.url == "https://api.openai.com/v1/responses"
    assert snap == json_snapshot


def test_only_openai_takes_the_native_wire():
    assert "responses" in OPENAI.native_wires and not ANTHROPIC.native_wires


@pytest.mark.parametrize("name", ["canonical_text", "canonical_tool_calls", "canonical_length_reasoning"])
def test_encode_canonical_reply(name, json_snapshot):
    body = orjson.loads((FIXTURES / "anthropic" / f"{name}.json").read_bytes())
    call = Call(id="c1", route="responses", endpoint="chat", dialect="responses", model="claude", native=REQUEST)
    out = dialect.encode(call, Reply(body=body))
    assert out.media_type == "application/json" and out.wire == "responses"
    assert steady(orjson.loads(out.raw)) == json_snapshot


def test_encode_passes_openai_bytes_through():
    raw = b'{"id":"resp_x","object":"response","output":[]}'
    call = Call(id="c1", route="responses", endpoint="chat", dialect="responses", model="gpt")
    assert dialect.encode(call, Reply(raw=raw, wire="responses")).raw is raw


@pytest.mark.parametrize("path", ["anthropic/chunks_text.jsonl", "anthropic/chunks_tools.jsonl",
                                  "anthropic/chunks_reasoning.jsonl", "responses/chunks_interleaved_tools.jsonl"],
                         ids=["text", "tools", "reasoning", "interleaved_tools"])
def test_encode_canonical_stream(path, json_snapshot):
    events = sse_transcript(_drain(encode_stream(_aiter(chunks(FIXTURES / path)), REQUEST, "claude")))
    names = [e["event"] for e in events]
    assert names[:2] == ["response.created", "response.in_progress"]
    assert names[-1] in ("response.completed", "response.incomplete")
    assert [e["data"]["sequence_number"] for e in events] == list(range(len(events)))
    assert all(e["event"] == e["data"]["type"] for e in events)
    # Items open and close one at a time, in output_index order.
    added = [e["data"]["output_index"] for e in events if e["event"] == "response.output_item.added"]
    done = [e["data"]["output_index"] for e in events if e["event"] == "response.output_item.done"]
    assert added == done == list(range(len(added)))
    opened = None
    for e in events:
        index = e["data"].get("output_index")
        if e["event"] == "response.output_item.added":
            assert opened is None
            opened = index
        elif e["event"] == "response.output_item.done":
            opened = None
        elif index is not None:
            assert index == opened, e
    final = events[-1]["data"]["response"]["output"]
    assert [i["type"] for i in final] == [e["data"]["item"]["type"] for e in events
                                         if e["event"] == "response.output_item.done"]
    assert steady(events) == json_snapshot


def test_interleaved_tool_calls_keep_their_arguments():
    events = sse_transcript(_drain(encode_stream(
        _aiter(chunks(FIXTURES / "responses" / "chunks_interleaved_tools.jsonl")), REQUEST, "claude")))
    response = events[-1]["data"]["response"]
    calls = [(i["call_id"], orjson.loads(i["arguments"])) for i in response["output"] if i["type"] == "function_call"]
    assert calls == [("call_a", {"location": "Paris"}), ("call_b", {"location": "Rome"})]
    assert response["usage"] == {"input_tokens": 30, "input_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 0},
                                 "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 5},
                                 "total_tokens": 50}


def test_stream_error_after_start_is_error_then_failed(json_snapshot):
    async def failing():
        yield chunks(FIXTURES / "anthropic" / "chunks_text.jsonl")[1]
        raise errors.UpstreamUnavailable("deployment x broke off its stream", status=502)

    events = sse_transcript(_drain(encode_stream(failing(), REQUEST, "claude")))
    assert [e["event"] for e in events][-2:] == ["error", "response.failed"]
    assert steady(events[-2:]) == json_snapshot


def test_stream_error_before_start_is_an_ordinary_error():
    async def failing():
        raise errors.RateLimited("slow down")
        yield  # pragma: no cover

    with pytest.raises(errors.RateLimited):
        _drain(encode_stream(failing(), REQUEST, "claude"))


def test_native_stream_guard_numbers_its_error_event():
    async def broken():
        yield b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n'
        yield b'event: response.in_progress\ndata: {"type":"response.in_progress","sequence_number":1}\n\n'
        raise errors.UpstreamUnavailable("cut", status=503)

    events = sse_transcript(_drain(guard_native(broken())))
    assert events[-1] == {"event": "error", "data": {"type": "error", "sequence_number": 2,
                                                     "code": "upstream_unavailable", "message": "cut",
                                                     "param": None}}
