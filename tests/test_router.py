"""Routing strategies through the real gateway: distributions with a fixed seed, least-busy, latency, usage, cost."""

from __future__ import annotations

import collections
import concurrent.futures
import time

import pytest

from kernel.config import parse_config
from kernel.errors import ConfigError
from tests.routing_helpers import answered_by, chat, dep, routing, sdk


def test_simple_shuffle_follows_weights(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": [dep("m", "heavy", url, weight=3), dep("m", "light", url, weight=1)],
                        "router_settings": {"routing_strategy_args": {"seed": 7}}})
    seen = collections.Counter(answered_by(chat(gw, "m")) for _ in range(200))
    assert set(seen) == {"heavy", "light"}
    assert 130 <= seen["heavy"] <= 170  # 3:1 → 150 expected; the seed makes this exact run repeatable


def test_simple_shuffle_uses_rpm_when_no_weight(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": [dep("m", "big", url, rpm=900), dep("m", "small", url, rpm=100)],
                        "router_settings": {"routing_strategy_args": {"seed": 1}}})
    seen = collections.Counter(answered_by(chat(gw, "m")) for _ in range(100))
    assert seen["big"] >= 80


def test_least_busy_spreads_concurrent_calls(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": [dep("m", "slow-0.4", url, model_info={"id": "a"}),
                                       dep("m", "slow-0.4", url, model_info={"id": "b"})],
                        "router_settings": {"routing_strategy": "least-busy"}})
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: chat(gw, "m"), range(4)))
    ids = collections.Counter(r.headers["x-relaykit-model-id"] for r in replies)
    assert ids == {"a": 2, "b": 2}
    assert all(s.in_flight == 0 for s in routing(gw).state.stats.values())


def test_latency_based_prefers_the_fast_deployment(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": [dep("m", "slow-0.15", url), dep("m", "fast", url)],
                        "router_settings": {"routing_strategy": "latency-based-routing",
                                            "routing_strategy_args": {"seed": 3}}})
    seen = [answered_by(chat(gw, "m")) for _ in range(8)]
    assert set(seen[:2]) == {"slow-0.15", "fast"}  # each untried deployment is measured once first
    assert seen[2:] == ["fast"] * 6


def test_usage_based_balances_tokens_and_respects_rpm(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": [dep("m", "one", url, rpm=2), dep("m", "two", url, rpm=2)],
                        "router_settings": {"routing_strategy": "usage-based-routing"}})
    seen = [answered_by(chat(gw, "m")) for _ in range(4)]
    assert collections.Counter(seen) == {"one": 2, "two": 2}  # the fake answers 21 tokens a call: they alternate
    over = chat(gw, "m")
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "no_deployments_available"
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert len(fake_openai.requests) == 4  # the fifth call never left the gateway


def test_cost_based_picks_the_cheapest(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": [
        dep("m", "pricey", url, model_info={"input_cost_per_token": 3e-5, "output_cost_per_token": 6e-5}),
        dep("m", "cheap", url, model_info={"input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7}),
        dep("m", "unpriced", url)],
        "router_settings": {"routing_strategy": "cost-based-routing"}})
    assert {answered_by(chat(gw, "m")) for _ in range(5)} == {"cheap"}


def test_model_group_alias_and_model_info_id(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": [dep("gpt-4o", "real-a", url, model_info={"id": "dep-a"}),
                                       dep("gpt-4o", "real-b", url, model_info={"id": "dep-b"})],
                        "router_settings": {"model_group_alias": {"gpt-4": "gpt-4o"}}})
    assert answered_by(chat(gw, "gpt-4")) in {"real-a", "real-b"}
    for _ in range(5):
        resp = chat(gw, "dep-b")  # a deployment named by its model_info.id
        assert resp.headers["x-relaykit-model-id"] == "dep-b"
        assert answered_by(resp) == "real-b"


def test_single_deployment_sends_no_routing_headers(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "only", fake_openai.url, model_info={"id": "only"})]})
    resp = chat(gw, "m")
    assert resp.status_code == 200
    assert resp.headers["x-relaykit-model-id"] == "only"
    assert "x-relaykit-attempted-retries" not in resp.headers
    assert "x-relaykit-attempted-fallbacks" not in resp.headers
    assert routing(gw).state.stats == {}  # a stateless strategy on a healthy group keeps no per-deployment state


@pytest.mark.parametrize("router_settings, path", [
    ({"fallbacks": [{"m": ["nope"]}]}, "router_settings.fallbacks[m][0]"),
    ({"context_window_fallbacks": [{"ghost": ["m"]}]}, "router_settings.context_window_fallbacks[ghost]"),
    ({"default_fallbacks": ["nope"]}, "router_settings.default_fallbacks[0]"),
    ({"model_group_alias": {"x": "nope"}}, "router_settings.model_group_alias.x"),
])
def test_router_settings_naming_unserved_models_warn_at_startup(router_settings, path):
    config = {"model_list": [dep("m", "x", "http://127.0.0.1:9")], "router_settings": router_settings}
    settings = parse_config(config, "config.yaml")
    assert any(w.startswith(f"config.yaml: {path}: no model_list entry serves") for w in settings.warnings), \
        settings.warnings


@pytest.mark.parametrize("router_settings, path", [
    ({"retry_policy": {"RateLimitErrorRetriez": 2}}, "router_settings.retry_policy.RateLimitErrorRetriez"),
    ({"allowed_fails_policy": {"Nope": 1}}, "router_settings.allowed_fails_policy.Nope"),
])
def test_unknown_policy_keys_fail_at_startup(router_settings, path):
    config = {"model_list": [dep("m", "x", "http://127.0.0.1:9")], "router_settings": router_settings}
    with pytest.raises(ConfigError) as info:
        parse_config(config, "config.yaml")
    assert any(p.startswith(f"config.yaml: {path}: unknown key") for p in info.value.problems), info.value.problems


def test_unserved_fallback_name_is_skipped_at_runtime(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": [dep("a", "fail-500", url), dep("b", "good", url)],
                        "router_settings": {"fallbacks": [{"a": ["typo", "b"]}]}})
    resp = chat(gw, "a")
    assert answered_by(resp) == "good"
    assert resp.headers["x-relaykit-attempted-fallbacks"] == "2"


def test_least_busy_counts_a_stream_until_it_ends(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "a", fake_openai.url, model_info={"id": "a"}),
                                       dep("m", "b", fake_openai.url, model_info={"id": "b"})],
                        "router_settings": {"routing_strategy": "least-busy"}})
    stats = routing(gw).state.stats
    words = " ".join(["word"] * 200)  # the fake streams a word every 5 ms: a second of stream left to check in
    stream = sdk(gw).chat.completions.create(model="m", messages=[{"role": "user", "content": words}], stream=True)
    first = next(iter(stream))
    assert sum(s.in_flight for s in stats.values()) == 1  # the answer has started, the stream is still open
    rest = list(stream)
    assert first.choices and rest
    deadline = time.monotonic() + 5
    while sum(s.in_flight for s in stats.values()) and time.monotonic() < deadline:
        time.sleep(0.01)  # the gateway settles after sending the last byte
    assert sum(s.in_flight for s in stats.values()) == 0
