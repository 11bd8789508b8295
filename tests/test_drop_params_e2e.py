"""End-to-end: each provider's unsupported parameters, refused without drop_params and dropped with it.

The openai SDK talks to relaykit; each provider's fake upstream records what it received. With drop_params on
(per request, per deployment or in litellm_settings) an unsupported parameter never reaches the upstream and
the call succeeds; without it the client gets a 400 naming the parameter and nothing is sent. An explicit null
(or OpenAI's own default, n=1) asks for nothing and is never refused.
"""

from __future__ import annotations

import openai
import orjson
import pytest

from tests.fakes.bedrock_upstream import ACCESS_KEY, SECRET_KEY, FakeBedrock
from tests.fakes.cohere_upstream import FakeCohere
from tests.fakes.gemini_upstream import API_KEY as GEMINI_KEY
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.ollama_upstream import FakeOllama
from tests.servers import ServerThread

MESSAGES = [{"role": "user", "content": "hi"}]
CLAUDE_ON_BEDROCK = "anthropic.claude-3-5-sonnet-20240620-v1:0"


@pytest.fixture(scope="module")
def others():
    fakes = {"gemini": FakeGemini(), "bedrock": FakeBedrock(), "cohere": FakeCohere(), "ollama": FakeOllama()}
    servers = [ServerThread(f.app) for f in fakes.values()]
    for fake, server in zip(fakes.values(), servers, strict=True):
        fake.url = server.__enter__().url
    yield fakes
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
def fakes(others, fake_openai, fake_anthropic):
    for fake in others.values():
        fake.clear()
    return {**others, "openai": fake_openai, "anthropic": fake_anthropic}


def entries(fakes: dict, suffix: str = "", **params) -> list[dict]:
    aws = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY, "aws_region_name": "us-east-1"}
    rows = {
        "claude": {"model": "anthropic/claude-sonnet-4-5", "api_base": fakes["anthropic"].url, "api_key": "sk-ant-up"},
        "flash": {"model": "gemini/gemini-2.0-flash", "api_base": fakes["gemini"].url + "/v1beta",
                  "api_key": GEMINI_KEY},
        "bedrock-claude": {"model": f"bedrock/{CLAUDE_ON_BEDROCK}", "api_base": fakes["bedrock"].url, **aws},
        "command": {"model": "cohere/command-a-03-2025", "api_base": fakes["cohere"].url, "api_key": "co-secret"},
        "llama": {"model": "ollama_chat/llama3.2", "api_base": fakes["ollama"].url},
        "groq-llama": {"model": "groq/llama-3.3-70b-versatile", "api_base": fakes["openai"].url + "/v1",
                       "api_key": "gsk-up"},
    }
    return [{"model_name": name + suffix, "litellm_params": {**row, **params}} for name, row in rows.items()]


# model → (its fake, a parameter its provider does not take, a value that asks for something)
UNSUPPORTED = {
    "claude": ("anthropic", "n", 2),
    "flash": ("gemini", "logit_bias", {"50256": -100}),
    "bedrock-claude": ("bedrock", "seed", 7),
    "command": ("cohere", "n", 2),
    "llama": ("ollama", "logit_bias", {"50256": -100}),
    "groq-llama": ("openai", "logprobs", True),
}
CASES = pytest.mark.parametrize("model", list(UNSUPPORTED))


@pytest.fixture
def gateway(fakes, start_gateway):
    # Each model twice: as it is, and with drop_params set on the deployment ("-dropping").
    return start_gateway({"model_list": entries(fakes) + entries(fakes, "-dropping", drop_params=True)})


def client_of(gw) -> openai.OpenAI:
    return openai.OpenAI(api_key="anything", base_url=gw.url + "/v1", max_retries=0)


def received(fake) -> dict:
    assert fake.requests, "the upstream was never called"
    raw = fake.requests[-1].get("raw") or b""
    return orjson.loads(raw) if raw else fake.requests[-1]["body"]


def keys(value) -> set[str]:
    """Every object key anywhere in a JSON value: a parameter sent under its name, at any depth."""
    if isinstance(value, dict):
        return set(value).union(*(keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys(v) for v in value))
    return set()


def answer_text(out) -> str:
    assert len(out.choices) == 1
    return out.choices[0].message.content


@CASES
def test_refused_without_drop_params(gateway, fakes, model):
    fake_name, param, value = UNSUPPORTED[model]
    with pytest.raises(openai.BadRequestError) as info:
        client_of(gateway).chat.completions.create(model=model, messages=MESSAGES, extra_body={param: value})
    assert info.value.body["param"] == param and repr(param) in info.value.message
    assert fakes[fake_name].requests == []


@CASES
@pytest.mark.parametrize("where", ["request", "deployment"])
def test_dropped_with_drop_params(gateway, fakes, model, where):
    fake_name, param, value = UNSUPPORTED[model]
    extra = {param: value, "drop_params": True} if where == "request" else {param: value}
    name = model if where == "request" else model + "-dropping"
    out = client_of(gateway).chat.completions.create(model=name, messages=MESSAGES, extra_body=extra)
    assert answer_text(out)
    sent = received(fakes[fake_name])
    assert param not in keys(sent)
    assert "drop_params" not in keys(sent)


@CASES
def test_dropped_with_global_drop_params(fakes, start_gateway, model):
    fake_name, param, value = UNSUPPORTED[model]
    gw = start_gateway({"model_list": entries(fakes), "litellm_settings": {"drop_params": True}})
    out = client_of(gw).chat.completions.create(model=model, messages=MESSAGES, extra_body={param: value})
    assert answer_text(out)
    assert param not in keys(received(fakes[fake_name]))


@CASES
def test_request_can_turn_a_deployments_drop_params_off(gateway, fakes, model):
    fake_name, param, value = UNSUPPORTED[model]
    with pytest.raises(openai.BadRequestError):
        client_of(gateway).chat.completions.create(model=model + "-dropping", messages=MESSAGES,
                                                   extra_body={param: value, "drop_params": False})
    assert fakes[fake_name].requests == []


@CASES
def test_explicit_nulls_and_defaults_are_never_refused(gateway, fakes, model):
    fake_name, param, _ = UNSUPPORTED[model]
    nothing = {"seed": None, "logit_bias": None, "logprobs": None, "n": 1, "presence_penalty": None, param: None}
    out = client_of(gateway).chat.completions.create(model=model, messages=MESSAGES, extra_body=nothing)
    assert answer_text(out)
    sent = received(fakes[fake_name])
    assert param not in keys(sent) and "logit_bias" not in keys(sent)
    if fake_name != "openai":  # OpenAI's own wire takes null as "not set"; translations leave what is unset out
        assert b"null" not in orjson.dumps(sent)


def test_anthropic_n_2_is_dropped_and_one_choice_comes_back(gateway, fakes):
    out = client_of(gateway).chat.completions.create(model="claude", messages=MESSAGES, n=2,
                                                     extra_body={"drop_params": True})
    assert len(out.choices) == 1 and out.choices[0].message.content == "echo: hi"
    assert "n" not in received(fakes["anthropic"])
