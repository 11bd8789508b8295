"""user_config (the seed's "Pass User LLM API Keys, Fallbacks"): refused unless opted in, validated with paths,
a router for one request only, and never filled from the server's environment."""

from __future__ import annotations

import os
import subprocess

import orjson
import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.routing_helpers import MESSAGES, chat, dep, routing, sdk
from tests.servers import ServerThread

OPT_IN = {"general_settings": {"allow_client_side_credentials": True}}


@pytest.fixture(scope="module")
def user_upstream():
    fake = FakeOpenAI()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def theirs(user_upstream):
    user_upstream.clear()
    return user_upstream


def seed_user_config(url: str) -> dict:
    """The seed's user_config, with the two instances pointed at a fake upstream (keys from the 'user')."""
    return {
        'model_list': [
            {'model_name': 'user-azure-instance',
             'litellm_params': {'model': 'openai/fail-500', 'api_key': 'sk-user-azure', 'api_base': url + '/v1',
                                'timeout': 10},
             'tpm': 240000, 'rpm': 1800},
            {'model_name': 'user-openai-instance',
             'litellm_params': {'model': 'gpt-3.5-turbo', 'api_key': 'sk-user-openai', 'api_base': url + '/v1',
                                'timeout': 10},
             'tpm': 240000, 'rpm': 1800},
        ],
        'num_retries': 2,
        'allowed_fails': 3,
        'retry_after': 0.01,
        'fallbacks': [{'user-azure-instance': ['user-openai-instance']}],
    }


def test_refused_without_opt_in(fake_openai, theirs, start_gateway):
    gw = start_gateway({"model_list": [dep("gpt-3.5-turbo", "up", fake_openai.url)]})
    resp = chat(gw, "user-azure-instance", user_config=seed_user_config(theirs.url))
    assert resp.status_code == 403
    error = resp.json()["error"]
    assert error["param"] == "user_config"
    assert "general_settings.allow_client_side_credentials: true" in error["message"]
    assert theirs.requests == [] and fake_openai.requests == []


def test_seed_example_retries_then_falls_back(fake_openai, theirs, start_gateway):
    gw = start_gateway({"model_list": [dep("gpt-3.5-turbo", "up", fake_openai.url)], **OPT_IN})
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="user-azure-instance", messages=[{"role": "user", "content": "this is a test request, write a short poem"}],
        extra_body={"user_config": seed_user_config(theirs.url)})
    response = raw.parse()
    assert response.model == "gpt-3.5-turbo"
    assert raw.headers["x-relaykit-attempted-retries"] == "2"
    assert raw.headers["x-relaykit-attempted-fallbacks"] == "1"
    assert [r["headers"]["authorization"] for r in theirs.requests] == ["Bearer sk-user-azure"] * 3 + [
        "Bearer sk-user-openai"]
    assert fake_openai.requests == []
    assert routing(gw).state.stats == {}  # the user's failures were counted on the request's own router


def test_nothing_outlives_the_request(fake_openai, theirs, start_gateway):
    gw = start_gateway({"model_list": [dep("gpt-3.5-turbo", "up", fake_openai.url)], **OPT_IN})
    assert chat(gw, "user-openai-instance", user_config=seed_user_config(theirs.url)).status_code == 200
    after = chat(gw, "user-openai-instance")
    assert after.status_code == 400
    assert after.json()["error"]["code"] == "model_not_found"
    assert chat(gw, "gpt-3.5-turbo").status_code == 200  # the file config is untouched


def test_a_model_the_user_config_does_not_list_is_served_by_the_gateway_config(fake_openai, theirs, start_gateway):
    # The seed's OpenAI JS example: user_config lists user-azure-instance and user-openai-instance,
    # and the request asks for gpt-3.5-turbo.
    gw = start_gateway({"model_list": [dep("gpt-3.5-turbo", "up", fake_openai.url, key="sk-server")], **OPT_IN})
    resp = chat(gw, "gpt-3.5-turbo", user_config=seed_user_config(theirs.url),
                messages=[{"role": "user", "content": "Say this is a test"}])
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"] == "echo: Say this is a test"
    assert [r["headers"]["authorization"] for r in fake_openai.requests] == ["Bearer sk-server"]
    assert theirs.requests == []


