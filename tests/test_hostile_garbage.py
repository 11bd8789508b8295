"""A 200 that is no answer is a 502 naming the deployment, never a success (issue 9, item 6).

The fault upstream says HTTP 200 and sends garbage, an HTML page, nothing, `[1,2,3]`, `{}`, `{"choices": "x"}`
or half an answer; or a text/event-stream that is no event stream, or one that starts well and then breaks.
Four ways through the gateway: OpenAI client → OpenAI deployment and Anthropic client → Anthropic deployment
(the fast paths, where the upstream's bytes would go to the client as they are), and each client to the other
provider (translated). A stream that breaks before its first event is an ordinary 502 (nothing was sent yet, so
the router could still retry or fall back); one that breaks later ends with an in-band error event, never
with `[DONE]` or `message_stop`.
"""

from __future__ import annotations

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.fakes.fault_upstream import FaultUpstream, text
from tests.servers import gateway

KEY = "sk-fault-secret-1234"
BAD = ["garbage", "html", "empty", "list", "object", "choices-str", "truncated"]
BAD_STREAMS = ["sse-garbage", "sse-html"]
BROKEN_LATER = ["sse-valid-then-garbage", "sse-valid-then-badjson"]
# (client, deployment prefix): the path the client posts to and the name of the deployment that answers.
ROUTES = [("openai", "fault"), ("openai", "anth"), ("anthropic", "anth"), ("anthropic", "fault")]


def config(fault: FaultUpstream, **router) -> dict:
    params = {"timeout": 30, "api_key": KEY}
    return {"model_list": [
        {"model_name": "fault/*", "litellm_params": {"model": "openai/*", "api_base": fault.url + "/v1", **params}},
        {"model_name": "anth/*", "litellm_params": {"model": "anthropic/*", "api_base": fault.url, **params}},
        {"model_name": "good", "litellm_params": {"model": "openai/chat-20", "api_base": fault.url + "/v1", **params}},
    ], "router_settings": router}


@pytest.fixture(scope="module")
def fault():
    with FaultUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def gw(fault, tmp_path_factory):
    # Every test here fails the same few upstream models on purpose: no cooldown, so each sees its own answer.
    with gateway(config(fault, allowed_fails=100_000), tmp_path_factory.mktemp("garbage")) as server:
        yield server


@pytest.fixture
def http():
    with httpx.Client(timeout=30) as client:
        yield client


def post(http: httpx.Client, gw, client: str, model: str, *, stream: bool = False) -> httpx.Response:
    messages = [{"role": "user", "content": "hi"}]
    if client == "openai":
        return http.post(gw.url + "/v1/chat/completions", json={"model": model, "messages": messages, "stream": stream})
    return http.post(gw.url + "/v1/messages", json={"model": model, "max_tokens": 10, "messages": messages,
                                                    "stream": stream})


def check_502(r: httpx.Response, client: str, prefix: str) -> str:
    """The client's own error envelope, status 502, naming the deployment; returns the message."""
    assert r.status_code == 502, r.text[:300]
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    if client == "openai":
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert body["error"]["code"] == "invalid_upstream_response" and body["error"]["type"] == "api_error"
        message = body["error"]["message"]
    else:
        assert body["type"] == "error" and body["error"]["type"] == "api_error"
        message = body["error"]["message"]
    assert f"deployment {prefix}/*" in message
    assert KEY not in r.text and "127.0.0.1" not in r.text
    return message


def sse(raw: bytes) -> list[tuple[str | None, bytes]]:
    """(event name, data) of each event in a response body."""
    out = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        name, data = None, []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].strip())
        if data:
            out.append((name, b"\n".join(data)))
    return out


@pytest.mark.parametrize(("client", "prefix"), ROUTES)
@pytest.mark.parametrize("cue", BAD)
def test_a_200_that_is_no_answer_is_a_502_naming_the_deployment(gw, http, fault, client, prefix, cue):
    fault.clear()
    r = post(http, gw, client, f"{prefix}/{cue}")
    message = check_502(r, client, prefix)
    assert cue in message  # the deployment's label carries the upstream model asked for
    assert [q["body"]["model"] for q in fault.requests] == [cue]  # it did reach the upstream, once


@pytest.mark.parametrize(("client", "prefix"), ROUTES)
def test_a_valid_answer_on_each_route_still_passes(gw, http, client, prefix):
    r = post(http, gw, client, f"{prefix}/chat-50")
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    got = body["choices"][0]["message"]["content"] if client == "openai" else body["content"][0]["text"]
    assert got == text(50)


@pytest.mark.parametrize(("client", "prefix"), ROUTES)
@pytest.mark.parametrize("cue", BAD_STREAMS)
def test_a_stream_that_is_no_event_stream_is_a_502_before_any_byte(gw, http, client, prefix, cue):
    check_502(post(http, gw, client, f"{prefix}/{cue}", stream=True), client, prefix)


