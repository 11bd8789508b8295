"""End-to-end: an upstream's rate-limit headers reach the client, plain and streamed, and nothing else of its headers.

OpenAI's x-ratelimit-* and Anthropic's anthropic-ratelimit-* come back under their own names and with LiteLLM's
`llm_provider-` prefix; an OpenAI client sees Anthropic's under OpenAI's names. With a virtual key that has its
own limits, the plain x-ratelimit-* are the key's and the provider's keep only the prefix. Real SDKs, fake
upstreams that send the headers (and a cookie and server internals that must not pass).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anthropic
import httpx
import openai
import pytest

MASTER = "sk-upstream-limits-7Qm2xV9cK4"
HI = [{"role": "user", "content": "hi"}]
OPENAI_LIMITS = {"x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999",
                 "x-ratelimit-reset-requests": "6ms", "x-ratelimit-limit-tokens": "2000000",
                 "x-ratelimit-remaining-tokens": "1999990", "x-ratelimit-reset-tokens": "1s"}
NOT_PASSED = {"set-cookie": "__cf_bm=secret; path=/", "openai-organization": "org-internal",
              "x-envoy-upstream-service-time": "42", "cf-ray": "8a1b2c3d"}


def anthropic_limits() -> dict:
    reset = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "49",
            "anthropic-ratelimit-requests-reset": reset, "anthropic-ratelimit-tokens-limit": "40000",
            "anthropic-ratelimit-tokens-remaining": "39000", "anthropic-ratelimit-tokens-reset": reset,
            "anthropic-ratelimit-input-tokens-limit": "30000", "anthropic-ratelimit-input-tokens-remaining": "29500",
            "anthropic-ratelimit-output-tokens-limit": "10000", "anthropic-ratelimit-output-tokens-remaining": "9500"}


@pytest.fixture
def gw(fake_openai, fake_anthropic, start_gateway):
    return start_gateway({"model_list": [
        {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o", "api_base": fake_openai.url + "/v1",
                                                 "api_key": "sk-oa-up"}},
        {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-sonnet-4-5",
                                                    "api_base": fake_anthropic.url, "api_key": "sk-ant-up"}},
    ], "general_settings": {"master_key": MASTER}})


def openai_headers(gw, model: str, stream: bool, key: str = MASTER) -> httpx.Headers:
    client = openai.OpenAI(api_key=key, base_url=gw.url + "/v1", max_retries=0)
    if stream:
        with client.chat.completions.with_streaming_response.create(model=model, messages=HI, stream=True) as resp:
            assert "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
            return resp.headers
    raw = client.chat.completions.with_raw_response.create(model=model, messages=HI)
    assert raw.parse().choices[0].message.content
    return raw.headers


def anthropic_headers(gw, model: str, stream: bool, key: str = MASTER) -> httpx.Headers:
    client = anthropic.Anthropic(api_key=key, base_url=gw.url, max_retries=0)
    if stream:
        with client.messages.with_streaming_response.create(model=model, max_tokens=64, messages=HI,
                                                            stream=True) as resp:
            assert b"message_stop" in resp.read()
            return resp.headers
    raw = client.messages.with_raw_response.create(model=model, max_tokens=64, messages=HI)
    assert raw.parse().content
    return raw.headers


def assert_nothing_else(headers: httpx.Headers) -> None:
    for name in NOT_PASSED:
        assert name not in headers and "llm_provider-" + name not in headers


STREAM = pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])


@STREAM
def test_openai_upstream_to_openai_client(gw, fake_openai, stream):
    fake_openai.extra_headers.update({**OPENAI_LIMITS, **NOT_PASSED})
    headers = openai_headers(gw, "gpt", stream)
    for name, value in OPENAI_LIMITS.items():
        assert headers[name] == value
        assert headers["llm_provider-" + name] == value
    assert_nothing_else(headers)


@STREAM
def test_anthropic_upstream_to_openai_client_gets_openai_names(gw, fake_anthropic, stream):
    fake_anthropic.extra_headers.update({**anthropic_limits(), **NOT_PASSED})
    headers = openai_headers(gw, "claude", stream)
    assert headers["x-ratelimit-limit-requests"] == "50" and headers["x-ratelimit-remaining-requests"] == "49"
    assert headers["x-ratelimit-limit-tokens"] == "40000" and headers["x-ratelimit-remaining-tokens"] == "39000"
    # Anthropic's reset time, 30 s ahead, as OpenAI's wait (a few seconds may pass on the way)
    wait = headers["x-ratelimit-reset-requests"]
    assert wait.endswith("s") and 20 <= int(wait.removesuffix("s")) <= 31
    assert headers["llm_provider-anthropic-ratelimit-input-tokens-remaining"] == "29500"
    assert headers["llm_provider-anthropic-ratelimit-requests-limit"] == "50"
    assert "anthropic-ratelimit-requests-limit" not in headers  # OpenAI's names for an OpenAI client
    assert_nothing_else(headers)


@STREAM
def test_anthropic_upstream_to_anthropic_client_as_they_are(gw, fake_anthropic, stream):
    limits = anthropic_limits()
    fake_anthropic.extra_headers.update({**limits, **NOT_PASSED})
    headers = anthropic_headers(gw, "claude", stream)
    for name, value in limits.items():
        assert headers[name] == value
        assert headers["llm_provider-" + name] == value
    assert "x-ratelimit-limit-requests" not in headers
    assert_nothing_else(headers)


@STREAM
def test_openai_upstream_to_anthropic_client(gw, fake_openai, stream):
    fake_openai.extra_headers.update({**OPENAI_LIMITS, **NOT_PASSED})
    headers = anthropic_headers(gw, "gpt", stream)
    for name, value in OPENAI_LIMITS.items():
        assert headers[name] == value and headers["llm_provider-" + name] == value
    assert_nothing_else(headers)


@STREAM
@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_a_limited_key_keeps_the_plain_names(gw, fake_openai, fake_anthropic, stream, model):
    fake_openai.extra_headers.update(OPENAI_LIMITS)
    fake_anthropic.extra_headers.update(anthropic_limits())
    made = httpx.post(gw.url + "/key/generate", headers={"authorization": f"Bearer {MASTER}"},
                      json={"rpm_limit": 7, "tpm_limit": 5000}, timeout=30)
    assert made.status_code == 200, made.text
    headers = openai_headers(gw, model, stream, key=made.json()["key"])
    assert headers["x-ratelimit-limit-requests"] == "7" and headers["x-ratelimit-remaining-requests"] == "6"
    assert headers["x-ratelimit-limit-tokens"] == "5000"
    if model == "gpt":
        assert headers["llm_provider-x-ratelimit-limit-requests"] == "10000"
        assert headers["llm_provider-x-ratelimit-remaining-tokens"] == "1999990"
    else:
        assert headers["llm_provider-anthropic-ratelimit-requests-limit"] == "50"
    assert len(headers.get_list("x-ratelimit-limit-requests")) == 1


def test_a_key_without_limits_sees_the_providers(gw, fake_openai):
    fake_openai.extra_headers.update(OPENAI_LIMITS)
    made = httpx.post(gw.url + "/key/generate", headers={"authorization": f"Bearer {MASTER}"}, json={}, timeout=30)
    headers = openai_headers(gw, "gpt", False, key=made.json()["key"])
    assert headers["x-ratelimit-limit-requests"] == "10000"


def test_no_headers_when_the_upstream_sends_none(gw, fake_openai):
    headers = openai_headers(gw, "gpt", False)
    assert not [k for k in headers if "ratelimit" in k]
