"""Large upstream answers complete (issue 9, item 2): 0.3 to 100 MB, whole or streamed, in any segmentation,
through the real gateway, well within the deployment's timeout; past general_settings.max_response_size_mb, a 502.

Before the fix, http1.py paused the socket at 256 KiB and nothing resumed it for a whole-body read: every answer
over that waited for the deployment timeout and came back 504. The timeout here is 30 s, so a regression fails
in 30 s, not 600; every answer must also come well inside it.
"""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from tests.fakes.fault_upstream import FaultUpstream, embedding_count, embeddings, text, vector
from tests.servers import gateway

TIMEOUT = 30  # the deployments' timeout: the bound a stalled answer would hit
BOUND = 20  # seconds any answer here must finish in (loopback; 100 MB takes a few)
SIZES = [300_000, 1_000_000, 2_000_000, 10_000_000, 100_000_000]


def config(fault: FaultUpstream, **general) -> dict:
    params = {"timeout": TIMEOUT, "stream_timeout": TIMEOUT, "api_key": "sk-fault"}
    return {"model_list": [
        {"model_name": "fault/*", "litellm_params": {"model": "openai/*", "api_base": fault.url + "/v1", **params}},
        {"model_name": "anth/*", "litellm_params": {"model": "anthropic/*", "api_base": fault.url, **params}},
    ], "general_settings": general}


@pytest.fixture(scope="module")
def fault():
    with FaultUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def gw(fault, tmp_path_factory):
    with gateway(config(fault), tmp_path_factory.mktemp("large")) as server:
        yield server


@pytest.fixture(scope="module")
def capped(fault, tmp_path_factory):
    """A gateway whose non-streamed answers may be at most 1 MiB."""
    with gateway(config(fault, max_response_size_mb=1), tmp_path_factory.mktemp("capped")) as server:
        yield server


@pytest.fixture
def http():
    with httpx.Client(timeout=TIMEOUT + 10) as client:
        yield client


def chat(http: httpx.Client, gw, model: str, **kw) -> httpx.Response:
    return http.post(gw.url + "/v1/chat/completions",
                     json={"model": model, "messages": [{"role": "user", "content": "much"}], **kw})


def stream_events(http: httpx.Client, url: str, body: dict) -> tuple[int, list[bytes]]:
    """POST a streamed request; the status and every SSE `data:` payload, in order."""
    with http.stream("POST", url, json=body) as r:
        raw = r.read()
    return r.status_code, [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]


def streamed_text(payloads: list[bytes]) -> str:
    parts = []
    for p in payloads[:-1]:
        for choice in orjson.loads(p)["choices"]:
            parts.append(choice["delta"].get("content") or "")
    return "".join(parts)


@pytest.mark.parametrize("size", SIZES)
def test_a_large_chat_answer_arrives_whole(gw, http, size):
    t0 = time.monotonic()
    r = chat(http, gw, f"fault/chat-{size}")
    elapsed = time.monotonic() - t0
    assert r.status_code == 200, r.text[:300]
    body = orjson.loads(r.content)
    content = body["choices"][0]["message"]["content"]
    assert len(content) == size and content == text(size)
    assert body["usage"]["total_tokens"] == 12
    assert int(r.headers["content-length"]) == len(r.content)
    assert elapsed < BOUND


@pytest.mark.parametrize("size", SIZES)
def test_a_large_chat_stream_arrives_whole(gw, http, size):
    t0 = time.monotonic()
    status, payloads = stream_events(http, gw.url + "/v1/chat/completions", {
        "model": f"fault/chat-{size}", "stream": True, "messages": [{"role": "user", "content": "much"}]})
    assert status == 200
    assert payloads[-1] == b"[DONE]"
    got = streamed_text(payloads)
    assert len(got) == size and got == text(size)
    assert time.monotonic() - t0 < BOUND


@pytest.mark.parametrize("size", SIZES)
def test_a_large_embeddings_answer_is_relayed_byte_for_byte(gw, http, size):
    t0 = time.monotonic()
    r = http.post(gw.url + "/v1/embeddings", json={"model": f"fault/embed-{size}", "input": ["a", "b"]})
    elapsed = time.monotonic() - t0
    assert r.status_code == 200, r.text[:300]
    assert r.content == embeddings(size, f"embed-{size}")  # the upstream's exact bytes, nothing lost or added
    data = orjson.loads(r.content)["data"]
    assert len(data) == embedding_count(size) and len(data) * len(vector()) * 8 > size // 4
    assert [d["index"] for d in data[:3]] == [0, 1, 2] and data[-1]["embedding"] == vector()
    assert elapsed < BOUND


@pytest.mark.parametrize("model", ["fault/chat-400000+trickle", "fault/chat-400000+trickle+chunked"])
def test_an_answer_in_hundreds_of_small_segments_arrives_whole(gw, http, fault, model):
    t0 = time.monotonic()
    r = chat(http, gw, model)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["choices"][0]["message"]["content"] == text(400_000)
    assert time.monotonic() - t0 < BOUND


