"""End-to-end: the openai SDK through relaykit to a fake Gemini API on loopback (chat, stream, tools, embeddings)."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.gemini_upstream import API_KEY, FakeGemini
from tests.servers import ServerThread

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a place", "parameters": {
    "type": "object", "additionalProperties": False,
    "$defs": {"Unit": {"type": "string", "enum": ["c", "f"]}},
    "properties": {"location": {"type": "string"}, "unit": {"$ref": "#/$defs/Unit"}},
    "required": ["location"]}}}


@pytest.fixture(scope="module")
def gemini_server():
    fake = FakeGemini()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def gemini(gemini_server):
    gemini_server.clear()
    return gemini_server


@pytest.fixture
def client(gemini, start_gateway):
    base = gemini.url + "/v1beta"
    config = {"model_list": [
        {"model_name": "flash", "litellm_params": {"model": "gemini/gemini-2.0-flash", "api_key": API_KEY,
                                                    "api_base": base}},
        {"model_name": "flash-bad-key", "litellm_params": {"model": "gemini/gemini-2.0-flash", "api_key": "wrong",
                                                            "api_base": base}},
        {"model_name": "embed", "litellm_params": {"model": "gemini/text-embedding-004", "api_key": API_KEY,
                                                    "api_base": base}},
    ]}
    gw = start_gateway(config)
    return openai.OpenAI(api_key="anything", base_url=gw.url + "/v1", max_retries=0)


def test_chat(client, gemini):
    out = client.chat.completions.create(model="flash", messages=[
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}],
        temperature=0.2, max_tokens=20, stop=["END"])
    assert out.choices[0].message.content == "echo: hello there"
    assert out.choices[0].finish_reason == "stop"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.total_tokens) == (7, 5, 12)
    sent = gemini.requests[-1]
    assert sent["path"] == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert sent["headers"]["x-goog-api-key"] == API_KEY
    assert "key=" not in sent["query"]  # the key never travels in the URL
    assert sent["body"]["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert sent["body"]["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 20, "stopSequences": ["END"]}


def test_stream(client, gemini):
    stream = client.chat.completions.create(model="flash", messages=[{"role": "user", "content": "one two three"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage.total_tokens == 12
    assert gemini.requests[-1]["path"].endswith(":streamGenerateContent")
    assert gemini.requests[-1]["query"] == "alt=sse"


def test_tools_schema_is_reduced_and_round_trip_keeps_the_signature(client, gemini):
    first = client.chat.completions.create(model="flash", messages=[{"role": "user", "content": "weather?"}],
                                           tools=[WEATHER], tool_choice="required")
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    call = message.tool_calls[0]
    assert call.function.name == "get_weather" and call.function.arguments == '{"location":"Boston, MA"}'
    declared = gemini.requests[-1]["body"]["tools"][0]["functionDeclarations"][0]["parameters"]
    assert declared["properties"]["unit"] == {"type": "string", "enum": ["c", "f"]}
    assert gemini.requests[-1]["body"]["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    second = client.chat.completions.create(model="flash", tools=[WEATHER], messages=[
        {"role": "user", "content": "weather?"}, message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 20}'}])
    assert second.choices[0].message.content == 'tool said {"temp":20}'
    turns = gemini.requests[-1]["body"]["contents"]
    assert turns[1]["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl"  # given back as Gemini asks
    assert turns[2] == {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                                       "response": {"temp": 20}}}]}


def test_stream_tool_call(client):
    stream = client.chat.completions.create(model="flash", messages=[{"role": "user", "content": "weather?"}],
                                            tools=[WEATHER], stream=True)
    chunks = list(stream)
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or ())]
    assert [(tc.index, tc.function.name, tc.function.arguments) for tc in calls] == [
        (0, "get_weather", '{"location":"Boston, MA"}')]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_json_schema_response_format(client, gemini):
    client.chat.completions.create(model="flash", messages=[{"role": "user", "content": "a city"}],
                                   response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": {
                                       "type": "object", "additionalProperties": False,
                                       "properties": {"name": {"type": "string"}}, "required": ["name"]}}})
    config = gemini.requests[-1]["body"]["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseSchema": {
        "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}


def test_blocked_prompt_is_a_content_policy_error(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="flash", messages=[{"role": "user", "content": "blocked"}])
    assert info.value.code == "content_policy_violation"
    assert "blockReason SAFETY" in info.value.message


def test_bad_upstream_key_is_an_auth_error(client):
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="flash-bad-key", messages=[{"role": "user", "content": "hi"}])
    assert "API key not valid" in info.value.message
    assert "wrong" not in info.value.message


def test_embeddings(client, gemini):
    out = client.embeddings.create(model="embed", input=["a", "b"], dimensions=2)
    assert [d.embedding for d in out.data] == [[0.5, 0.0], [0.5, 1.0]]
    sent = gemini.requests[-1]
    assert sent["path"] == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert sent["body"]["requests"][1] == {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]},
                                           "outputDimensionality": 2}


def test_anthropic_sdk_reaches_gemini(client):
    import anthropic

    claude_client = anthropic.Anthropic(api_key="anything", base_url=str(client.base_url).rstrip("/").removesuffix("/v1"),
                                        max_retries=0)
    out = claude_client.messages.create(model="flash", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    assert out.content[0].text == "echo: hi" and out.stop_reason == "end_turn"
    with claude_client.messages.stream(model="flash", max_tokens=20, messages=[{"role": "user", "content": "a b"}]) as s:
        assert "".join(s.text_stream) == "echo: a b"
