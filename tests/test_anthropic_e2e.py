"""End-to-end: the official anthropic SDK through relaykit's /v1/messages, to a Claude and to a GPT deployment.

Against the fake Anthropic upstream the body is forwarded natively (pass-through); against the fake OpenAI
upstream it is translated both ways. Either way the SDK, its stream helpers included, must not notice.
"""

from __future__ import annotations

import anthropic
import httpx
import pytest

GATEWAY_KEY = "sk-gateway-0123456789abcdef"  # a master key strong enough to start with

WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"location": {"type": "string"}},
                            "required": ["location"]}}


@pytest.fixture
def gateway(fake_anthropic, fake_openai, start_gateway):
    config = {"model_list": [
        {"model_name": "claude-3-opus-20240229", "litellm_params": {
            "model": "anthropic/claude-3-opus-20240229", "api_base": fake_anthropic.url, "api_key": "sk-ant-up"}},
        {"model_name": "claude-fail-529", "litellm_params": {
            "model": "anthropic/fail-529", "api_base": fake_anthropic.url, "api_key": "sk-ant-up"}},
        {"model_name": "claude-stream-error", "litellm_params": {
            "model": "anthropic/stream-error", "api_base": fake_anthropic.url + "/v1", "api_key": "sk-ant-up"}},
        {"model_name": "claude-context", "litellm_params": {
            "model": "anthropic/context-too-long", "api_base": fake_anthropic.url, "api_key": "sk-ant-up"}},
        {"model_name": "gpt-4o", "litellm_params": {
            "model": "openai/gpt-4o-2024", "api_base": fake_openai.url + "/v1", "api_key": "sk-oa-up"}},
        {"model_name": "gpt-fail-429", "litellm_params": {
            "model": "openai/fail-429", "api_base": fake_openai.url + "/v1", "api_key": "sk-oa-up"}},
    ], "general_settings": {"master_key": GATEWAY_KEY}}
    return start_gateway(config)


@pytest.fixture
def client(gateway):
    return anthropic.Anthropic(base_url=gateway.url, api_key=GATEWAY_KEY, max_retries=0)


BOTH = pytest.mark.parametrize("model", ["claude-3-opus-20240229", "gpt-4o"])


@BOTH
def test_seed_example_works_unchanged(client, model, fake_anthropic, fake_openai):
    # The seed's "Anthropic Python SDK" example, word for word apart from the model name.
    message = client.messages.create(max_tokens=1024, messages=[{"role": "user", "content": "Hello, Claude"}],
                                      model=model)
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text == "echo: Hello, Claude"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens > 0
    if model.startswith("claude"):
        sent = fake_anthropic.requests[-1]
        assert sent["body"] == {"max_tokens": 1024, "messages": [{"role": "user", "content": "Hello, Claude"}],
                                "model": "claude-3-opus-20240229"}
        assert sent["headers"]["x-api-key"] == "sk-ant-up"  # the gateway key never goes upstream
        assert sent["headers"]["anthropic-version"] == client.default_headers["anthropic-version"]  # the client's own
    else:
        sent = fake_openai.requests[-1]["body"]
        assert sent["model"] == "gpt-4o-2024"
        assert sent["messages"] == [{"role": "user", "content": "Hello, Claude"}]
        assert sent["max_tokens"] == 1024


@BOTH
def test_system_prompt(client, model, fake_anthropic, fake_openai):
    client.messages.create(model=model, max_tokens=50, system=[{"type": "text", "text": "Be brief."}],
                           messages=[{"role": "user", "content": "hi"}])
    if model.startswith("claude"):
        assert fake_anthropic.requests[-1]["body"]["system"] == [{"type": "text", "text": "Be brief."}]
    else:
        assert fake_openai.requests[-1]["body"]["messages"][0] == {"role": "system", "content": "Be brief."}


@BOTH
def test_stream_helpers(client, model):
    with client.messages.stream(model=model, max_tokens=100,
                                messages=[{"role": "user", "content": "tell me a story"}]) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1, "text must arrive in pieces, not in one block at the end"
    assert "".join(pieces) == "echo: tell me a story"
    assert final.content[0].text == "echo: tell me a story"
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0


