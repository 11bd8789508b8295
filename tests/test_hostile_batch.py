"""Hostile batches: a comma list of models is capped (general_settings.max_batch_models), counts as N calls
toward rpm limits, and is an OpenAI chat/completions feature only — elsewhere a 400 in the route's own envelope.
Every refusal is checked against the fake upstreams' records: nothing may have been sent."""

from __future__ import annotations

import time

import anthropic
import httpx
import pytest

from kernel.config import parse_config
from kernel.errors import ConfigError
from tests.routing_helpers import MESSAGES, chat, dep


def config(openai_url: str, anthropic_url: str | None = None, **general) -> dict:
    models = [dep("gpt", "gpt-4o", openai_url), dep("llama3", "llama3-8b", openai_url)]
    if anthropic_url is not None:
        models += [{"model_name": name, "litellm_params": {"model": "anthropic/claude-3-haiku", "api_base": anthropic_url,
                                                           "api_key": "sk-ant-up"}} for name in ("claude", "claude,v2")]
    return {"model_list": models, "general_settings": general}


def assert_too_many(resp: httpx.Response, count: int, limit: int) -> None:
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert err["type"] == "invalid_request_error" and err["code"] == "too_many_models" and err["param"] == "model"
    assert f"names {count} models" in err["message"] and f"at most {limit}" in err["message"]
    assert "max_batch_models" in err["message"]


def test_default_cap_is_ten(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url))
    assert_too_many(chat(gw, ",".join(["gpt"] * 11)), 11, 10)
    assert fake_openai.requests == []
    resp = chat(gw, ",".join(["gpt", "llama3"] * 5))
    assert resp.status_code == 200
    assert len(resp.json()) == 10 and len(fake_openai.requests) == 10


def test_two_hundred_names_make_no_upstream_call(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url))
    assert_too_many(chat(gw, ",".join(["gpt"] * 200)), 200, 10)
    assert_too_many(chat(gw, ",".join(["gpt"] * 200), fastest_response=True), 200, 10)
    assert_too_many(chat(gw, ",".join(["gpt"] * 200), stream=True, fastest_response=True), 200, 10)
    assert fake_openai.requests == []


def test_configured_cap_counts_repeated_names(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url, max_batch_models=3))
    assert_too_many(chat(gw, "gpt,gpt,gpt,gpt"), 4, 3)
    assert_too_many(chat(gw, "gpt,llama3,gpt,llama3"), 4, 3)
    assert fake_openai.requests == []
    resp = chat(gw, "gpt,llama3,gpt")
    assert resp.status_code == 200
    assert [i["model"] for i in resp.json()] == ["gpt-4o", "llama3-8b", "gpt-4o"]
    assert len(fake_openai.requests) == 3


def test_completions_route_is_capped_too(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url, max_batch_models=2))
    resp = httpx.post(gw.url + "/v1/completions", json={"model": "gpt,gpt,gpt", "prompt": "hi"}, timeout=30)
    assert_too_many(resp, 3, 2)
    assert fake_openai.requests == []


def test_a_batch_counts_as_n_calls_toward_rpm(fake_openai, start_gateway):
    cfg = {"model_list": [dep("gpt", "gpt-4o", fake_openai.url, rpm=3)],
           "router_settings": {"routing_strategy": "usage-based-routing"}}
    gw = start_gateway(cfg)
    if time.time() % 60 > 57:  # rpm windows are calendar minutes: keep the whole test inside one
        time.sleep(60 - time.time() % 60 + 0.1)
    resp = chat(gw, "gpt,gpt,gpt,gpt")
    assert resp.status_code == 200
    items = resp.json()
    assert [i.get("object") for i in items[:3]] == ["chat.completion"] * 3
    assert items[3]["model"] == "gpt" and items[3]["error"]["code"] == "no_deployments_available"
    assert len(fake_openai.requests) == 3
    after = chat(gw, "gpt")  # the batch used this minute's three requests
    assert after.status_code == 429 and after.json()["error"]["code"] == "no_deployments_available"
    assert len(fake_openai.requests) == 3


def assert_batch_refused(resp: httpx.Response, envelope: str) -> None:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    if envelope == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        message = body["error"]["message"]
    else:
        assert body["error"]["type"] == "invalid_request_error" and body["error"]["code"] == "batch_not_supported"
        assert body["error"]["param"] == "model"
        message = body["error"]["message"]
    assert "batch lists are only for the OpenAI chat/completions routes" in message


@pytest.mark.parametrize("stream", [False, True])
def test_messages_with_a_model_list_is_a_400_in_anthropic_envelope(fake_openai, fake_anthropic, start_gateway, stream):
    gw = start_gateway(config(fake_openai.url, fake_anthropic.url))
    client = anthropic.Anthropic(api_key="sk-anything", base_url=gw.url, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model="claude,gpt", max_tokens=16, messages=MESSAGES, stream=stream)
    assert info.value.status_code == 400
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "invalid_request_error"
    assert "batch lists are only for the OpenAI chat/completions routes" in info.value.body["error"]["message"]
    assert fake_anthropic.requests == [] and fake_openai.requests == []


def test_count_tokens_with_a_model_list_is_a_400(fake_openai, fake_anthropic, start_gateway):
    gw = start_gateway(config(fake_openai.url, fake_anthropic.url))
    resp = httpx.post(gw.url + "/v1/messages/count_tokens", json={"model": "claude,gpt", "messages": MESSAGES})
    assert_batch_refused(resp, "anthropic")
    assert fake_anthropic.requests == [] and fake_openai.requests == []


def test_a_configured_name_with_a_comma_is_still_served_on_messages(fake_openai, fake_anthropic, start_gateway):
    gw = start_gateway(config(fake_openai.url, fake_anthropic.url))
    client = anthropic.Anthropic(api_key="sk-anything", base_url=gw.url, max_retries=0)
    reply = client.messages.create(model="claude,v2", max_tokens=16, messages=MESSAGES)
    assert reply.type == "message"
    assert len(fake_anthropic.requests) == 1


@pytest.mark.parametrize(("path", "body"), [
    ("/openai/deployments/gpt,llama3/chat/completions?api-version=2024-06-01", {"messages": MESSAGES}),
    ("/v1/embeddings", {"model": "gpt,llama3", "input": "hi"}),
])
def test_other_routes_refuse_a_model_list(fake_openai, start_gateway, path, body):
    gw = start_gateway(config(fake_openai.url))
    assert_batch_refused(httpx.post(gw.url + path, json=body, timeout=30), "openai")
    assert fake_openai.requests == []


@pytest.mark.parametrize(("value", "problem"), [
    (0, "general_settings.max_batch_models: must be >= 1, got 0"),
    ("ten", 'general_settings.max_batch_models: expected integer, got string "ten"'),
])
def test_the_cap_is_validated_at_startup(value, problem):
    with pytest.raises(ConfigError) as info:
        parse_config({"model_list": [], "general_settings": {"max_batch_models": value}}, "config.yaml")
    assert info.value.problems == [f"config.yaml: {problem}"]


def test_the_cap_is_read_from_the_config():
    assert parse_config({"general_settings": {"max_batch_models": 25}}, "config.yaml").general.max_batch_models == 25
    assert parse_config({}, "config.yaml").general.max_batch_models == 10