@pytest.mark.parametrize(("client", "prefix"), ROUTES)
@pytest.mark.parametrize("cue", BROKEN_LATER)
def test_a_stream_that_breaks_later_ends_with_an_in_band_error_and_no_end_marker(gw, http, client, prefix, cue):
    r = post(http, gw, client, f"{prefix}/{cue}", stream=True)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse(r.content)
    assert len(events) >= 2  # the valid start was relayed
    name, data = events[-1]
    last = orjson.loads(data)
    if client == "openai":
        assert name is None and last["error"]["code"] == "invalid_upstream_response"
        assert all(d != b"[DONE]" for _, d in events)
    else:
        assert name == "error" and last["type"] == "error" and last["error"]["type"] == "api_error"
        assert all(n != "message_stop" for n, _ in events)
    assert f"deployment {prefix}/*" in r.text
    assert b"garbage in the middle" not in r.content and b"not json at all" not in r.content
    assert KEY not in r.text


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/embeddings", {"model": "fault/object", "input": "x"}),
    ("/v1/embeddings", {"model": "fault/choices-str", "input": "x"}),  # a chat-ish shape is no embedding list
    ("/v1/completions", {"model": "fault/list", "prompt": "x"}),
    ("/v1/moderations", {"model": "fault/object", "input": "x"}),
    ("/v1/images/generations", {"model": "fault/html", "prompt": "x"}),
])
def test_every_json_endpoint_checks_its_own_shape(gw, http, path, body):
    check_502(http.post(gw.url + path, json=body), "openai", "fault")


@pytest.mark.parametrize(("client", "prefix"), [("openai", "fault"), ("anthropic", "anth")])
@pytest.mark.parametrize("cue", ["bightml-3000000", "bigobject-3000000"])
def test_a_big_body_that_is_no_answer_fails_the_lighter_check_too(gw, http, client, prefix, cue):
    """Past 2 MiB the fast path checks an object's braces and the endpoint's key instead of parsing all of it."""
    check_502(post(http, gw, client, f"{prefix}/{cue}"), client, prefix)


def test_an_embedding_list_passes_on_the_embeddings_path(gw, http):
    r = http.post(gw.url + "/v1/embeddings", json={"model": "fault/embed-20000", "input": "x"})
    assert r.status_code == 200 and len(r.json()["data"]) >= 1


def test_count_tokens_checks_for_input_tokens(gw, http):
    r = http.post(gw.url + "/v1/messages/count_tokens", json={"model": "anth/object",
                                                              "messages": [{"role": "user", "content": "x"}]})
    check_502(r, "anthropic", "anth")


def test_the_openai_sdk_raises_on_both(gw):
    client = openai.OpenAI(api_key="x", base_url=gw.url + "/v1", max_retries=0, timeout=30)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="fault/html", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 502 and "fault/*" in info.value.message
    stream = client.chat.completions.create(model="fault/sse-valid-then-garbage", stream=True,
                                            messages=[{"role": "user", "content": "hi"}])
    seen = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            seen.append(chunk)
    assert seen and "fault/*" in info.value.message and "not server-sent events" in info.value.message


def test_the_anthropic_sdk_raises_on_both(gw):
    client = anthropic.Anthropic(api_key="x", base_url=gw.url, max_retries=0, timeout=30)
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model="anth/list", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 502 and "anth/*" in info.value.message
    # The SDK raises an in-band `event: error` as a status error.
    with pytest.raises(anthropic.APIStatusError) as info, client.messages.stream(
            model="anth/sse-valid-then-badjson", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as stream:
        for _ in stream:
            pass
    assert "anth/*" in str(info.value)


@pytest.fixture
def falls_back(fault, tmp_path):
    cfg = config(fault, fallbacks=[{"fault/html": ["good"]}, {"fault/sse-html": ["good"]}])
    with gateway(cfg, tmp_path) as server:
        yield server


@pytest.mark.parametrize("stream", [False, True])
def test_an_invalid_answer_is_the_deployments_failure_and_falls_back(falls_back, http, fault, stream):
    fault.clear()
    r = post(http, falls_back, "openai", "fault/sse-html" if stream else "fault/html", stream=stream)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["x-relaykit-attempted-fallbacks"] == "1"
    if stream:
        events = sse(r.content)
        assert events[-1][1] == b"[DONE]"
        assert "".join(orjson.loads(d)["choices"][0]["delta"].get("content") or "" for _, d in events[:-1]) == text(20)
    else:
        assert r.json()["choices"][0]["message"]["content"] == text(20)
    assert [q["body"]["model"] for q in fault.requests] == ["sse-html" if stream else "html", "chat-20"]


def test_invalid_answers_cool_the_deployment_down(fault, tmp_path, http):
    """Three invalid answers within the minute (allowed_fails) and the deployment rests, like after three 5xx."""
    with gateway(config(fault, allowed_fails=3, cooldown_time=60), tmp_path) as gw:
        fault.clear()
        for _ in range(4):
            assert post(http, gw, "openai", "fault/garbage").status_code == 502
        r = post(http, gw, "openai", "fault/garbage")
        assert r.status_code == 429 and r.json()["error"]["code"] == "no_deployments_available"
        assert len(fault.requests) <= 4
