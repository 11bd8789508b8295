"""Retries: counts, which errors earn them, backoff bounds (computed, not timed), Retry-After, retry_policy."""

from __future__ import annotations

import random

import pytest

from middleware.routing.backoff import DEFAULT_BASE, MAX_DELAY, retry_delay
from tests.routing_helpers import chat, delays, dep, keeping_pipelines

FAST = {"retry_after": 0.01}  # router_settings: a 10 ms base keeps the backoff short in tests


def test_backoff_grows_exponentially_within_jitter_bounds():
    rng = random.Random(0)
    for n in range(8):
        for _ in range(50):
            d = retry_delay(n, rng=rng)
            expected = min(MAX_DELAY, DEFAULT_BASE * 2 ** n)
            assert expected <= d <= expected * 1.25


def test_backoff_floor_and_upstream_retry_after():
    rng = random.Random(1)
    assert 0.04 <= retry_delay(2, floor=0.01, rng=rng) <= 0.05  # 10 ms base, third try: 40 ms + up to 25%
    assert retry_delay(0, floor=2.0, rng=rng) >= 2.0  # retry_after is the least wait
    assert retry_delay(0, floor=0.01, retry_after=3.0, rng=rng) == 3.0  # the upstream asked for 3 s
    assert retry_delay(0, floor=0.01, retry_after=3600, rng=rng) < 1  # more than a minute: not waited for


def test_retries_until_success_and_reports_count(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "flaky-2-a", fake_openai.url)],
                        "router_settings": {"num_retries": 3, **FAST}}, pipelines=keeping_pipelines())
    resp = chat(gw, "m")
    assert resp.status_code == 200
    assert resp.headers["x-relaykit-attempted-retries"] == "2"
    assert len(fake_openai.requests) == 3
    sleeps = delays(gw)  # one deployment: each retry waited, and grew
    assert len(sleeps) == 2
    assert 0.01 <= sleeps[0] <= 0.0125 and 0.02 <= sleeps[1] <= 0.025


def test_gives_up_after_num_retries(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "fail-500", fake_openai.url)],
                        "router_settings": {"num_retries": 2, **FAST}})
    resp = chat(gw, "m")
    assert resp.status_code == 500
    assert resp.headers["x-relaykit-attempted-retries"] == "2"
    assert len(fake_openai.requests) == 3


def test_non_retryable_error_is_not_retried(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "fail-400", fake_openai.url)],
                        "router_settings": {"num_retries": 3, **FAST}})
    resp = chat(gw, "m")
    assert resp.status_code == 400
    assert len(fake_openai.requests) == 1
    assert "x-relaykit-attempted-retries" not in resp.headers


def test_upstream_retry_after_is_honoured(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "ratelimit-0.2", fake_openai.url)],
                        "router_settings": {"num_retries": 1, **FAST}}, pipelines=keeping_pipelines())
    resp = chat(gw, "m")
    assert resp.status_code == 429
    assert len(fake_openai.requests) == 2
    assert delays(gw) == [0.2, 0.0]  # waited the upstream's 0.2 s once; the last failure had no retry left


def test_retry_moves_to_another_deployment_without_waiting(fake_openai, start_gateway):
    url = fake_openai.url
    gw = start_gateway({"model_list": [dep("m", "fail-500", url, model_info={"id": "bad"}),
                                       dep("m", "good", url, model_info={"id": "good"})],
                        "router_settings": {"num_retries": 1, "retry_after": 5, "routing_strategy_args": {"seed": 0}}},
                       pipelines=keeping_pipelines())
    for _ in range(6):
        resp = chat(gw, "m")
        assert resp.status_code == 200
        assert resp.headers["x-relaykit-model-id"] == "good"
    waits = delays(gw)
    assert waits and set(waits) == {0.0}  # calls failed on "bad", yet with a 5 s floor none waited: "good" was ready


@pytest.mark.parametrize("where", ["request", "deployment"])
def test_num_retries_per_request_and_per_deployment(fake_openai, start_gateway, where):
    params = {"num_retries": 1} if where == "deployment" else {}
    gw = start_gateway({"model_list": [dep("m", "fail-500", fake_openai.url, **params)],
                        "router_settings": {"num_retries": 4, **FAST}})
    resp = chat(gw, "m", **({"num_retries": 1} if where == "request" else {}))
    assert resp.headers["x-relaykit-attempted-retries"] == "1"
    assert len(fake_openai.requests) == 2


def test_retry_policy_by_error_type(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "fail-400", fake_openai.url), dep("r", "fail-500", fake_openai.url)],
                        "router_settings": {"num_retries": 3, **FAST, "retry_policy": {
                            "BadRequestErrorRetries": 1, "InternalServerErrorRetries": 0}}})
    assert chat(gw, "m").headers["x-relaykit-attempted-retries"] == "1"  # a 400 retried: the policy says so
    assert len(fake_openai.requests) == 2
    fake_openai.clear()
    assert "x-relaykit-attempted-retries" not in chat(gw, "r").headers  # 5xx: policy 0 beats num_retries 3
    assert len(fake_openai.requests) == 1


def test_bad_num_retries_in_request_is_a_400(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "fail-500", fake_openai.url)]})
    resp = chat(gw, "m", num_retries="lots")
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "num_retries"