def test_a_stream_in_hundreds_of_small_segments_arrives_whole(gw, http):
    status, payloads = stream_events(http, gw.url + "/v1/chat/completions", {
        "model": "fault/chat-400000+trickle", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    assert status == 200 and payloads[-1] == b"[DONE]"
    assert streamed_text(payloads) == text(400_000)


def test_embeddings_in_small_chunked_segments_arrive_byte_for_byte(gw, http):
    r = http.post(gw.url + "/v1/embeddings", json={"model": "fault/embed-400000+trickle+chunked", "input": "a"})
    assert r.status_code == 200
    assert r.content == embeddings(400_000, "embed-400000+trickle+chunked")


def test_a_compressed_answer_is_decompressed(gw, http):
    r = chat(http, gw, "fault/chat-2000000+gzip")
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == text(2_000_000)


@pytest.mark.parametrize("size", [300_000, 10_000_000])
def test_a_large_anthropic_message_arrives_whole_natively_and_translated(gw, http, size):
    body = {"model": f"anth/chat-{size}", "max_tokens": 10, "messages": [{"role": "user", "content": "much"}]}
    r = http.post(gw.url + "/v1/messages", json=body)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["content"][0]["text"] == text(size)
    r = chat(http, gw, f"anth/chat-{size}")  # an OpenAI client: the Anthropic answer translated
    assert r.status_code == 200, r.text[:300]
    assert r.json()["choices"][0]["message"]["content"] == text(size)


@pytest.mark.parametrize("size", [300_000, 10_000_000])
def test_a_large_anthropic_stream_arrives_whole(gw, http, size):
    status, payloads = stream_events(http, gw.url + "/v1/messages", {
        "model": f"anth/chat-{size}", "max_tokens": 10, "stream": True,
        "messages": [{"role": "user", "content": "much"}]})
    assert status == 200
    events = [orjson.loads(p) for p in payloads]
    assert events[-1] == {"type": "message_stop"}
    got = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert got == text(size)


def test_a_large_answer_on_the_httpx_path_arrives_whole(gw, http):
    """Multipart uploads go through httpx (kernel/transport/httpx_transport.py), not http1.py: the same sizes work there."""
    r = http.post(gw.url + "/v1/audio/transcriptions", data={"model": "fault/chat-10000000"},
                  files={"file": ("a.wav", b"RIFF" + b"\0" * 1000, "audio/wav")})
    assert r.status_code == 200, r.text[:300]
    assert r.json() == {"text": text(10_000_000)}


def check_too_large(r: httpx.Response, fault: FaultUpstream) -> dict:
    assert r.status_code == 502
    err = r.json()["error"]
    assert err["code"] == "upstream_response_too_large" and err["type"] == "api_error"
    assert "fault/*" in err["message"] and "1 MiB" in err["message"] and "max_response_size_mb" in err["message"]
    assert "sk-fault" not in r.text and fault.url not in r.text
    return err


def test_an_answer_over_the_limit_is_a_502_naming_it_and_its_connection_is_closed(capped, http, fault):
    fault.clear()
    t0 = time.monotonic()
    check_too_large(chat(http, capped, "fault/chat-2000000"), fault)
    assert time.monotonic() - t0 < 5  # at the limit, not at the deadline
    first = fault.requests[-1]["connection"]
    deadline = time.monotonic() + 5
    while first not in fault.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first in fault.closed  # the rest of the answer is not read: the connection is dropped
    r = chat(http, capped, "fault/chat-1000")  # the limit spoils nothing for the next call
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == text(1000)
    assert fault.requests[-1]["connection"] != first
    assert [q["body"]["model"] for q in fault.requests] == ["chat-2000000", "chat-1000"]  # not retried


def test_the_limit_counts_decompressed_bytes(capped, http, fault):
    """2 MB of text gzips to a few kilobytes: the limit applies to what it expands to."""
    check_too_large(chat(http, capped, "fault/chat-2000000+gzip"), fault)


def test_the_limit_holds_on_the_httpx_path(capped, http, fault):
    r = http.post(capped.url + "/v1/audio/transcriptions", data={"model": "fault/chat-2000000"},
                  files={"file": ("a.wav", b"RIFF", "audio/wav")})
    check_too_large(r, fault)


def test_an_anthropic_client_gets_the_limit_in_its_own_envelope(capped, http):
    r = http.post(capped.url + "/v1/messages", json={"model": "anth/chat-2000000", "max_tokens": 10,
                                                     "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 502
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "api_error"
    assert "1 MiB" in body["error"]["message"] and "anth/*" in body["error"]["message"]


def test_streams_are_not_capped(capped, http):
    """A stream is relayed as it arrives (at most about 256 KiB buffered): the whole-answer limit does not apply."""
    status, payloads = stream_events(http, capped.url + "/v1/chat/completions", {
        "model": "fault/chat-2000000", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    assert status == 200 and streamed_text(payloads) == text(2_000_000)
