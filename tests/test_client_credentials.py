"""Client-side credentials (the seed's "Pass User LLM API Keys / API Base"): allowed per deployment, refused
otherwise before anything is sent, and a client-chosen URL never receives a configured key."""

from __future__ import annotations

import re

import pytest

from kernel.models import ClientAuthRule, Deployment
from middleware.routing.credentials import apply_credentials
from tests.fakes.openai_upstream import FakeOpenAI
from tests.routing_helpers import MESSAGES, chat, dep, sdk
from tests.servers import ServerThread, free_port

SERVER_KEY = "sk-server-secret"


@pytest.fixture(scope="module")
def client_upstream():
    """A second fake upstream standing for a URL the client chose; it records every Authorization it gets."""
    fake = FakeOpenAI()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def elsewhere(client_upstream):
    client_upstream.clear()
    return client_upstream


def auths(fake) -> list:
    return [r["headers"].get("authorization") for r in fake.requests]


def test_listed_api_key_and_base_are_used(fake_openai, elsewhere, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "up", fake_openai.url, key=SERVER_KEY,
                                           configurable_clientside_auth_params=["api_key", "api_base"])]})
    out = sdk(gw).chat.completions.create(model="m", messages=MESSAGES, extra_body={
        "api_key": "sk-user", "api_base": elsewhere.url + "/v1"})
    assert out.choices[0].message.content == "echo: hi"
    assert auths(elsewhere) == ["Bearer sk-user"]
    assert fake_openai.requests == []


@pytest.mark.parametrize("opt_in", ["rule", "allow_client_side_credentials"])
@pytest.mark.parametrize("field", ["api_base", "base_url"])
def test_client_chosen_url_never_receives_the_configured_key(fake_openai, elsewhere, start_gateway, opt_in, field):
    params = {"configurable_clientside_auth_params": ["api_base"]} if opt_in == "rule" else {}
    config = {"model_list": [dep("m", "up", fake_openai.url, key=SERVER_KEY, **params)]}
    if opt_in != "rule":
        config["general_settings"] = {"allow_client_side_credentials": True}
    gw = start_gateway(config)
    resp = chat(gw, "m", **{field: elsewhere.url + "/v1"})
    assert resp.status_code == 200
    assert len(elsewhere.requests) == 1
    assert auths(elsewhere) == [None]  # the client gave no key, and the server's stayed home
    assert SERVER_KEY.encode() not in elsewhere.requests[0]["raw"]
    assert fake_openai.requests == []


def test_regex_rule_allows_a_matching_base(fake_openai, elsewhere, start_gateway):
    pattern = "^" + re.escape(elsewhere.url) + "/v\\d$"
    gw = start_gateway({"model_list": [dep("m", "up", fake_openai.url, key=SERVER_KEY,
                                           configurable_clientside_auth_params=[{"api_base": pattern}])]})
    assert chat(gw, "m", api_base=elsewhere.url + "/v1").status_code == 200
    assert len(elsewhere.requests) == 1


@pytest.mark.parametrize("base", ["{url}/v1/extra", "http://evil.example/v1", "{url}/v1?x={url}/v1"])
def test_regex_rule_must_match_the_whole_value(fake_openai, elsewhere, start_gateway, base):
    pattern = re.escape(elsewhere.url) + "/v1"  # no anchors: a full match is still required
    gw = start_gateway({"model_list": [dep("m", "up", fake_openai.url, key=SERVER_KEY,
                                           configurable_clientside_auth_params=[{"api_base": pattern}])]})
    resp = chat(gw, "m", api_base=base.format(url=elsewhere.url))
    assert resp.status_code == 403
    assert resp.json()["error"]["param"] == "api_base"
    assert elsewhere.requests == [] and fake_openai.requests == []


def test_unlisted_parameter_is_refused_naming_it(fake_openai, elsewhere, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "up", fake_openai.url, key=SERVER_KEY,
                                           configurable_clientside_auth_params=["api_key"])]})
    resp = chat(gw, "m", api_key="sk-user", api_version="2024-01-01")
    assert resp.status_code == 403
    error = resp.json()["error"]
    assert error["param"] == "api_version"
    assert "configurable_clientside_auth_params" in error["message"]
    assert "allow_client_side_credentials" in error["message"]
    assert fake_openai.requests == []


def test_seed_fireworks_regex_refuses_other_hosts(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [{"model_name": "fireworks_ai/*", "litellm_params": {
        "model": "fireworks_ai/*", "api_key": SERVER_KEY,
        "configurable_clientside_auth_params": [{"api_base": "^https://litellm.*direct\\.fireworks\\.ai/v1$"}]}}]})
    resp = chat(gw, "fireworks_ai/llama-v3", api_key="my-bad-key", api_base="https://evil.example/v1")
    assert resp.status_code == 403
    assert resp.json()["error"]["param"] in ("api_key", "api_base")


def test_no_rules_no_credentials(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "up", fake_openai.url, key=SERVER_KEY)]})
    resp = chat(gw, "m", api_key="sk-user")
    assert resp.status_code == 403
    assert fake_openai.requests == []


def test_fallback_group_without_the_rule_does_not_get_the_credentials(fake_openai, elsewhere, start_gateway):
    gw = start_gateway({"model_list": [
        dep("a", "fail-500", fake_openai.url, key=SERVER_KEY, configurable_clientside_auth_params=["api_base"]),
        dep("b", "fine", fake_openai.url, key=SERVER_KEY)],
        "router_settings": {"fallbacks": [{"a": ["b"]}]}})
    resp = chat(gw, "a", api_base=elsewhere.url + "/v1")
    assert resp.status_code == 403  # b does not accept a client api_base, so it is not tried with one
    assert [r["body"]["model"] for r in elsewhere.requests] == ["fail-500"]
    assert fake_openai.requests == []


def test_credential_values_must_be_strings(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "up", fake_openai.url)],
                        "general_settings": {"allow_client_side_credentials": True}})
    resp = chat(gw, "m", api_key={"not": "a string"})
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "api_key"


def deployment(**extra) -> Deployment:
    return Deployment(id="d", model_name="m", provider="vertex_ai", upstream_model="gemini", api_key=SERVER_KEY,
                      extra=extra, clientside_auth=(ClientAuthRule("vertex_location"),))


def test_region_that_is_a_plain_label_keeps_configured_credentials():
    d = apply_credentials(deployment(vertex_credentials="{sa}", vertex_project="p"), {"vertex_location": "us-east5"})
    assert d.extra == {"vertex_credentials": "{sa}", "vertex_project": "p", "vertex_location": "us-east5"}
    assert d.api_key == SERVER_KEY


def test_region_that_could_change_the_host_drops_every_configured_secret():
    d = apply_credentials(deployment(vertex_credentials="{sa}", aws_secret_access_key="s", extra_headers={"a": 1},
                                     vertex_project="p"), {"vertex_location": "evil.example/#"})
    assert d.extra == {"vertex_project": "p", "vertex_location": "evil.example/#"}
    assert d.api_key is None


def test_failures_with_client_credentials_do_not_cool_the_shared_deployment(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [dep("m", "up", fake_openai.url)],
                        "router_settings": {"allowed_fails": 0},
                        "general_settings": {"allow_client_side_credentials": True}})
    for _ in range(3):
        assert chat(gw, "m", api_base=f"http://127.0.0.1:{free_port()}/v1").status_code == 502
    assert chat(gw, "m").status_code == 200  # everyone else still gets the deployment
