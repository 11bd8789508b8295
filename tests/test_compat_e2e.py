"""End-to-end: OpenAI-compatible presets (rows of providers/compat.py) through relaykit to the fake OpenAI upstream.

Covers a preset's quirks on the wire (Mistral's `random_seed`), the seed's Mistral SDK example (the old
`mistralai` MistralClient posts OpenAI-style JSON to /v1/chat/completions; replayed here with httpx, since
that SDK pins an orjson older than relaykit's), and param drop as clients see it.
"""

from __future__ import annotations

import httpx
import openai
import orjson
import pytest

KEY = "sk-relaykit-compat-master-01"
MESSAGES = [{"role": "user", "content": "this is a test request, write a short poem"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
          "input_examples": [{"location": "Boston"}]}]


def entry(name: str, model: str, base: str, **params) -> dict:
    return {"model_name": name, "litellm_params": {"model": model, "api_base": base, "api_key": "sk-upstream", **params}}


@pytest.fixture
def config(fake_openai):
    base = fake_openai.url + "/v1"
    return {"general_settings": {"master_key": KEY}, "model_list": [
        entry("mistral-small-latest", "mistral/mistral-small-latest", base),
        entry("groq-llama", "groq/llama-3.3-70b-versatile", base),
        entry("groq-dropping", "groq/llama-3.3-70b-versatile", base, drop_params=True),
        entry("groq-logprobs", "groq/llama-3.3-70b-versatile", base, allowed_openai_params=["logprobs"]),
        entry("groq-no-examples", "groq/llama-3.3-70b-versatile", base,
              additional_drop_params=["tools[*].input_examples"]),
    ]}


@pytest.fixture
def gateway(config, start_gateway):
    return start_gateway(config)


@pytest.fixture
def client(gateway):
    return openai.OpenAI(api_key=KEY, base_url=gateway.url + "/v1", max_retries=0)


def test_mistral_preset_renames_seed(client, fake_openai):
    out = client.chat.completions.create(model="mistral-small-latest", messages=MESSAGES, seed=42, max_completion_tokens=9)
    assert out.choices[0].message.content.startswith("echo: this is a test")
    sent = fake_openai.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["authorization"] == "Bearer sk-upstream"
    assert sent["body"]["random_seed"] == 42 and "seed" not in sent["body"]
    assert sent["body"]["max_tokens"] == 9 and "max_completion_tokens" not in sent["body"]


def test_mistral_preset_stream(client):
    chunks = list(client.chat.completions.create(model="mistral-small-latest", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("echo: this is")


def mistral_client_request(stream: bool, **sampling) -> dict:
    # Field for field what mistralai 0.4.2's MistralClient.chat / chat_stream send (read from its client_base.py,
    # and checked against the real SDK in a separate virtualenv): messages, model, Mistral-named sampling
    # parameters, `safe_prompt` only when true, and `stream`.
    return {"messages": MESSAGES, "model": "mistral-small-latest", **sampling, "stream": stream}


MISTRAL_SDK_HEADERS = {"Authorization": f"Bearer {KEY}", "User-Agent": "mistral-client-python/0.4.2",
                       "Accept": "application/json", "Content-Type": "application/json"}


def test_seed_mistral_sdk_example(gateway, fake_openai):
    r = httpx.post(gateway.url + "/v1/chat/completions", headers=MISTRAL_SDK_HEADERS,
                   content=orjson.dumps(mistral_client_request(False, random_seed=7, safe_prompt=True)))
    assert r.status_code == 200, r.text
    data = r.json()
    # What MistralClient's ChatCompletionResponse model requires, then `chat_response.choices[0].message.content`.
    assert {"id", "object", "created", "model", "choices", "usage"} <= data.keys()
    assert data["choices"][0]["message"]["content"].startswith("echo: this is a test")
    assert data["choices"][0]["finish_reason"] == "stop"
    sent = fake_openai.requests[-1]["body"]
    assert sent["safe_prompt"] is True and sent["random_seed"] == 7  # Mistral's own fields reach Mistral


def test_seed_mistral_sdk_stream_example(gateway):
    headers = {**MISTRAL_SDK_HEADERS, "Accept": "text/event-stream"}
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", headers=headers,
                      content=orjson.dumps(mistral_client_request(True))) as r:
        assert r.status_code == 200
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(orjson.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1]
                   if orjson.loads(e)["choices"])
    assert text.startswith("echo: this is a test")


def test_unsupported_param_is_a_400_and_never_sent(client, fake_openai):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="groq-llama", messages=MESSAGES, logprobs=True)
    assert info.value.code == "unsupported_parameter"
    assert "'logprobs'" in info.value.message and "'groq'" in info.value.message
    assert info.value.param == "logprobs"
    assert fake_openai.requests == []


def test_drop_params_per_request(client, fake_openai):
    client.chat.completions.create(model="groq-llama", messages=MESSAGES, logprobs=True, temperature=0.3,
                                   extra_body={"drop_params": True})
    sent = fake_openai.requests[-1]["body"]
    assert "logprobs" not in sent and "drop_params" not in sent and sent["temperature"] == 0.3


def test_drop_params_per_deployment(client, fake_openai):
    client.chat.completions.create(model="groq-dropping", messages=MESSAGES, logit_bias={"50256": -100})
    assert "logit_bias" not in fake_openai.requests[-1]["body"]


def test_drop_params_from_the_cli_flag(config, start_gateway, fake_openai):
    gw = start_gateway(config, drop_params=True)  # `relaykit --drop_params`
    client = openai.OpenAI(api_key=KEY, base_url=gw.url + "/v1", max_retries=0)
    client.chat.completions.create(model="groq-llama", messages=MESSAGES, top_logprobs=3, logprobs=True)
    sent = fake_openai.requests[-1]["body"]
    assert "logprobs" not in sent and "top_logprobs" not in sent


def test_drop_params_from_litellm_settings(config, start_gateway, fake_openai):
    gw = start_gateway({**config, "litellm_settings": {"drop_params": True}})
    client = openai.OpenAI(api_key=KEY, base_url=gw.url + "/v1", max_retries=0)
    client.chat.completions.create(model="groq-llama", messages=MESSAGES, logprobs=True)
    assert "logprobs" not in fake_openai.requests[-1]["body"]


def test_allowed_openai_params_forces_through(client, fake_openai):
    client.chat.completions.create(model="groq-logprobs", messages=MESSAGES, logprobs=True)
    assert fake_openai.requests[-1]["body"]["logprobs"] is True


def test_additional_drop_params_nested_path(client, fake_openai):
    out = client.chat.completions.create(model="groq-no-examples", messages=MESSAGES, tools=TOOLS)
    assert out.choices[0].message.tool_calls[0].function.name == "get_weather"
    tools = fake_openai.requests[-1]["body"]["tools"]
    assert tools == [{"type": "function", "function": {"name": "get_weather",
                                                       "parameters": {"type": "object", "properties": {}}}}]
