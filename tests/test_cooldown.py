"""Cooldowns: allowed_fails within a minute cool a deployment; all cooling → 429 with Retry-After; then it returns."""

from __future__ import annotations

import time

from tests.fakes.openai_upstream import error
from tests.routing_helpers import answered_by, chat, dep, routing


def test_failing_deployment_cools_down_and_traffic_moves(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": [dep("m", "fail-500", url, model_info={"id": "bad"}),
                                       dep("m", "good", url, model_info={"id": "good"})],
                        "router_settings": {"allowed_fails": 1, "cooldown_time": 30,
                                            "routing_strategy_args": {"seed": 5}}})
    bad_hits = 0
    for _ in range(12):
        resp = chat(gw, "m")
        bad_hits += resp.status_code != 200
    assert bad_hits == 2  # allowed_fails 1: the second failure cools it, and it gets no more traffic
    assert "bad" in routing(gw).state.cooling
    assert sum(r["body"]["model"] == "fail-500" for r in fake_openai.requests) == 2


def test_all_cooling_is_429_with_retry_after_and_no_upstream_call(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "fail-500", fake_openai.url)],
                        "router_settings": {"allowed_fails": 0, "cooldown_time": 7}})
    assert chat(gw, "m").status_code == 500
    resp = chat(gw, "m")
    assert resp.status_code == 429
    error = resp.json()["error"]
    assert error["code"] == "no_deployments_available"
    assert "no deployments available" in error["message"]
    assert 1 <= int(resp.headers["retry-after"]) <= 7
    assert len(fake_openai.requests) == 1


def test_cooldown_ends_after_cooldown_time(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "flaky-1-cool", fake_openai.url)],
                        "router_settings": {"allowed_fails": 0, "cooldown_time": 0.3}})
    assert chat(gw, "m").status_code == 500
    assert chat(gw, "m").status_code == 429
    time.sleep(0.35)
    resp = chat(gw, "m")
    assert resp.status_code == 200
    assert answered_by(resp) == "flaky-1-cool"
    assert routing(gw).state.cooling == {}


def test_failures_older_than_a_minute_do_not_count(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "fail-500", fake_openai.url, model_info={"id": "d"})],
                        "router_settings": {"allowed_fails": 1}})
    assert chat(gw, "m").status_code == 500
    fails = routing(gw).state.stats["d"].fails["*"]
    fails[0] -= 61  # the first failure happened more than a minute ago
    assert chat(gw, "m").status_code == 500
    assert routing(gw).state.cooling == {}  # only one failure inside the window


def test_request_errors_do_not_cool_a_deployment(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "context-too-long", fake_openai.url)],
                        "router_settings": {"allowed_fails": 0}})
    for _ in range(3):
        assert chat(gw, "m").status_code == 400
    assert routing(gw).state.cooling == {}


def test_allowed_fails_policy_per_error_type(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": [dep("limited", "ratelimit-0", url, model_info={"id": "rl"}),
                                       dep("broken", "fail-500", url, model_info={"id": "err"}),
                                       dep("picky", "fail-400", url, model_info={"id": "bad"})],
                        "router_settings": {"allowed_fails": 5, "allowed_fails_policy": {
                            "RateLimitErrorAllowedFails": 0, "BadRequestErrorAllowedFails": 1}}})
    chat(gw, "limited")
    chat(gw, "broken")
    chat(gw, "picky")
    chat(gw, "picky")
    assert set(routing(gw).state.cooling) == {"rl", "bad"}  # 5xx still has 5 allowed fails


def test_all_cooling_group_falls_back(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": [dep("m", "fail-500", url), dep("spare", "spare", url)],
                        "router_settings": {"allowed_fails": 0, "cooldown_time": 30, "fallbacks": [{"m": ["spare"]}]}})
    assert answered_by(chat(gw, "m")) == "spare"
    resp = chat(gw, "m")  # m is cooling now: straight to the fallback, without touching m
    assert answered_by(resp) == "spare"
    assert [r["body"]["model"] for r in fake_openai.requests] == ["fail-500", "spare", "spare"]


def test_retries_stop_when_the_group_cools_and_the_real_error_is_reported(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "fail-500", fake_openai.url)],
                        "router_settings": {"allowed_fails": 1, "num_retries": 5, "retry_after": 0.01}})
    resp = chat(gw, "m")
    assert resp.status_code == 500  # the upstream's error, not "no deployments available"
    assert resp.headers["x-relaykit-attempted-retries"] == "1"
    assert len(fake_openai.requests) == 2  # the second failure cooled it: no point in three more


def test_a_wildcard_cools_per_upstream_model(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [{"model_name": "openai/*", "litellm_params": {
        "model": "openai/*", "api_base": fake_openai.url + "/v1", "api_key": "sk-up"}}],
        "router_settings": {"allowed_fails": 0, "cooldown_time": 30}})
    assert chat(gw, "openai/fail-500").status_code == 500
    assert chat(gw, "openai/fail-500").status_code == 429
    assert chat(gw, "openai/gpt-4o").status_code == 200  # the same entry, another model: not cooling


def test_upstream_refusing_our_key_cools_at_once(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "revoked", fake_openai.url, model_info={"id": "revoked"})],
                        "router_settings": {"allowed_fails": 3}})
    fake_openai.script.append(error(401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key"))
    assert chat(gw, "m").status_code == 401
    assert list(routing(gw).state.cooling) == ["revoked"]  # one refusal, although 3 failures are allowed
    assert chat(gw, "m").status_code == 429


def test_a_404_behind_a_wildcard_is_the_clients_typo_and_cools_nothing(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [{"model_name": "openai/*", "litellm_params": {
        "model": "openai/*", "api_base": fake_openai.url + "/nowhere", "api_key": "sk-up"}}]})
    for _ in range(3):
        assert chat(gw, "openai/gpt-typo").status_code == 404
    assert routing(gw).state.cooling == {}