@BOTH
def test_raw_event_order(gateway, model):
    with httpx.stream("POST", gateway.url + "/v1/messages", headers={"x-api-key": GATEWAY_KEY,
                                                                      "anthropic-version": "2023-06-01"},
                      json={"model": model, "max_tokens": 20, "stream": True,
                            "messages": [{"role": "user", "content": "a b"}]}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        names = [line[7:] for line in r.iter_lines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


@BOTH
def test_tools_streamed_with_input_json_delta(client, model):
    with client.messages.stream(model=model, max_tokens=100, tools=[WEATHER],
                                messages=[{"role": "user", "content": "weather in Boston?"}]) as stream:
        kinds = [(e.type, getattr(getattr(e, "delta", None), "type", None)) for e in stream]
        final = stream.get_final_message()
    assert ("content_block_delta", "input_json_delta") in kinds
    tool = next(b for b in final.content if b.type == "tool_use")
    assert tool.name == "get_weather"
    assert tool.input == {"location": "Boston, MA"}
    assert tool.id
    assert final.stop_reason == "tool_use"


@BOTH
def test_tool_result_round_trip(client, model, fake_anthropic, fake_openai):
    first = client.messages.create(model=model, max_tokens=100, tools=[WEATHER],
                                   messages=[{"role": "user", "content": "weather in Boston?"}])
    tool = next(b for b in first.content if b.type == "tool_use")
    second = client.messages.create(model=model, max_tokens=100, tools=[WEATHER], messages=[
        {"role": "user", "content": "weather in Boston?"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "sunny, 22C"}]},
    ])
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text"
    if model == "gpt-4o":
        sent = fake_openai.requests[-1]["body"]["messages"]
        assert sent[1]["tool_calls"][0]["id"] == tool.id
        assert sent[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"location":"Boston, MA"}'}
        assert sent[2] == {"role": "tool", "tool_call_id": tool.id, "content": "sunny, 22C"}
    else:
        assert second.content[0].text == "echo: sunny, 22C"


