"""GET /metrics read by prometheus-client's own parser after a known mix of calls, with one worker and with two;
who may read it; keys never raw in a label; Server-Timing and LiteLLM's timing headers on plain and streamed replies."""

from __future__ import annotations

import hashlib

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli_process import Relaykit
from tests.routing_helpers import MESSAGES, dep

MASTER = "sk-mt-4Qz8rL2vXw9pKj7NcB3d"
AUTH = {"Authorization": f"Bearer {MASTER}"}


def config(url: str, **litellm) -> dict:
    return {"model_list": [dep("ok", "good", url), dep("bad", "fail-429", url), dep("a", "fail-500", url),
                           dep("c", "good", url)],
            "router_settings": {"fallbacks": [{"a": ["c"]}]},
            "litellm_settings": {"callbacks": ["prometheus"], **litellm},
            "general_settings": {"master_key": MASTER}}


def samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def total(found: dict, name: str, **labels) -> float:
    return sum(s.value for s in found.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))


def scrape(url: str) -> dict:
    resp = httpx.get(url + "/metrics", headers=AUTH, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return samples(resp.text)


def the_mix(url: str) -> int:
    """Two whole answers, a stream, an upstream 429 and a fallback; each on a connection of its own (so two
    workers share them). Returns the tokens the clients were told they used."""
    tokens = 0
    for _ in range(2):
        with openai.OpenAI(api_key=MASTER, base_url=url + "/v1", max_retries=0) as client:
            tokens += client.chat.completions.create(model="ok", messages=MESSAGES).usage.total_tokens
    with openai.OpenAI(api_key=MASTER, base_url=url + "/v1", max_retries=0) as client:
        stream = client.chat.completions.create(model="ok", messages=MESSAGES, stream=True,
                                                stream_options={"include_usage": True})
        tokens += sum(c.usage.total_tokens for c in stream if c.usage)
    with openai.OpenAI(api_key=MASTER, base_url=url + "/v1", max_retries=0) as client:
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="bad", messages=MESSAGES)
        resp = client.chat.completions.with_raw_response.create(model="a", messages=MESSAGES)
        assert resp.headers["x-relaykit-attempted-fallbacks"] == "1"
        tokens += resp.parse().usage.total_tokens
    return tokens


def check_the_mix(found: dict, tokens: int) -> None:
    assert tokens == 4 * 21  # the fake's usage: four answers
    assert total(found, "litellm_requests_metric_total", model="ok") == 3
    assert total(found, "litellm_requests_metric_total", model="bad") == 1
    assert total(found, "litellm_requests_metric_total", model="c") == 1  # the fallback group that answered
    assert total(found, "litellm_proxy_total_requests_metric_total", status_code="200") == 4
    assert total(found, "litellm_proxy_total_requests_metric_total", status_code="429") == 1
    assert total(found, "litellm_proxy_failed_requests_metric_total", requested_model="bad",
                 exception_status="429", exception_class="RateLimited") == 1
    assert total(found, "litellm_total_tokens_total") == tokens
    assert total(found, "litellm_input_tokens_total") == 4 * 9
    assert total(found, "litellm_output_tokens_total") == 4 * 12
    assert total(found, "litellm_request_total_latency_metric_count") == 5
    assert total(found, "litellm_llm_api_time_to_first_token_metric_count") == 1  # the stream only
    assert total(found, "litellm_deployment_success_responses_total", requested_model="ok") == 3
    assert total(found, "litellm_deployment_failure_responses_total", requested_model="bad",
                 exception_status="429") == 1
    assert total(found, "litellm_deployment_failure_responses_total", requested_model="a",
                 exception_status="500", exception_class="UpstreamUnavailable") == 1
    assert total(found, "litellm_deployment_total_requests_total") == 6  # five calls, one of them tried twice
    assert total(found, "litellm_deployment_successful_fallbacks_total", requested_model="a",
                 fallback_model="c", exception_status="500") == 1
    assert total(found, "relaykit_in_flight_requests") == 0
    assert total(found, "litellm_spend_metric_total") == 0  # the fake's models have no price
    states = {s.labels["model_id"]: s.value for s in found["litellm_deployment_state"]}
    assert len(states) == 4 and set(states.values()) == {0.0}


def test_metrics_after_a_mix_of_calls_one_worker(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url))
    tokens = the_mix(gw.url)
    check_the_mix(scrape(gw.url), tokens)


def test_metrics_summed_over_two_workers(fake_openai, tmp_path):
    server = Relaykit(["--num_workers", "2"], config=config(fake_openai.url), tmp_path=tmp_path)
    try:
        url = f"http://127.0.0.1:{server.port}"
        tokens = the_mix(url)
        for _ in range(4):  # whichever worker answers the scrape, it reads every worker's values
            check_the_mix(scrape(url), tokens)
    finally:
        server.stop()
    assert not any("not implemented" in line for line in server.stderr), server.stderr


