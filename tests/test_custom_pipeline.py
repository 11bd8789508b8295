"""A pipelines file of the user's own, with a middleware of their own by import path, served end to end."""

from __future__ import annotations

import httpx
import openai
import pytest

from kernel.config import parse_config
from kernel.errors import ConfigError
from kernel.pipeline import build_pipelines
from kernel.state import Gateway

PIPELINES = {"pipelines": {"chat": {
    "paths": ["/v1/chat/completions"],
    "endpoint": "chat",
    "dialect": "openai",
    "chain": ["encode", {"tests.custom_middleware:StampHeader": {"header": "x-team", "value": "blue",
                                                                   "forbidden": "secret-project"}},
              "decode", "router", "provider_call"],
}}}


def test_user_middleware_runs_in_a_custom_chain(start_gateway):
    gw = start_gateway(None, pipelines=PIPELINES)
    client = openai.OpenAI(api_key="x", base_url=gw.url + "/v1", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="echo/a", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-team"] == "blue"
    assert raw.parse().choices[0].message.content == "hi"
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model="echo/a", messages=[{"role": "user", "content": "secret-project plans"}])
    assert "secret-project" in info.value.message
    # The file replaced the built-in pipelines: routes it does not declare are gone.
    assert httpx.get(gw.url + "/v1/models").status_code == 404


def test_bad_options_for_a_user_middleware_name_the_path():
    bad = {"pipelines": {"chat": {**PIPELINES["pipelines"]["chat"], "chain": [
        "encode", {"tests.custom_middleware:StampHeader": {"header": "x-team"}},
        "tests.custom_middleware:Nope", "no.such.module:Thing"]}}}
    with pytest.raises(ConfigError) as info:
        build_pipelines(bad, "mine.yaml", Gateway(parse_config({}, "c")))
    problems = info.value.problems
    assert problems[0] == ("mine.yaml: pipelines.chat.chain[1].tests.custom_middleware:StampHeader.value: "
                           "required field missing")
    assert problems[1] == ("mine.yaml: pipelines.chat.chain[2]: module 'tests.custom_middleware' has no attribute 'Nope'")
    assert problems[2].startswith("mine.yaml: pipelines.chat.chain[3]: cannot import 'no.such.module'")