def test_an_invalid_user_config_is_refused_even_when_unused(fake_openai, theirs, start_gateway):
    gw = start_gateway({"model_list": [dep("gpt-3.5-turbo", "up", fake_openai.url)], **OPT_IN})
    resp = chat(gw, "gpt-3.5-turbo", user_config={"model_list": "nope"})
    assert resp.status_code == 400
    assert fake_openai.requests == []


@pytest.mark.parametrize("mutate, path", [
    (lambda c: c["model_list"][1]["litellm_params"].update(model="nosuchprovider/x"),
     "user_config.model_list[1].litellm_params.model"),
    (lambda c: c.update(num_retries="two"), "user_config.num_retries"),
    (lambda c: c.update(routing_strategy="fastest-please"), "user_config.routing_strategy"),
    (lambda c: c["model_list"][0].pop("litellm_params"), "user_config.model_list[0]"),
    (lambda c: c.update(fallbacks=[{"user-azure-instance": ["ghost"]}]), "user_config.fallbacks[user-azure-instance][0]"),
    (lambda c: c["model_list"][0]["litellm_params"].update(api_key="os.environ/OPENAI_API_KEY"),
     "user_config.model_list[0].litellm_params.api_key"),
    (lambda c: c.update(redis_host="x"), "user_config"),
])
def test_invalid_user_config_is_a_400_naming_the_path(fake_openai, theirs, start_gateway, mutate, path):
    gw = start_gateway({"model_list": [dep("gpt-3.5-turbo", "up", fake_openai.url)], **OPT_IN})
    config = seed_user_config(theirs.url)
    mutate(config)
    resp = chat(gw, "user-openai-instance", user_config=config)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_user_config"
    assert path + ":" in error["message"] or path + " " in error["message"], error["message"]
    assert theirs.requests == []


def test_server_environment_never_fills_a_user_deployment(fake_openai, theirs, start_gateway, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-env-secret")
    gw = start_gateway({"model_list": [dep("gpt-3.5-turbo", "up", fake_openai.url)], **OPT_IN})
    config = {"model_list": [{"model_name": "mine", "litellm_params": {"model": "openai/gpt-4o",
                                                                       "api_base": theirs.url + "/v1"}}]}
    assert chat(gw, "mine", user_config=config).status_code == 200
    assert theirs.requests[0]["headers"].get("authorization") is None
    assert b"sk-server-env-secret" not in theirs.requests[0]["raw"]


def test_user_config_timeout_and_routing_strategy(fake_openai, theirs, start_gateway):
    gw = start_gateway({"model_list": [dep("gpt-3.5-turbo", "up", fake_openai.url)], **OPT_IN})
    config = {"model_list": [dep("slow", "slow-3", theirs.url), dep("fast", "quick", theirs.url)],
              "timeout": 0.2, "routing_strategy": "least-busy", "fallbacks": [{"slow": ["fast"]}]}
    resp = chat(gw, "slow", user_config=config)
    assert resp.status_code == 200
    assert resp.json()["model"] == "quick"
    assert resp.headers["x-relaykit-attempted-fallbacks"] == "1"


def test_user_config_with_batch(fake_openai, theirs, start_gateway):
    gw = start_gateway({"model_list": [dep("gpt-3.5-turbo", "up", fake_openai.url)], **OPT_IN})
    config = {"model_list": [dep("one", "first", theirs.url), dep("two", "second", theirs.url)]}
    resp = chat(gw, "one,two", user_config=config, messages=MESSAGES)
    assert [i["model"] for i in resp.json()] == ["first", "second"]




def test_seed_js_examples_for_user_config_and_user_keys(js_clients, fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("gpt-3.5-turbo", "gpt-3.5-turbo", fake_openai.url, key="sk-server")],
                        **OPT_IN})
    env = {**os.environ, "AZURE_API_KEY": "sk-user-azure", "AZURE_API_VERSION": "2024-02-01",
           "AZURE_API_BASE": "https://user-resource.openai.azure.com", "OPENAI_API_KEY": "sk-user-openai"}
    out = subprocess.run(["node", "routing_examples.mjs", gw.url], cwd=js_clients, capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr[-2500:]
    assert orjson.loads(out.stdout.strip().splitlines()[-1]) == {"user_config": "echo: Say this is a test",
                                                                "api_key": "echo: Say this is a test"}
    assert [r["headers"]["authorization"] for r in fake_openai.requests] == ["Bearer sk-server",
                                                                               "Bearer my-bad-key"]