def test_native_fields_survive_pass_through(client, fake_anthropic):
    system = [{"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}}]
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "The sky is blue."},
                "citations": {"enabled": True}}
    client.messages.create(model="claude-3-opus-20240229", max_tokens=2048, system=system, extra_body={"top_k": 5},
                           thinking={"type": "enabled", "budget_tokens": 1024},
                           messages=[{"role": "user", "content": [document, {"type": "text", "text": "colour?"}]}],
                           extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"})
    sent = fake_anthropic.requests[-1]
    assert sent["body"]["system"] == system
    assert sent["body"]["messages"][0]["content"][0] == document
    assert sent["body"]["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent["body"]["top_k"] == 5
    assert sent["headers"]["anthropic-beta"] == "prompt-caching-2024-07-31"


def test_authorization_header_also_accepted(gateway):
    client = anthropic.Anthropic(base_url=gateway.url, auth_token=GATEWAY_KEY, max_retries=0)
    out = client.messages.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert out.content[0].text == "echo: hi"


def test_wrong_key_is_an_anthropic_401(gateway, fake_anthropic):
    client = anthropic.Anthropic(base_url=gateway.url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        client.messages.create(model="claude-3-opus-20240229", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "authentication_error"
    assert fake_anthropic.requests == []


@pytest.mark.parametrize(("model", "exc", "kind", "status"), [
    ("claude-fail-529", anthropic.InternalServerError, "overloaded_error", 503),
    ("gpt-fail-429", anthropic.RateLimitError, "rate_limit_error", 429),
    ("claude-context", anthropic.BadRequestError, "invalid_request_error", 400),
    ("no-such-model", anthropic.BadRequestError, "invalid_request_error", 400),
])
def test_upstream_errors_in_anthropic_envelope(client, model, exc, kind, status):
    with pytest.raises(exc) as info:
        client.messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == status
    assert info.value.body["error"]["type"] == kind
    assert "sk-ant-up" not in info.value.body["error"]["message"]


def test_error_mid_stream_is_in_band(client):
    with pytest.raises(anthropic.APIStatusError) as info:  # noqa: SIM117
        with client.messages.stream(model="claude-stream-error", max_tokens=10,
                                    messages=[{"role": "user", "content": "a b c"}]) as stream:
            for _ in stream.text_stream:
                pass
    assert info.value.body["error"]["type"] == "overloaded_error"


def test_count_tokens_forwarded(client, fake_anthropic):
    out = client.messages.count_tokens(model="claude-3-opus-20240229",
                                       messages=[{"role": "user", "content": "one two three"}])
    assert out.input_tokens == 13
    sent = fake_anthropic.requests[-1]
    assert sent["path"] == "/v1/messages/count_tokens"
    assert sent["body"]["model"] == "claude-3-opus-20240229"


MALFORMED = [
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}, "model"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
    ({"model": "gpt-4o", "max_tokens": 5}, "messages"),
    ({"model": "gpt-4o", "max_tokens": 5, "messages": []}, "messages"),
    ({"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
    ({"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user"}]}, "messages.0.content"),
    ({"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "video"}]}]},
     "messages.0.content.0.type"),
    ({"model": "gpt-4o", "max_tokens": "many", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
    ({"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "tools": [{"name": "x"}]},
     "tools.0.input_schema"),
    ({"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
      "tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
    ({"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "tool_result", "content": "x"}]}]}, "messages.0.content.0.tool_use_id"),
]


@pytest.mark.parametrize(("body", "field"), MALFORMED, ids=[m[1] + str(i) for i, m in enumerate(MALFORMED)])
def test_malformed_request_is_an_anthropic_400(gateway, fake_anthropic, fake_openai, body, field):
    r = httpx.post(gateway.url + "/v1/messages", json=body, headers={"x-api-key": GATEWAY_KEY})
    assert r.status_code == 400
    err = r.json()
    assert err["type"] == "error"
    assert err["error"]["type"] == "invalid_request_error"
    assert err["error"]["message"].startswith(field + ":")
    assert fake_anthropic.requests == [] and fake_openai.requests == []


def test_not_json_is_an_anthropic_400(gateway):
    r = httpx.post(gateway.url + "/messages", content=b"{nope", headers={"x-api-key": GATEWAY_KEY})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert "not valid JSON" in r.json()["error"]["message"]


def test_count_tokens_for_a_non_anthropic_model_is_an_anthropic_400(client, fake_openai):
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.count_tokens(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["error"]["type"] == "invalid_request_error"
    assert "count_tokens" in info.value.body["error"]["message"]
    assert fake_openai.requests == []


def test_fallback_from_claude_to_gpt_keeps_the_anthropic_shape(fake_anthropic, fake_openai, start_gateway):
    gw = start_gateway({"model_list": [
        {"model_name": "claude", "litellm_params": {
            "model": "anthropic/fail-529", "api_base": fake_anthropic.url, "api_key": "sk-ant-up"}},
        {"model_name": "gpt", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": fake_openai.url + "/v1", "api_key": "sk-oa-up"}},
    ], "router_settings": {"fallbacks": [{"claude": ["gpt"]}]}})
    client = anthropic.Anthropic(base_url=gw.url, api_key="anything", max_retries=0)
    with client.messages.stream(model="claude", max_tokens=10, messages=[{"role": "user", "content": "x y"}]) as s:
        text = "".join(s.text_stream)
    assert text == "echo: x y"
    assert len(fake_anthropic.requests) == 1 and len(fake_openai.requests) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_local_echo_model_through_messages(start_gateway, stream):
    gw = start_gateway(None)  # the embedded default config: echo/* answers locally
    client = anthropic.Anthropic(base_url=gw.url, api_key="anything", max_retries=0)
    ask = {"model": "echo/test", "max_tokens": 10, "messages": [{"role": "user", "content": "ping pong"}]}
    if stream:
        with client.messages.stream(**ask) as s:
            final = s.get_final_message()
    else:
        final = client.messages.create(**ask)
    assert final.content[0].text == "ping pong"
    assert final.usage.input_tokens == 2


def test_native_stream_keeps_thinking_and_signature(fake_anthropic, start_gateway):
    gw = start_gateway({"model_list": [{"model_name": "claude-thinking", "litellm_params": {
        "model": "anthropic/thinking", "api_base": fake_anthropic.url, "api_key": "sk-ant-up"}}]})
    client = anthropic.Anthropic(base_url=gw.url, api_key="anything", max_retries=0)
    with client.messages.stream(model="claude-thinking", max_tokens=2048, messages=[{"role": "user", "content": "q"}],
                                thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking"
    assert final.content[0].thinking == "Let me think."
    assert final.content[0].signature == "sig_fake=="
    assert final.usage.cache_read_input_tokens == 4  # Anthropic's own usage fields, untouched


async def test_async_client_stream(gateway):
    client = anthropic.AsyncAnthropic(base_url=gateway.url, api_key=GATEWAY_KEY, max_retries=0)
    events = []
    stream = await client.messages.create(model="gpt-4o", max_tokens=10, stream=True,
                                          messages=[{"role": "user", "content": "async hi"}])
    async for event in stream:
        events.append(event.type)
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert events.count("content_block_delta") >= 2
    await client.close()
