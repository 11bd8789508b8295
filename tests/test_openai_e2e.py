"""Every OpenAI endpoint through the real gateway, driven by the official openai SDK, against a fake upstream."""

from __future__ import annotations

import io

import openai
import orjson
import pytest

SEED_TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]},
    },
}]


def config_for(fake, **extra_params) -> dict:
    params = {"api_base": fake.url + "/v1", "api_key": "sk-upstream-secret", **extra_params}
    return {"model_list": [
        {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o-2024-08-06", **params}},
        {"model_name": "text-embedding-ada-002", "litellm_params": {"model": "openai/text-embedding-3-small", **params}},
        {"model_name": "text-moderation-stable", "litellm_params": {"model": "openai/omni-moderation-latest", **params}},
        {"model_name": "dall-e-3", "litellm_params": {"model": "openai/dall-e-3", **params}},
        {"model_name": "tts-1", "litellm_params": {"model": "openai/tts-1", **params}},
        {"model_name": "whisper-1", "litellm_params": {"model": "openai/whisper-1", **params}},
        {"model_name": "gated", "litellm_params": {"model": "openai/gated", **params}},
        {"model_name": "instruct", "litellm_params": {"model": "openai/gpt-3.5-turbo-instruct", **params}},
    ]}


@pytest.fixture
def gw(fake_openai, start_gateway):
    return start_gateway(config_for(fake_openai))


@pytest.fixture
def client(gw):
    return openai.OpenAI(api_key="client-key", base_url=gw.url, max_retries=0, timeout=10)


def last(fake):
    return fake.requests[-1]


def test_chat_plain_keeps_metadata_local_and_adds_headers(client, fake_openai):
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "this is a test request, write a short poem"}],
        extra_body={"metadata": {"generation_name": "g1", "trace_id": "t1"}})
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: this is a test request, write a short poem"
    assert completion.usage.total_tokens == 21
    body = orjson.loads(raw.content)
    assert isinstance(body["_response_ms"], float) and body["_response_ms"] > 0
    for header in ("x-relaykit-call-id", "x-relaykit-model-id", "x-relaykit-response-ms", "x-relaykit-overhead-ms"):
        assert raw.headers.get(header), header
    sent = last(fake_openai)
    assert "metadata" not in sent["body"]
    assert sent["body"]["model"] == "gpt-4o-2024-08-06"
    assert sent["headers"]["authorization"] == "Bearer sk-upstream-secret"  # the client's key never goes upstream


def test_chat_passes_openai_parameters_on(client, fake_openai):
    client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], n=2, logprobs=True, top_logprobs=2, seed=7,
        user="u-1", temperature=0.3, response_format={"type": "json_object"}, tools=SEED_TOOLS, tool_choice="auto")
    sent = last(fake_openai)["body"]
    for key, value in {"n": 2, "logprobs": True, "top_logprobs": 2, "seed": 7, "user": "u-1", "temperature": 0.3,
                       "response_format": {"type": "json_object"}, "tools": SEED_TOOLS, "tool_choice": "auto"}.items():
        assert sent[key] == value, key


def test_chat_stream_with_usage(client, fake_openai):
    stream = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "one two three"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert chunks[-1].usage.total_tokens == 21
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert last(fake_openai)["body"]["stream_options"] == {"include_usage": True}


def test_stream_reaches_client_before_upstream_finishes(client, fake_openai):
    stream = client.chat.completions.create(model="gated", messages=[{"role": "user", "content": "a b"}], stream=True)
    chunks = iter(stream)
    first = next(chunks)  # the upstream is still holding the rest: this only returns if nothing is buffered
    assert first.choices[0].delta.role == "assistant"
    assert not fake_openai.gate.is_set()
    fake_openai.gate.set()
    rest = list(chunks)
    assert "".join(c.choices[0].delta.content or "" for c in rest) == "echo: a b"


@pytest.mark.parametrize("stream", [False, True])
def test_seed_function_calling(client, stream):
    messages = [{"role": "user", "content": "What's the weather like in Boston today?"}]
    out = client.chat.completions.create(model="gpt-4o", messages=messages, tools=SEED_TOOLS, tool_choice="auto",
                                         stream=stream)
    if stream:
        chunks = list(out)
        calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
        assert calls[0].function.name == "get_current_weather" and calls[0].id == "call_abc"
        assert "".join(tc.function.arguments or "" for tc in calls) == '{"location": "Boston, MA"}'
    else:
        call = out.choices[0].message.tool_calls[0]
        assert call.function.name == "get_current_weather"
        assert orjson.loads(call.function.arguments) == {"location": "Boston, MA"}
        assert out.choices[0].finish_reason == "tool_calls"


