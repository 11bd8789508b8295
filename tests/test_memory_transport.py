"""The default pipelines (pipelines.yaml, every link of model_call and forward) over a MemoryTransport: whole
chains with no socket anywhere, the client driving the ASGI app in-process and a handler answering upstream."""

from __future__ import annotations

import httpx
import orjson
import pytest

from kernel import registry
from kernel.app import App
from kernel.config import parse_config
from kernel.pipeline import load_pipelines
from kernel.state import Gateway
from kernel.transport import MemoryTransport, UpstreamRequest, UpstreamResponse, respond, transport_of

KEY = "sk-upstream-key-0123456789abcdef"
CONFIG = {
    "model_list": [
        {"model_name": "gpt-x", "litellm_params": {"model": "openai/gpt-x", "api_base": "http://openai.invalid/v1",
                                                   "api_key": KEY}},
    ],
}
CHAT = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello from memory"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}}


def chunk(delta: dict, finish: str | None = None) -> bytes:
    return b"data: " + orjson.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x",
                                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + b"\n\n"


def client_for(handler, **general) -> tuple[httpx.AsyncClient, MemoryTransport]:
    registry.load_plugins()
    gateway = Gateway(parse_config({**CONFIG, "general_settings": general}, "config.yaml"))
    memory = gateway.shared["transport"] = MemoryTransport(handler)  # before the links are built: they all use it
    app = App(gateway, load_pipelines(None, gateway))
    assert transport_of(gateway) is memory
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relaykit"), memory


def answer_chat(req: UpstreamRequest) -> UpstreamResponse:
    body = orjson.loads(req.content)
    if body.get("stream"):
        return respond(chunks=[chunk({"role": "assistant", "content": ""}), chunk({"content": "hel"}),
                               chunk({"content": "lo"}), chunk({}, "stop"), b"data: [DONE]\n\n"])
    return respond(body=CHAT)


async def test_a_chat_call_goes_through_every_link_to_the_memory_upstream_and_back():
    client, memory = client_for(answer_chat)
    async with client:
        r = await client.post("/v1/chat/completions", json={"model": "gpt-x", "metadata": {"a": 1},
                                                            "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "hello from memory"
    assert r.headers["x-relaykit-model-id"] and r.headers["content-type"] == "application/json"
    [req] = memory.requests
    assert (req.method, req.url, req.stream, req.passthrough) == ("POST", "http://openai.invalid/v1/chat/completions",
                                                                  False, False)
    assert req.headers["authorization"] == f"Bearer {KEY}"
    sent = orjson.loads(req.content)
    assert sent["model"] == "gpt-x" and "metadata" not in sent  # the gateway-only field stayed behind


async def test_a_streamed_chat_call_arrives_event_by_event():
    client, memory = client_for(answer_chat)
    async with client:
        r = await client.post("/v1/chat/completions", json={"model": "gpt-x", "stream": True,
                                                            "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in r.text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert "".join(orjson.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1]) == "hello"
    assert memory.requests[0].stream is True


async def test_an_anthropic_client_is_translated_both_ways():
    client, memory = client_for(answer_chat)
    async with client:
        r = await client.post("/v1/messages", json={"model": "gpt-x", "max_tokens": 10,
                                                    "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "message" and r.json()["content"] == [{"type": "text", "text": "hello from memory"}]
    sent = orjson.loads(memory.requests[0].content)
    assert memory.requests[0].url.endswith("/chat/completions") and sent["messages"][-1]["content"] == "hi"


async def test_an_upstream_error_answer_reaches_the_client_typed():
    client, memory = client_for(lambda req: respond(429, {"error": {"message": "slow down", "type": "rate_limit"}},
                                                    headers={"retry-after": "7"}))
    async with client:
        r = await client.post("/v1/chat/completions", json={"model": "gpt-x",
                                                            "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 429
    err = r.json()["error"]
    assert err["type"] == "rate_limit" and "slow down" in err["message"]  # the upstream's own type, kept
    assert len(memory.requests) == 1  # num_retries is 0 by default


@pytest.mark.parametrize("failure", [ConnectionRefusedError("refused by http://openai.invalid/v1"), TimeoutError()])
async def test_a_network_failure_in_the_handler_is_mapped_like_a_real_one(failure):
    def fail(req):
        raise failure

    client, memory = client_for(fail)
    async with client:
        r = await client.post("/v1/chat/completions", json={"model": "gpt-x",
                                                            "messages": [{"role": "user", "content": "hi"}]})
    err = r.json()["error"]
    if isinstance(failure, TimeoutError):
        assert r.status_code == 504 and err["code"] == "upstream_timeout"
    else:
        assert r.status_code == 502 and err["code"] == "upstream_unavailable"
        assert "ConnectionRefusedError" in err["message"]
    assert "gpt-x (openai/gpt-x" in err["message"] and "openai.invalid" not in err["message"]
    assert len(memory.requests) == 1


async def test_an_answer_over_the_size_limit_is_a_502_naming_it():
    client, _memory = client_for(lambda req: respond(body=b"x" * 2000), max_response_size_mb=0.001)
    async with client:
        r = await client.post("/v1/chat/completions", json={"model": "gpt-x",
                                                            "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_response_too_large"
    assert "max_response_size_mb" in r.json()["error"]["message"]


async def test_a_forwarded_call_is_a_pass_through_request_and_its_error_is_scrubbed():
    def files(req: UpstreamRequest) -> UpstreamResponse:
        if req.method == "GET":
            return respond(body=b"file bytes", headers={"content-type": "application/octet-stream"})
        return respond(401, {"error": {"message": f"Incorrect API key provided: {KEY}"}})

    client, memory = client_for(files)
    async with client:
        got = await client.get("/v1/files/file-1/content")
        refused = await client.post("/v1/files", json={"model": "gpt-x", "purpose": "batch"})
    assert got.status_code == 200 and got.content == b"file bytes"
    assert got.headers["content-type"] == "application/octet-stream"
    first, second = memory.requests
    assert (first.method, first.url, first.stream, first.passthrough) == (
        "GET", "http://openai.invalid/v1/files/file-1/content", True, True)
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert refused.status_code == 401 and KEY not in refused.text and "Incorrect API key" in refused.text
    assert second.method == "POST" and second.url == "http://openai.invalid/v1/files"


async def test_a_forwarded_download_that_breaks_off_breaks_the_clients_connection_too():
    """Not ended as if whole: the relay raises a non-gateway error, so the server drops the connection."""
    from kernel.transport.relay import RelayBroken

    async def cut():
        yield b"first half, "
        raise ConnectionResetError("upstream went away")

    client, _memory = client_for(lambda req: UpstreamResponse(200, [(b"content-type", b"application/octet-stream")],
                                                             stream=cut()))
    async with client:
        with pytest.raises(RelayBroken) as info:
            await client.get("/v1/files/file-1/content")
    assert "broke off its stream: ConnectionResetError" in str(info.value)
    assert "openai.invalid" not in str(info.value)
