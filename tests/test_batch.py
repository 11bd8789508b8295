"""Batch completions (the seed's "pass multiple models"): a list in order, failing members in their slots,
fastest_response."""

from __future__ import annotations

import httpx
import orjson
import pytest

from dialects import openai as openai_dialect
from kernel.call import Failed, Reply
from kernel.errors import UpstreamUnavailable
from tests.fakes.chain import make_call, make_gateway
from tests.routing_helpers import MESSAGES, chat, dep, sdk


def config(url: str) -> dict:
    return {"model_list": [dep("gpt-3.5-turbo", "gpt-3.5-turbo-0125", url), dep("llama3", "llama3-8b", url),
                           dep("broken", "fail-500", url), dep("slow", "slow-10", url)]}


def test_list_in_the_order_given(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url))
    # The seed's curl example, verbatim apart from the address.
    resp = httpx.post(gw.url + "/chat/completions", headers={"Authorization": "Bearer sk-1234"}, json={
        "model": "llama3,gpt-3.5-turbo", "max_tokens": 10, "user": "litellm2",
        "messages": [{"role": "user", "content": "is litellm getting better"}]})
    assert resp.status_code == 200
    items = resp.json()
    assert [i["model"] for i in items] == ["llama3-8b", "gpt-3.5-turbo-0125"]
    assert all(i["object"] == "chat.completion" for i in items)
    assert {r["body"]["model"] for r in fake_openai.requests} == {"llama3-8b", "gpt-3.5-turbo-0125"}


def test_openai_sdk_gets_the_list(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url))
    response = sdk(gw).chat.completions.create(model="gpt-3.5-turbo,llama3", messages=[
        {"role": "user", "content": "this is a test request, write a short poem"}])
    assert isinstance(response, list) and len(response) == 2  # a list of ChatCompletion, as the seed prints
    assert response[0].model == "gpt-3.5-turbo-0125"
    assert response[1].choices[0].message.content == "echo: this is a test request, write a short poem"


def test_failing_member_is_an_error_in_its_slot(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url))
    resp = chat(gw, "llama3, broken ,nonexistent")
    assert resp.status_code == 200
    first, second, third = resp.json()
    assert first["object"] == "chat.completion"
    assert second["model"] == "broken" and second["error"]["code"] == "upstream_unavailable"
    assert third["model"] == "nonexistent" and third["error"]["code"] == "model_not_found"


def test_stream_needs_fastest_response(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url))
    resp = chat(gw, "llama3,gpt-3.5-turbo", stream=True)
    assert resp.status_code == 400
    assert "fastest_response" in resp.json()["error"]["message"]
    assert fake_openai.requests == []


def test_fastest_response_returns_first_success(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url))
    # The slow member answers after 10 s; the 5 s client timeout proves the gateway did not wait for it.
    resp = httpx.post(gw.url + "/v1/chat/completions", timeout=5, json={
        "model": "slow,broken,llama3", "messages": MESSAGES, "fastest_response": True})
    assert resp.status_code == 200
    assert resp.json()["model"] == "llama3-8b"
    assert resp.headers["x-relaykit-fastest-response-model"] == "llama3"


def test_fastest_response_streams(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url))
    stream = sdk(gw).chat.completions.create(model="slow,gpt-3.5-turbo", messages=MESSAGES, stream=True,
                                             extra_body={"fastest_response": True})
    chunks = list(stream)
    assert chunks[0].model == "gpt-3.5-turbo-0125"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hi"


def test_fastest_response_all_failing_is_an_error(fake_openai, start_gateway):
    gw = start_gateway(config(fake_openai.url))
    resp = chat(gw, "broken,nonexistent", fastest_response=True)
    assert resp.status_code in (400, 500)
    assert "error" in resp.json()


def test_the_dialect_renders_a_failed_member_in_its_slot():
    """Batch hands its failures to encode as `Failed` items; the OpenAI dialect renders each as an error envelope
    naming the member's model, scrubbed of secrets, and leaves the answers around it as they are."""
    gw = make_gateway()
    member = make_call(gw)
    member.model = "broken"
    err = UpstreamUnavailable("deployment said: bad key sk-abcdefghijklmnop1234", deployment="d", status=503)
    reply = openai_dialect.encode(make_call(gw), Reply(body=[{"object": "chat.completion"}, Failed(member, err)]))
    assert orjson.loads(reply.raw) == [
        {"object": "chat.completion"},
        {"error": {"message": "deployment said: bad key sk-...1234", "type": err.type, "param": None,
                   "code": "upstream_unavailable"}, "model": "broken"}]
    with pytest.raises(TypeError):  # nothing else unknown slips through as something else
        openai_dialect.encode(make_call(gw), Reply(body=[object()]))