def test_completions(client, fake_openai):
    out = client.completions.create(model="instruct", prompt="say hi", max_tokens=5)
    assert out.choices[0].text == "fake completion"
    assert last(fake_openai)["path"] == "/v1/completions"
    assert last(fake_openai)["body"]["model"] == "gpt-3.5-turbo-instruct"


def test_embeddings_seed_example(client, fake_openai):
    out = client.embeddings.create(input=["hello from litellm"], model="text-embedding-ada-002")
    assert out.data[0].embedding == [0.1, 0.2, 0.3]
    assert last(fake_openai)["body"]["model"] == "text-embedding-3-small"


def test_moderations_seed_example(client, fake_openai):
    out = client.moderations.create(input="hello from litellm", model="text-moderation-stable")
    assert out.results[0].flagged is False
    assert last(fake_openai)["body"]["model"] == "omni-moderation-latest"


def test_images(client, fake_openai):
    out = client.images.generate(model="dall-e-3", prompt="a lighthouse")
    assert out.data[0].revised_prompt == "a lighthouse"
    assert last(fake_openai)["path"] == "/v1/images/generations"


def test_speech_streams_binary_audio(client, fake_openai):
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input="hello") as resp:
        assert resp.headers["content-type"] == "audio/mpeg"
        parts = list(resp.iter_bytes())
    audio = b"".join(parts)
    assert audio == b"".join(bytes([i]) * 1024 for i in range(4))


@pytest.mark.parametrize("kind", ["transcriptions", "translations"])
def test_audio_upload_is_forwarded_as_multipart(client, fake_openai, kind):
    upload = ("speech.mp3", io.BytesIO(b"\x00" * 50_000), "audio/mpeg")
    api = client.audio.transcriptions if kind == "transcriptions" else client.audio.translations
    out = api.create(model="whisper-1", file=upload)
    assert out.text == "heard 50000 bytes"
    sent = last(fake_openai)
    assert sent["path"] == f"/v1/audio/{kind}"
    assert sent["form"]["model"] == "whisper-1"
    assert sent["form"]["file"]["filename"] == "speech.mp3"


def test_models_lists_configured_names(client):
    names = [m.id for m in client.models.list()]
    assert names[:2] == ["gpt-4o", "text-embedding-ada-002"]
    assert "gated" in names


def test_openai_only_apis_are_forwarded_with_the_upstream_key(client, fake_openai):
    uploaded = client.files.with_raw_response.create(file=("data.jsonl", io.BytesIO(b'{"a": 1}\n'), "application/jsonl"),
                                                     purpose="batch")
    assert uploaded.http_response.status_code == 200
    sent = last(fake_openai)
    assert (sent["method"], sent["path"]) == ("POST", "/v1/files")
    assert sent["form"]["purpose"] == "batch" and sent["form"]["file"]["size"] == 9
    assert sent["headers"]["authorization"] == "Bearer sk-upstream-secret"
    for call, method, path in [
        (lambda: client.files.with_raw_response.list(), "GET", "/v1/files"),
        (lambda: client.batches.with_raw_response.create(input_file_id="file-1", endpoint="/v1/chat/completions",
                                                         completion_window="24h"), "POST", "/v1/batches"),
        (lambda: client.fine_tuning.jobs.with_raw_response.list(limit=2), "GET", "/v1/fine_tuning/jobs"),
        (lambda: client.beta.assistants.with_raw_response.list(), "GET", "/v1/assistants"),
        (lambda: client.responses.with_raw_response.retrieve("resp_1"), "GET", "/v1/responses/resp_1"),
        (lambda: client.files.with_raw_response.delete("file-1"), "DELETE", "/v1/files/file-1"),
    ]:
        raw = call()
        sent = last(fake_openai)
        assert (sent["method"], sent["path"]) == (method, path)
        assert sent["headers"]["authorization"] == "Bearer sk-upstream-secret"
        assert raw.http_response.json()["path"] == path
    assert last(fake_openai)["query"] == ""
    client.fine_tuning.jobs.list(limit=2)
    assert last(fake_openai)["query"] == "limit=2"
