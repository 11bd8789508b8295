"""Fallbacks through the real gateway: each kind, chosen by the error's type, streams before and after the first byte."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from tests.routing_helpers import MESSAGES, answered_by, chat, dep, routing, sdk
from tests.servers import free_port


def models(url: str, *entries) -> list[dict]:
    return [dep(name, upstream, url) for name, upstream in entries]


@pytest.mark.parametrize("broken", ["fail-500", "fail-429", "timeout", "refused"])
def test_generic_fallbacks(fake_openai, start_gateway, broken):
    url = fake_openai.url
    primary = {"fail-500": dep("a", "fail-500", url), "fail-429": dep("a", "fail-429", url),
               "timeout": dep("a", "slow-3", url, timeout=0.2),
               "refused": dep("a", "x", f"http://127.0.0.1:{free_port()}")}[broken]
    gw = start_gateway({"model_list": [primary, dep("b", "fail-500", url), dep("c", "good", url)],
                        "router_settings": {"fallbacks": [{"a": ["b", "c"]}]}})
    resp = chat(gw, "a")
    assert resp.status_code == 200, resp.text
    assert answered_by(resp) == "good"
    assert resp.headers["x-relaykit-attempted-fallbacks"] == "2"
    assert resp.headers["x-relaykit-model-id"]


def test_context_window_fallbacks(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": models(url, ("small", "context-too-long"), ("big", "big-context"),
                                             ("other", "other")),
                        "router_settings": {"context_window_fallbacks": [{"small": ["big"]}],
                                            "fallbacks": [{"small": ["other"]}]}})
    resp = chat(gw, "small")
    assert answered_by(resp) == "big-context"  # the context list, not the generic one
    assert resp.headers["x-relaykit-attempted-fallbacks"] == "1"


def test_content_policy_fallbacks(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": models(url, ("strict", "policy"), ("lenient", "lenient")),
                        "router_settings": {"content_policy_fallbacks": [{"strict": ["lenient"]}]}})
    assert answered_by(chat(gw, "strict")) == "lenient"


def test_context_error_without_its_own_list_uses_generic_fallbacks(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": models(url, ("small", "context-too-long"), ("other", "other")),
                        "litellm_settings": {"fallbacks": [{"small": ["other"]}]}})
    assert answered_by(chat(gw, "small")) == "other"


def test_default_fallbacks(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": models(url, ("a", "fail-500"), ("safe", "safe")),
                        "router_settings": {"default_fallbacks": ["safe"]}})
    assert answered_by(chat(gw, "a")) == "safe"


def test_max_fallbacks_caps_the_chain(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": models(url, ("a", "fail-500"), ("b", "fail-500"), ("c", "fail-500"),
                                             ("d", "good")),
                        "router_settings": {"fallbacks": [{"a": ["b", "c", "d"]}], "max_fallbacks": 2}})
    resp = chat(gw, "a")
    assert resp.status_code == 500
    assert resp.headers["x-relaykit-attempted-fallbacks"] == "2"
    assert [r["body"]["model"] for r in fake_openai.requests] == ["fail-500"] * 3


def test_bad_request_does_not_fall_back(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": models(url, ("a", "fail-400"), ("b", "good")),
                        "router_settings": {"fallbacks": [{"a": ["b"]}]}})
    resp = chat(gw, "a")
    assert resp.status_code == 400
    assert len(fake_openai.requests) == 1


def test_per_request_fallbacks(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": models(url, ("a", "fail-500"), ("b", "b-model"), ("c", "c-model")),
                        "router_settings": {"fallbacks": [{"a": ["b"]}]}})
    out = sdk(gw).chat.completions.create(model="a", messages=MESSAGES, extra_body={"fallbacks": ["c"]})
    assert out.model == "c-model"  # the request's list replaces the configured one


def test_retries_are_spent_before_falling_back(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": models(url, ("a", "fail-500"), ("b", "good")),
                        "router_settings": {"num_retries": 2, "retry_after": 0.01, "fallbacks": [{"a": ["b"]}]}})
    resp = chat(gw, "a")
    assert answered_by(resp) == "good"
    assert resp.headers["x-relaykit-attempted-retries"] == "2"
    assert resp.headers["x-relaykit-attempted-fallbacks"] == "1"
    assert [r["body"]["model"] for r in fake_openai.requests] == ["fail-500"] * 3 + ["good"]


@pytest.mark.parametrize("broken", ["fail-500", "stream-timeout"])
def test_stream_failing_before_first_byte_falls_back(fake_openai, start_gateway, broken):
    url = fake_openai.url
    primary = dep("a", "fail-500", url) if broken == "fail-500" else dep("a", "slow-stream-3", url, stream_timeout=0.2)
    gw = start_gateway({"model_list": [primary, dep("b", "good", url)],
                        "router_settings": {"fallbacks": [{"a": ["b"]}]}})
    with sdk(gw).chat.completions.with_streaming_response.create(model="a", messages=MESSAGES, stream=True) as resp:
        assert resp.headers["x-relaykit-attempted-fallbacks"] == "1"
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert text == "echo: hi"


def test_stream_failing_after_first_byte_ends_in_band(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": models(url, ("a", "stream-break"), ("b", "good")),
                        "router_settings": {"fallbacks": [{"a": ["b"]}]}})
    with httpx.stream("POST", gw.url + "/v1/chat/completions", timeout=10,
                      json={"model": "a", "messages": [{"role": "user", "content": "one two three four"}],
                            "stream": True}) as resp:
        assert resp.status_code == 200
        body = b"".join(resp.iter_bytes())
    assert b'"content":"echo:"' in body and b'"error"' in body
    assert [r["body"]["model"] for r in fake_openai.requests] == ["stream-break"]  # no fallback after a byte


def test_per_request_fallback_may_override_body_fields(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": models(url, ("a", "fail-500"), ("b", "b-model"))})
    resp = chat(gw, "a", temperature=1.0, fallbacks=[{"model": "b", "temperature": 0.5}])
    assert answered_by(resp) == "b-model"
    sent = [r["body"] for r in fake_openai.requests]
    assert [(s["model"], s["temperature"]) for s in sent] == [("fail-500", 1.0), ("b-model", 0.5)]


def test_per_request_context_window_fallbacks_in_litellm_shape(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": models(url, ("small", "context-too-long"), ("big", "big-context"))})
    resp = chat(gw, "small", context_window_fallbacks=[{"small": ["big"]}])
    assert answered_by(resp) == "big-context"


def test_malformed_per_request_fallbacks_is_a_400(fake_openai, start_gateway):
    gw = start_gateway({"model_list": models(fake_openai.url, ("a", "fail-500"))})
    resp = chat(gw, "a", fallbacks="b")
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "fallbacks"


def test_anthropic_client_falls_back_too(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": models(url, ("a", "fail-500"), ("b", "good")),
                        "router_settings": {"fallbacks": [{"a": ["b"]}]}})
    client = anthropic.Anthropic(base_url=gw.url, api_key="sk-1234", max_retries=0)
    raw = client.messages.with_raw_response.create(model="a", max_tokens=50,
                                                   messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-relaykit-attempted-fallbacks"] == "1"
    assert raw.parse().content[0].text == "echo: hi"


def test_mock_testing_fallbacks(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": models(url, ("a", "a-model"), ("b", "b-model")),
                        "router_settings": {"fallbacks": [{"a": ["b"]}]}})
    resp = chat(gw, "a", mock_testing_fallbacks=True)
    assert answered_by(resp) == "b-model"
    assert resp.headers["x-relaykit-attempted-fallbacks"] == "1"
    assert [r["body"]["model"] for r in fake_openai.requests] == ["b-model"]


def test_upstream_404_falls_back_and_cools(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": [dep("a", "gone", url + "/nowhere", model_info={"id": "gone"}),
                                       dep("b", "good", url)],
                        "router_settings": {"fallbacks": [{"a": ["b"]}], "allowed_fails": 3}})
    resp = chat(gw, "a")
    assert answered_by(resp) == "good"  # the upstream has no such path: a deployment problem, not the request's
    assert list(routing(gw).state.cooling) == ["gone"]
