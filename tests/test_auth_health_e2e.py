"""The gateway key on every route but the open health probes, and the health endpoints themselves."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.servers import free_port

KEY = "sk-relaykit-test-master-0001"  # a master key strong enough to start with


@pytest.fixture
def gw(fake_openai, start_gateway):
    return start_gateway({
        "model_list": [
            {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o", "api_base": fake_openai.url + "/v1",
                                                        "api_key": "sk-up"}},
            {"model_name": "down", "litellm_params": {"model": "openai/gpt-4o",
                                                      "api_base": f"http://127.0.0.1:{free_port()}/v1"}},
        ],
        "general_settings": {"master_key": KEY},
    })


def test_sdk_with_the_master_key_works(gw):
    client = openai.OpenAI(api_key=KEY, base_url=gw.url, max_retries=0)
    out = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content == "echo: hi"


@pytest.mark.parametrize("key", ["wrong", ""])
def test_wrong_or_missing_key_is_401_in_openai_envelope(gw, fake_openai, key):
    headers = {"authorization": f"Bearer {key}"} if key else {}
    reply = httpx.post(gw.url + "/v1/chat/completions", headers=headers,
                       json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    assert reply.status_code == 401
    error = reply.json()["error"]
    assert error["type"] == "authentication_error"
    assert ("missing API key" if not key else "invalid API key") in error["message"]
    assert fake_openai.requests == []


@pytest.mark.parametrize("path", ["/v1/models", "/health", "/v1/files", "/v1/embeddings"])
def test_every_other_route_needs_the_key(gw, path):
    method = "POST" if path == "/v1/embeddings" else "GET"
    assert httpx.request(method, gw.url + path).status_code == 401
    ok = httpx.request(method, gw.url + path, headers={"api-key": KEY},
                       json={"model": "gpt-4o", "input": "x"} if method == "POST" else None)
    assert ok.status_code != 401


@pytest.mark.parametrize("path", ["/health/liveliness", "/health/readiness"])
def test_probes_are_open(gw, path):
    reply = httpx.get(gw.url + path)
    assert reply.status_code == 200
    assert reply.json()["status"] == "healthy"


def test_health_calls_each_deployment_and_reports_why(gw):
    reply = httpx.get(gw.url + "/health", headers={"x-api-key": KEY})
    assert reply.status_code == 200
    report = reply.json()
    assert [e["model"] for e in report["healthy_endpoints"]] == ["gpt-4o"]
    (bad,) = report["unhealthy_endpoints"]
    assert bad["model"] == "down" and bad["status"] == 502
    assert "could not" in bad["error"]
