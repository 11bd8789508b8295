"""Every failure reaches an OpenAI client as an honest status in OpenAI's error envelope; nothing leaks."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.servers import free_port

SECRET = "sk-upstream-very-secret"


@pytest.fixture
def gw(fake_openai, start_gateway):
    base = fake_openai.url + "/v1"
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens here: connection refused
    models = [
        ("gpt-4o", "openai/gpt-4o", base, None),
        ("limited", "openai/fail-429", base, None),
        ("broken", "openai/fail-500", base, None),
        ("picky", "openai/fail-400", base, None),
        ("small", "openai/context-too-long", base, None),
        ("slow", "openai/slow-5", base, 0.3),
        ("dead", "openai/gpt-4o", dead, None),
        ("cut", "openai/stream-break", base, None),
    ]
    return start_gateway({
        "model_list": [{"model_name": name, "litellm_params": {"model": model, "api_base": api_base,
                                                               "api_key": SECRET, **({"timeout": t} if t else {})}}
                       for name, model, api_base, t in models],
        "general_settings": {"max_request_size_mb": 0.01},
    })


@pytest.fixture
def client(gw):
    return openai.OpenAI(api_key="x", base_url=gw.url + "/v1", max_retries=0, timeout=10)


def chat(client, model, content="hi", **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], **kw)


def check_envelope(err: openai.APIStatusError, status: int) -> dict:
    assert err.status_code == status
    body = err.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert SECRET not in err.response.text
    assert "127.0.0.1" not in body["error"]["message"]  # never the upstream URL
    return body["error"]


@pytest.mark.parametrize(("model", "status", "cls", "code"), [
    ("limited", 429, openai.RateLimitError, "rate_limit_exceeded"),
    ("broken", 500, openai.InternalServerError, None),
    ("picky", 400, openai.BadRequestError, "invalid_value"),
    ("small", 400, openai.BadRequestError, "context_length_exceeded"),
    ("dead", 502, openai.InternalServerError, "upstream_unavailable"),
    ("slow", 504, openai.InternalServerError, "upstream_timeout"),
])
def test_upstream_failures_keep_an_honest_status(client, model, status, cls, code):
    with pytest.raises(cls) as info:
        chat(client, model)
    error = check_envelope(info.value, status)
    assert f"deployment {model} (" in error["message"]  # names the deployment that failed
    if code:
        assert error["code"] == code


def test_upstream_429_passes_retry_after_semantics(client):
    with pytest.raises(openai.RateLimitError) as info:
        chat(client, "limited")
    assert "Rate limit reached" in info.value.message


def test_unknown_model_names_it_and_points_at_models(client, fake_openai):
    with pytest.raises(openai.BadRequestError) as info:
        chat(client, "gpt-5-nonexistent")
    error = check_envelope(info.value, 400)
    assert "'gpt-5-nonexistent'" in error["message"] and "/v1/models" in error["message"]
    assert error["param"] == "model"
    assert fake_openai.requests == []


@pytest.mark.parametrize(("content", "message"), [
    (b"{oops", "request body is not valid JSON"),
    (b'{"model": "gpt-4o"}', "missing required field 'messages'"),
    (b'{"messages": [{"role": "user", "content": "x"}]}', "missing required field 'model'"),
])
def test_bad_requests_get_400_and_nothing_is_forwarded(gw, fake_openai, content, message):
    reply = httpx.post(gw.url + "/v1/chat/completions", content=content, headers={"content-type": "application/json"})
    assert reply.status_code == 400
    assert message in reply.json()["error"]["message"]
    assert fake_openai.requests == []


def test_body_over_the_limit_is_413(gw, fake_openai):
    big = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "' + b"x" * 20_000 + b'"}]}'
    reply = httpx.post(gw.url + "/v1/chat/completions", content=big)
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "request_too_large"

    def chunked():
        yield big[:5000]
        yield big[5000:]

    reply = httpx.post(gw.url + "/v1/chat/completions", content=chunked())  # no content-length: counted as it arrives
    assert reply.status_code == 413
    assert fake_openai.requests == []


def test_unknown_path_and_wrong_method(gw):
    reply = httpx.post(gw.url + "/v1/nothing-here", json={})
    assert reply.status_code == 404
    assert reply.json()["error"]["type"] == "not_found_error"
    reply = httpx.get(gw.url + "/v1/chat/completions")
    assert reply.status_code == 405


def test_error_after_stream_started_is_sent_in_band(client):
    stream = chat(client, "cut", "one two three four", stream=True)  # the fake breaks off at the third word
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk)
    assert received, "some chunks arrive before the break"
    assert "broke off its stream" in str(info.value)
    assert SECRET not in str(info.value)


def test_stream_failing_before_first_byte_is_an_ordinary_error(client):
    with pytest.raises(openai.RateLimitError):
        chat(client, "limited", stream=True)


def test_errors_before_a_pipeline_is_chosen_use_the_nearest_dialect(gw):
    reply = httpx.post(gw.url + "/v1/messages/nonsense", json={})
    assert reply.status_code == 404
    assert reply.json()["type"] == "error" and reply.json()["error"]["type"] == "not_found_error"  # Anthropic's
    reply = httpx.get(gw.url + "/v1/messages")
    assert reply.status_code == 405 and reply.json()["type"] == "error"
    reply = httpx.get(gw.url + "/v1/chat/completions/extra")
    assert reply.status_code == 404 and "error" in reply.json() and "type" not in reply.json()  # OpenAI's
