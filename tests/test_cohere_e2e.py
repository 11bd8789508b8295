"""End-to-end: the openai SDK through relaykit to a fake Cohere v2 API (chat, stream, tools, embeddings, errors)."""

from __future__ import annotations

import base64
import struct

import openai
import orjson
import pytest

from tests.fakes.cohere_upstream import FakeCohere
from tests.servers import ServerThread

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]
MESSAGES = [{"role": "user", "content": "hi there"}]


@pytest.fixture(scope="module")
def cohere_upstream():
    fake = FakeCohere()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def fake_cohere(cohere_upstream):
    cohere_upstream.clear()
    return cohere_upstream


@pytest.fixture
def client(fake_cohere, start_gateway):
    def entry(name, model):
        return {"model_name": name, "litellm_params": {"model": f"cohere/{model}", "api_base": fake_cohere.url,
                                                       "api_key": "co-secret"}}
    gw = start_gateway({"model_list": [entry("command", "command-a-03-2025"), entry("command-tools", "tool-user"),
                                       entry("embed", "embed-v4.0"), entry("expired", "bad-token")]})
    return openai.OpenAI(api_key="anything", base_url=gw.url + "/v1", max_retries=0)


def test_chat(client, fake_cohere):
    out = client.chat.completions.create(model="command", messages=MESSAGES, top_p=0.5, stop="END")
    assert out.choices[0].message.content == "echo: hi there"
    assert out.model == "command-a-03-2025"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (70, 3)
    sent = fake_cohere.requests[-1]
    assert sent["path"] == "/v2/chat" and sent["headers"]["authorization"] == "Bearer co-secret"
    assert sent["body"]["p"] == 0.5 and sent["body"]["stop_sequences"] == ["END"] and "top_p" not in sent["body"]


def test_chat_stream(client):
    chunks = list(client.chat.completions.create(model="command", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: hi there"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.total_tokens == 73


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call(client, fake_cohere, stream):
    kw = {"model": "command-tools", "messages": MESSAGES, "tools": TOOLS, "tool_choice": "required"}
    if stream:
        chunks = list(client.chat.completions.create(stream=True, **kw))
        calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
        name = calls[0].function.name
        args = "".join(tc.function.arguments or "" for tc in calls)
        finish = chunks[-1].choices[0].finish_reason
    else:
        msg = client.chat.completions.create(**kw).choices[0]
        name, args, finish = msg.message.tool_calls[0].function.name, msg.message.tool_calls[0].function.arguments, \
            msg.finish_reason
    assert (name, args, finish) == ("get_weather", '{"location":"Paris"}', "tool_calls")
    assert fake_cohere.requests[-1]["body"]["tool_choice"] == "REQUIRED"


def test_embeddings(client, fake_cohere):
    out = client.embeddings.create(model="embed", input=["a", "b"], encoding_format="float")
    assert [d.embedding for d in out.data] == [[0.5, 0.25], [0.5, 0.25]]
    assert fake_cohere.requests[-1]["body"]["texts"] == ["a", "b"]


def test_embeddings_in_base64_when_asked(client, fake_cohere):
    raw = client.embeddings.with_raw_response.create(model="embed", input=["a", "b"], encoding_format="base64")
    vectors = [d["embedding"] for d in orjson.loads(raw.content)["data"]]
    assert all(isinstance(v, str) for v in vectors)  # float32 little-endian, as OpenAI sends it
    assert [list(struct.unpack("<2f", base64.b64decode(v))) for v in vectors] == [[0.5, 0.25], [0.5, 0.25]]


def test_token_array_input_is_refused_before_cohere(client, fake_cohere):
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="embed", input=[[1, 2, 3]], encoding_format="float")
    assert info.value.status_code == 400
    assert info.value.body["param"] == "input" and "embeds text only" in info.value.body["message"]
    assert fake_cohere.requests == []


def test_invalid_token_is_an_auth_error(client):
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="expired", messages=MESSAGES)
    assert "co-secret" not in info.value.message


def test_unsupported_param_refused(client, fake_cohere):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="command", messages=MESSAGES, n=2)
    assert "'n'" in info.value.message and "'cohere'" in info.value.message
    assert fake_cohere.requests == []