def test_cooldown_shows_as_deployment_state(fake_openai, start_gateway):
    cfg = config(fake_openai.url)
    cfg["router_settings"].update({"allowed_fails": 0, "cooldown_time": 60})
    gw = start_gateway(cfg)
    assert httpx.post(gw.url + "/v1/chat/completions", headers=AUTH, timeout=10,
                      json={"model": "bad", "messages": MESSAGES}).status_code == 429
    found = scrape(gw.url)
    states = {s.labels["litellm_model_name"]: s.value for s in found["litellm_deployment_state"]}
    assert states["fail-429"] == 2 and states["good"] == 0
    assert total(found, "litellm_deployment_cooled_down_total", litellm_model_name="fail-429",
                 exception_status="429") == 1


def test_refusals_by_rate_limit_are_counted(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url))
    made = httpx.post(gw.url + "/key/generate", headers=AUTH, json={"rpm_limit": 1, "key_alias": "tight"}, timeout=10)
    key = made.json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    codes = [httpx.post(gw.url + "/v1/chat/completions", headers=headers, timeout=10,
                        json={"model": "ok", "messages": MESSAGES}).status_code for _ in range(2)]
    assert codes == [200, 429]
    resp = httpx.get(gw.url + "/metrics", headers=AUTH, timeout=10)
    assert key not in resp.text  # never the raw key: its SHA-256 and alias
    found = samples(resp.text)
    hashed = hashlib.sha256(key.encode()).hexdigest()
    assert total(found, "relaykit_refusals_total", reason="rate_limit", hashed_api_key=hashed,
                 api_key_alias="tight") == 1
    assert total(found, "litellm_requests_metric_total", hashed_api_key=hashed, api_key_alias="tight") == 2
    assert MASTER not in resp.text


def test_metrics_need_the_master_key(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url))
    assert httpx.get(gw.url + "/metrics", timeout=10).status_code == 401
    key = httpx.post(gw.url + "/key/generate", headers=AUTH, json={}, timeout=10).json()["key"]
    assert httpx.get(gw.url + "/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=10).status_code == 403
    assert httpx.get(gw.url + "/metrics", headers=AUTH, timeout=10).status_code == 200


def test_metrics_opened_by_config_and_open_without_a_master_key(fake_openai, start_gateway):
    opened = start_gateway(config(fake_openai.url, require_auth_for_metrics_endpoint=False))
    assert httpx.get(opened.url + "/metrics", timeout=10).status_code == 200
    cfg = config(fake_openai.url)
    del cfg["general_settings"]
    keyless = start_gateway(cfg)
    assert httpx.get(keyless.url + "/metrics", timeout=10).status_code == 200


def test_metrics_off_unless_asked(fake_openai, start_gateway):
    cfg = config(fake_openai.url)
    del cfg["litellm_settings"]
    gw = start_gateway(cfg)
    resp = httpx.get(gw.url + "/metrics", headers=AUTH, timeout=10)
    assert resp.status_code == 404 and "prometheus" in resp.json()["error"]["message"]


def _timings(headers) -> dict[str, float]:
    out = {}
    for part in headers["server-timing"].split(", "):
        name, _, dur = part.partition(";dur=")
        out[name] = float(dur)
    return out


@pytest.mark.parametrize("stream", [False, True])
def test_server_timing_and_litellm_headers(fake_openai, start_gateway, stream):
    gw = start_gateway(config(fake_openai.url))
    body = {"model": "ok", "messages": MESSAGES, "stream": stream}
    with httpx.stream("POST", gw.url + "/v1/chat/completions", headers=AUTH, json=body, timeout=10) as resp:
        resp.read()
    assert resp.status_code == 200
    h = resp.headers
    assert h["x-litellm-overhead-duration-ms"] == h["x-relaykit-overhead-ms"]
    assert h["x-litellm-response-duration-ms"] == h["x-relaykit-response-ms"]
    phases = _timings(h)
    assert list(phases) == ["read", "auth", "decode", "route", "upstream", "respond", "total"]
    assert all(v >= 0 for v in phases.values())
    assert phases["total"] == float(h["x-relaykit-response-ms"])
    assert phases["total"] >= phases["upstream"] > 0


def test_server_timing_on_an_error(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url))
    resp = httpx.post(gw.url + "/v1/chat/completions", json={"model": "ok", "messages": MESSAGES}, timeout=10)
    assert resp.status_code == 401
    assert "total;dur=" in resp.headers["server-timing"]
    assert resp.headers["x-litellm-response-duration-ms"] == resp.headers["x-relaykit-response-ms"]
