"""End-to-end: tool calls whose argument deltas interleave, through both stream translations.

OpenAI may stream several tool calls with their argument pieces interleaved (call 0, call 1, call 0 ...); the
Anthropic stream relaykit makes of that must still open, fill and close one content block at a time, or the
anthropic SDK's accumulator fails. The other way, Anthropic's block indices (text at 0, tools at 1, 2) must
become OpenAI tool-call indices 0, 1. Real SDKs on both ends, fakes for the upstreams.
"""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import orjson
import pytest
from starlette.responses import StreamingResponse

from tests.fakes.anthropic_upstream import events
from tests.fakes.openai_upstream import chunk

GATEWAY_KEY = "sk-gw-Jq8vT2nX5rL0wZ4p"
TOOLS = [{"name": "get_weather", "description": "Weather in a city",
          "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}},
         {"name": "get_time", "description": "Time in a zone",
          "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}}}]


def interleaved_stream(model: str) -> StreamingResponse:
    """Text first, then two tool calls whose argument deltas alternate, as an OpenAI upstream may send them."""
    deltas = [
        {"role": "assistant", "content": ""},
        {"content": "Checking "},
        {"content": "both."},
        {"tool_calls": [{"index": 0, "id": "call_w", "type": "function",
                         "function": {"name": "get_weather", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"loca'}}]},
        {"tool_calls": [{"index": 1, "id": "call_t", "type": "function",
                         "function": {"name": "get_time", "arguments": '{"zo'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'tion": "Paris"'}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": 'ne": "CET"}'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]},
    ]

    async def body():
        for delta in deltas:
            yield b"data: " + orjson.dumps(chunk(model, delta)) + b"\n\n"
        yield b"data: " + orjson.dumps(chunk(model, {}, "tool_calls")) + b"\n\n"
        yield b"data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream")


@pytest.fixture
def gateway(fake_openai, fake_anthropic, start_gateway):
    return start_gateway({"model_list": [
        {"model_name": "gpt", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": fake_openai.url + "/v1", "api_key": "sk-oa-up"}},
        {"model_name": "claude", "litellm_params": {
            "model": "anthropic/claude-sonnet-4-5", "api_base": fake_anthropic.url, "api_key": "sk-ant-up"}},
    ], "general_settings": {"master_key": GATEWAY_KEY}})


def test_anthropic_sdk_reads_interleaved_tool_calls(gateway, fake_openai):
    fake_openai.script.append(interleaved_stream("gpt-4o"))
    client = anthropic.Anthropic(base_url=gateway.url, api_key=GATEWAY_KEY, max_retries=0)
    with client.messages.stream(model="gpt", max_tokens=256, tools=TOOLS,
                                messages=[{"role": "user", "content": "weather in Paris and time in CET?"}]) as stream:
        seen = [(e.type, getattr(e, "index", None)) for e in stream]
        final = stream.get_final_message()
    assert final.id.startswith("msg_") and final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    assert final.content[0].text == "Checking both."
    weather, clock = final.content[1], final.content[2]
    assert (weather.id, weather.name, weather.input) == ("call_w", "get_weather", {"location": "Paris"})
    assert (clock.id, clock.name, clock.input) == ("call_t", "get_time", {"zone": "CET"})
    assert fake_openai.requests[-1]["body"]["stream"] is True
    # The raw order: each block started, filled and stopped before the next one starts.
    raw = [(t, i) for t, i in seen if t in ("content_block_start", "content_block_delta", "content_block_stop")]
    open_block = None
    for kind, index in raw:
        if kind == "content_block_start":
            assert open_block is None, f"block {index} opened while {open_block} was open"
            open_block = index
        else:
            assert index == open_block, f"{kind} for block {index} while {open_block} was open"
            if kind == "content_block_stop":
                open_block = None
    assert open_block is None
    assert [i for t, i in raw if t == "content_block_start"] == [0, 1, 2]


def test_raw_event_order_of_interleaved_tool_calls(gateway, fake_openai):
    fake_openai.script.append(interleaved_stream("gpt-4o"))
    body = {"model": "gpt", "max_tokens": 256, "stream": True, "tools": TOOLS,
            "messages": [{"role": "user", "content": "both?"}]}
    resp = httpx.post(gateway.url + "/v1/messages", json=body, headers={"x-api-key": GATEWAY_KEY}, timeout=10)
    assert resp.status_code == 200
    frames = [f for f in resp.text.split("\n\n") if f.strip()]
    names = [f.split("\n", 1)[0].removeprefix("event: ") for f in frames]
    data = [json.loads(f.split("data: ", 1)[1]) for f in frames]
    assert names == ["message_start",
                     "content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta",
                     "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    assert data[0]["message"]["id"] == "msg_fake123"  # the upstream's chatcmpl-fake123, as an Anthropic id
    tool_deltas = [d["delta"]["partial_json"] for d in data if d.get("delta", {}).get("type") == "input_json_delta"]
    assert tool_deltas == ['{"loca', 'tion": "Paris"', "}", '{"zone": "CET"}']  # call 1 held, then sent whole


def test_openai_sdk_gets_tool_indices_from_anthropic_blocks(gateway, fake_anthropic):
    message = {"id": "msg_two", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
               "content": [{"type": "text", "text": "Checking both."},
                           {"type": "tool_use", "id": "toolu_w", "name": "get_weather", "input": {"location": "Paris"}},
                           {"type": "tool_use", "id": "toolu_t", "name": "get_time", "input": {"zone": "CET"}}],
               "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 7}}
    fake_anthropic.script.append(StreamingResponse(events(message, False), media_type="text/event-stream"))
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
    chunks = list(client.chat.completions.create(
        model="claude", stream=True, messages=[{"role": "user", "content": "both?"}],
        tools=[{"type": "function", "function": {"name": t["name"], "parameters": t["input_schema"]}} for t in TOOLS]))
    calls: dict[int, dict] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or ()) if c.choices else ():
            call = calls.setdefault(tc.index, {"id": None, "name": None, "args": ""})
            call["id"] = call["id"] or tc.id
            call["name"] = call["name"] or (tc.function.name if tc.function else None)
            call["args"] += (tc.function.arguments or "") if tc.function else ""
    assert sorted(calls) == [0, 1]  # Anthropic's blocks 1 and 2, numbered as OpenAI numbers tool calls
    assert (calls[0]["id"], calls[0]["name"], json.loads(calls[0]["args"])) == ("toolu_w", "get_weather",
                                                                                {"location": "Paris"})
    assert (calls[1]["id"], calls[1]["name"], json.loads(calls[1]["args"])) == ("toolu_t", "get_time", {"zone": "CET"})
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Checking both."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
