"""End-to-end: the openai SDK through relaykit to a fake Ollama, natively (`ollama_chat/`) and over /v1 (`ollama/`)."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.ollama_upstream import FakeOllama
from tests.servers import ServerThread

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather now",
                                           "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def ollama_upstream():
    fake = FakeOllama()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def fake_ollama(ollama_upstream):
    ollama_upstream.clear()
    return ollama_upstream


@pytest.fixture
def client(fake_ollama, start_gateway):
    base = fake_ollama.url  # as LiteLLM users write it: the server root, no /v1
    config = {"model_list": [
        {"model_name": "llama", "litellm_params": {"model": "ollama_chat/llama3.2", "api_base": base}},
        {"model_name": "llama-tools", "litellm_params": {"model": "ollama_chat/tool-user", "api_base": base}},
        {"model_name": "missing", "litellm_params": {"model": "ollama_chat/missing", "api_base": base}},
        {"model_name": "minilm", "litellm_params": {"model": "ollama_chat/all-minilm", "api_base": base}},
        {"model_name": "llama-v1", "litellm_params": {"model": "ollama/llama3.2", "api_base": base}},
    ]}
    gw = start_gateway(config)
    return openai.OpenAI(api_key="anything", base_url=gw.url + "/v1", max_retries=0)


def test_native_chat(client, fake_ollama):
    out = client.chat.completions.create(model="llama", messages=[{"role": "user", "content": "hi"}],
                                         temperature=0.1, max_tokens=20)
    assert out.choices[0].message.content == "echo: hi"
    assert out.choices[0].finish_reason == "stop"
    assert out.usage.prompt_tokens == 7 and out.usage.completion_tokens == 5
    sent = fake_ollama.requests[-1]
    assert sent["path"] == "/api/chat"
    assert sent["body"]["stream"] is False  # Ollama streams by default: non-streaming must be said
    assert sent["body"]["options"] == {"temperature": 0.1, "num_predict": 20}


def test_native_stream_ndjson(client, fake_ollama):
    chunks = list(client.chat.completions.create(model="llama", stream=True,
                                                 messages=[{"role": "user", "content": "tell me more"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: tell me more"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert fake_ollama.requests[-1]["body"]["stream"] is True


@pytest.mark.parametrize("stream", [False, True])
def test_native_tool_call(client, stream):
    kw = {"model": "llama-tools", "messages": [{"role": "user", "content": "weather in Paris?"}], "tools": TOOLS}
    if stream:
        chunks = list(client.chat.completions.create(stream=True, **kw))
        calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
        finish = chunks[-1].choices[0].finish_reason
        name, args = calls[0].function.name, calls[0].function.arguments
    else:
        out = client.chat.completions.create(**kw)
        finish = out.choices[0].finish_reason
        name, args = out.choices[0].message.tool_calls[0].function.name, out.choices[0].message.tool_calls[0].function.arguments
    assert (name, args, finish) == ("get_weather", '{"location":"Paris"}', "tool_calls")


def test_native_embeddings(client, fake_ollama):
    out = client.embeddings.create(model="minilm", input=["a", "b"])  # the SDK asks for base64 by default
    assert [d.embedding for d in out.data] == [[0.25, -0.5, 0.75]] * 2
    sent = fake_ollama.requests[-1]
    assert sent["path"] == "/api/embed" and sent["body"] == {"model": "all-minilm", "input": ["a", "b"]}


def test_unsupported_param_is_refused_before_the_upstream(client, fake_ollama):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="llama", messages=[{"role": "user", "content": "hi"}], logit_bias={"1": 2})
    assert "logit_bias" in info.value.message and "ollama_chat" in info.value.message
    assert info.value.code == "unsupported_parameter"
    assert fake_ollama.requests == []


def test_model_not_pulled(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="missing", messages=[{"role": "user", "content": "hi"}])
    assert "try pulling it first" in info.value.message


def test_openai_compatible_ollama_adds_v1(client, fake_ollama):
    out = client.chat.completions.create(model="llama-v1", messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content == "echo: hi"
    assert fake_ollama.requests[-1]["path"] == "/v1/chat/completions"
    assert fake_ollama.requests[-1]["body"]["model"] == "llama3.2"
