"""End-to-end: the official openai SDK through relaykit to a Claude deployment (the fake Anthropic upstream).

Each test also asks a GPT deployment the same thing where the shapes must match: an OpenAI client should
not be able to tell Claude's answers from GPT's by their structure.
"""

from __future__ import annotations

import json

import openai
import pytest

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]


@pytest.fixture
def client(fake_anthropic, fake_openai, start_gateway):
    config = {"model_list": [
        {"model_name": "claude", "litellm_params": {
            "model": "anthropic/claude-sonnet-4-5-20250929", "api_base": fake_anthropic.url, "api_key": "sk-ant-up"}},
        {"model_name": "claude-thinking", "litellm_params": {
            "model": "anthropic/thinking", "api_base": fake_anthropic.url, "api_key": "sk-ant-up"}},
        {"model_name": "claude-busy", "litellm_params": {
            "model": "anthropic/fail-529", "api_base": fake_anthropic.url, "api_key": "sk-ant-up"}},
        {"model_name": "claude-long", "litellm_params": {
            "model": "anthropic/context-too-long", "api_base": fake_anthropic.url, "api_key": "sk-ant-up"}},
        {"model_name": "claude-broken-stream", "litellm_params": {
            "model": "anthropic/stream-error", "api_base": fake_anthropic.url, "api_key": "sk-ant-up"}},
        {"model_name": "gpt", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": fake_openai.url + "/v1", "api_key": "sk-oa-up"}},
    ]}
    gw = start_gateway(config)
    return openai.OpenAI(api_key="anything", base_url=gw.url + "/v1", max_retries=0)


def shape(value):
    """The structure of a JSON value: keys and types, not contents."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items()) if v is not None and k not in ("system_fingerprint",)}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


def test_chat(client, fake_anthropic):
    out = client.chat.completions.create(model="claude", messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}], temperature=0.3,
        stop=["END"], user="u-1")
    assert out.choices[0].message.content == "echo: hi"
    assert out.choices[0].finish_reason == "stop"
    assert out.usage.prompt_tokens == 25 and out.usage.completion_tokens == 9 and out.usage.total_tokens == 34
    assert out.usage.prompt_tokens_details.cached_tokens == 4
    sent = fake_anthropic.requests[-1]
    assert sent["body"] == {"model": "claude-sonnet-4-5-20250929", "system": "Be brief.",
                            "messages": [{"role": "user", "content": "hi"}], "max_tokens": 64000,
                            "temperature": 0.3, "stop_sequences": ["END"], "metadata": {"user_id": "u-1"}}
    assert sent["headers"]["x-api-key"] == "sk-ant-up"
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent["headers"]


def test_same_shape_as_gpt(client):
    ask = {"messages": [{"role": "user", "content": "hi"}]}
    claude = client.chat.completions.create(model="claude", **ask).model_dump()
    gpt = client.chat.completions.create(model="gpt", **ask).model_dump()
    for d in (claude, gpt):
        d["usage"].pop("prompt_tokens_details", None)
        d["usage"].pop("completion_tokens_details", None)
        d.pop("_response_ms", None)
    assert shape(claude) == shape(gpt)


def test_stream_with_usage(client):
    stream = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "one two three"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 9
    assert chunks[-1].usage.prompt_tokens == 25
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)


def test_stream_without_usage_has_no_usage_chunk(client):
    chunks = list(client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}],
                                                 stream=True))
    assert all(c.choices for c in chunks)


@pytest.mark.parametrize("model", ["claude", "gpt"])
def test_streamed_tool_calls(client, model):
    chunks = list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": "weather?"}],
                                                 tools=TOOLS, stream=True))
    deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    first = deltas[0]
    assert first.index == 0 and first.id and first.function.name == "get_weather" and first.type == "function"
    assert all(d.index == 0 and d.id is None and d.function.name is None for d in deltas[1:])
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"location": "Boston, MA"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_tools_and_tool_result_round_trip(client, fake_anthropic):
    messages = [{"role": "user", "content": "weather in Boston?"}]
    first = client.chat.completions.create(model="claude", messages=messages, tools=TOOLS, tool_choice="auto",
                                           parallel_tool_calls=False)
    msg = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert msg.content == "Let me check."
    call = msg.tool_calls[0]
    assert call.id == "toolu_fake01" and json.loads(call.function.arguments) == {"location": "Boston, MA"}
    sent = fake_anthropic.requests[-1]["body"]
    assert sent["tools"] == [{"name": "get_weather", "description": "Weather in a city",
                              "input_schema": TOOLS[0]["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    messages += [msg.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny, 22C"},
                 {"role": "user", "content": "thanks"}]
    second = client.chat.completions.create(model="claude", messages=messages, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content.startswith("echo: sunny, 22C")
    turns = fake_anthropic.requests[-1]["body"]["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == [{"type": "text", "text": "Let me check."},
                                   {"type": "tool_use", "id": "toolu_fake01", "name": "get_weather",
                                    "input": {"location": "Boston, MA"}}]
    assert turns[2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_fake01", "content": "sunny, 22C"},
                                   {"type": "text", "text": "thanks"}]


def test_response_format_json_schema(client, fake_anthropic):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "unit": {"type": "string"}}}
    out = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "Jason is 25"}],
                                         response_format={"type": "json_schema",
                                                          "json_schema": {"name": "person", "schema": schema}})
    assert out.choices[0].finish_reason == "stop"
    assert out.choices[0].message.tool_calls is None
    assert json.loads(out.choices[0].message.content) == {"name": "Boston, MA", "unit": "celsius"}
    sent = fake_anthropic.requests[-1]["body"]
    assert sent["tool_choice"] == {"type": "tool", "name": "json_tool_call"}
    assert sent["tools"][-1]["input_schema"] == schema


def test_response_format_streamed(client):
    chunks = list(client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "x"}], stream=True,
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": {
            "type": "object", "properties": {"name": {"type": "string"}}}}}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(text) == {"name": "Boston, MA"}
    assert not any(c.choices[0].delta.tool_calls for c in chunks if c.choices)


def test_image_parts(client, fake_anthropic):
    client.chat.completions.create(model="claude", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]}])
    blocks = fake_anthropic.requests[-1]["body"]["messages"][0]["content"]
    assert blocks[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    assert blocks[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}


def test_thinking_comes_back_as_reasoning_content(client, fake_anthropic):
    out = client.chat.completions.create(model="claude-thinking", messages=[{"role": "user", "content": "hmm"}],
                                         reasoning_effort="low")
    message = out.choices[0].message.model_dump()
    assert message["reasoning_content"] == "Let me think."
    assert message["content"] == "echo: hmm"
    assert fake_anthropic.requests[-1]["body"]["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_overloaded_is_503(client):
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="claude-busy", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 503
    assert "Overloaded" in info.value.message


def test_prompt_too_long_is_context_window_error(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="claude-long", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "context_length_exceeded"
    assert "sk-ant-up" not in str(info.value)


def test_error_event_mid_stream_reaches_client(client):
    with pytest.raises(openai.APIError) as info:
        for _ in client.chat.completions.create(model="claude-broken-stream", stream=True,
                                                messages=[{"role": "user", "content": "a b c"}]):
            pass
    assert "Overloaded" in str(info.value)


def test_unsupported_param_is_refused_before_upstream(client, fake_anthropic):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}], logit_bias={"1": 2})
    assert "logit_bias" in info.value.message
    assert fake_anthropic.requests == []
