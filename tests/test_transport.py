"""The transports against real sockets: every failure reaches the error tree from kernel/transport/errors.py, named
by the deployment's label (never its URL or key), the same from the fast client and from httpx; the pool's cap."""

from __future__ import annotations

import asyncio
import gzip

import pytest

from kernel.errors import UpstreamResponseTooLarge, UpstreamTimeout, UpstreamUnavailable
from kernel.models import Deployment
from kernel.transport import UpstreamRequest
from kernel.transport.fast import FastTransport, handles
from kernel.transport.httpx_transport import HttpxTransport
from tests.servers import free_port
from tests.test_http1 import held_server, read_request, serve

D = Deployment(id="dep-1", model_name="m", provider="openai", upstream_model="gpt-x", api_key="sk-secret-key-1234")
KINDS = [FastTransport, HttpxTransport]


def answering(raw: bytes):
    async def handler(reader, writer, seen):
        seen.append(await read_request(reader))
        writer.write(raw)
        await writer.drain()
    return handler


async def send(kind, url: str, *, stream: bool = False, timeout: float = 5, cap: int = 1 << 20, **kw):
    transport = kind(**kw)
    try:
        resp = await transport.send(UpstreamRequest("POST", url, {"content-type": "application/json"}, b"{}",
                                                    stream=stream), D, timeout, cap)
        if resp.stream is not None:
            return resp, [c async for c in resp.stream]
        return resp, None
    finally:
        await transport.aclose()


def named(err, url: str) -> None:
    """The message names the deployment, and neither where it lives nor its key."""
    assert D.label in err.message and err.deployment == "dep-1"
    port = url.split(":")[2].split("/")[0]
    assert port not in err.message and "127.0.0.1" not in err.message and D.api_key not in err.message


def test_the_fast_client_takes_plain_bodies_and_httpx_the_rest():
    assert handles(UpstreamRequest("POST", "http://x/", content=b"{}"))
    assert handles(UpstreamRequest("GET", "http://x/"))
    assert not handles(UpstreamRequest("POST", "http://x/", files=[("file", ("a.wav", b"", "audio/wav"))]))
    assert not handles(UpstreamRequest("POST", "http://x/", data={"model": "m"}))
    assert not handles(UpstreamRequest("POST", "http://x/", content=b"{}", passthrough=True))


@pytest.mark.parametrize("kind", KINDS)
async def test_a_whole_answer_and_a_stream_come_back_with_status_and_headers(kind):
    body = b'{"ok":true}'
    server, url, _ = await serve(answering(b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n"
                                           b"x-thing: 1\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)))
    try:
        resp, _ = await send(kind, url)
        assert (resp.status, resp.body, resp.stream) == (201, body, None)
        assert resp.header(b"content-type") == "application/json" and resp.header(b"x-thing") == "1"
        resp, chunks = await send(kind, url, stream=True)
        assert resp.status == 201 and resp.body is None and b"".join(chunks) == body
    finally:
        server.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_refused_connection_is_upstream_unavailable(kind):
    url = f"http://127.0.0.1:{free_port()}/v1/chat/completions"
    with pytest.raises(UpstreamUnavailable) as info:
        await send(kind, url)
    assert info.value.status == 502 and info.value.retryable
    named(info.value, url)


@pytest.mark.parametrize("kind", KINDS)
async def test_no_answer_by_the_deadline_is_upstream_timeout(kind):
    async def silent(reader, writer, seen):
        seen.append(await read_request(reader))
        await asyncio.sleep(3)

    server, url, seen = await serve(silent)
    try:
        with pytest.raises(UpstreamTimeout) as info:
            await send(kind, url, timeout=0.2)
        assert info.value.status == 504 and "did not answer within 0.2s" in info.value.message
        named(info.value, url)
        assert len(seen) == 1
    finally:
        server.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_malformed_answer_is_upstream_unavailable(kind):
    server, url, _ = await serve(answering(b"HTTP/1.1 abc this is no status line\r\n\r\n"))
    try:
        with pytest.raises(UpstreamUnavailable) as info:
            await send(kind, url)
        named(info.value, url)
    finally:
        server.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_an_answer_cut_short_is_upstream_unavailable(kind):
    server, url, _ = await serve(answering(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"half\":"))
    try:
        with pytest.raises(UpstreamUnavailable) as info:
            await send(kind, url)
        assert "broke off its answer" in info.value.message
        named(info.value, url)
    finally:
        server.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_stream_cut_short_is_upstream_unavailable_when_read(kind):
    server, url, _ = await serve(answering(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                                           b"transfer-encoding: chunked\r\n\r\n9\r\ndata: 1\n\n\r\n4\r\nda"))
    try:
        with pytest.raises(UpstreamUnavailable) as info:
            await send(kind, url, stream=True)
        assert "broke off its stream" in info.value.message
        named(info.value, url)
    finally:
        server.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_an_answer_over_the_cap_is_too_large_even_when_compressed(kind):
    packed = gzip.compress(b"x" * 10_000)
    server, url, _ = await serve(answering(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s"
                                           % (len(packed), packed)))
    try:
        with pytest.raises(UpstreamResponseTooLarge) as info:
            await send(kind, url, cap=9_999)
        assert info.value.status == 502 and not info.value.retryable
        named(info.value, url)
        resp, _ = await send(kind, url, cap=10_000)
        assert resp.body == b"x" * 10_000
    finally:
        server.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_broken_compressed_body_is_upstream_unavailable(kind):
    bad = gzip.compress(b"x" * 1000)[:-12] + b"garbage-tail"
    server, url, _ = await serve(answering(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s"
                                           % (len(bad), bad)))
    try:
        with pytest.raises(UpstreamUnavailable) as info:
            await send(kind, url)
        named(info.value, url)
    finally:
        server.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_an_error_answer_comes_whole_even_for_a_streamed_request(kind):
    body = b'{"error":{"message":"slow down"}}'
    server, url, _ = await serve(answering(b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 3\r\ncontent-length: %d"
                                           b"\r\n\r\n%s" % (len(body), body)))
    try:
        for stream in (False, True):
            resp, chunks = await send(kind, url, stream=stream)
            assert (resp.status, resp.body, resp.stream, chunks) == (429, body, None, None)
            assert resp.header(b"retry-after") == "3"
    finally:
        server.close()


async def test_a_request_past_its_deadline_in_line_for_a_full_pool_is_a_timeout_that_says_so():
    server, url, seen, release, _state = await held_server()
    transport = FastTransport(max_per_host=1)
    req = UpstreamRequest("POST", url, {}, b"{}")
    try:
        first = asyncio.create_task(transport.send(req, D, 5, 1 << 20))
        while not seen:
            await asyncio.sleep(0.01)
        with pytest.raises(UpstreamTimeout) as info:
            await transport.send(req, D, 0.2, 1 << 20)
        assert "did not get a connection within 0.2s: all 1 connections to its host were busy" in info.value.message
        assert "max_upstream_connections_per_host" in info.value.message
        named(info.value, url)
        assert len(seen) == 1
        release.set()
        assert (await first).body == b"{}"
    finally:
        release.set()
        await transport.aclose()
        server.close()


async def test_the_httpx_pool_holds_the_same_cap():
    server, url, seen, release, state = await held_server()
    transport = HttpxTransport(max_per_host=1)
    req = UpstreamRequest("POST", url, {}, b"{}", passthrough=True)
    try:
        first = asyncio.create_task(transport.send(req, D, 5, 1 << 20))
        while not seen:
            await asyncio.sleep(0.01)
        with pytest.raises(UpstreamTimeout):
            await transport.send(req, D, 0.3, 1 << 20)
        assert len(seen) == 1 and state["connections"] == 1
        release.set()
        assert (await first).body == b"{}"
    finally:
        release.set()
        await transport.aclose()
        server.close()


async def test_a_stream_closed_before_it_was_read_gives_its_connection_back():
    """Else the connection would stay open, and with a cap of one, every later request would wait in vain."""
    server, url, seen, release, _state = await held_server(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 9\r\n\r\ndata: 1\n\n")
    release.set()
    transport = FastTransport(max_per_host=1)
    req = UpstreamRequest("POST", url, {}, b"{}", stream=True)
    try:
        for _ in range(3):
            resp = await transport.send(req, D, 1, 1 << 20)
            await resp.stream.aclose()
        resp = await transport.send(req, D, 1, 1 << 20)
        assert [c async for c in resp.stream] == [b"data: 1\n\n"]
        await resp.stream.aclose()  # after the end: the connection is back in the pool and left alone
        assert len(seen) == 4
        pool = transport.pool
        key = next(iter(pool.open))
        assert pool.open[key] == 1 and len(pool.idle[key]) == 1 and not pool.idle[key][0].closed
    finally:
        await transport.aclose()
        server.close()


def test_the_gateway_caps_connections_per_host_from_general_settings(fake_openai, start_gateway):
    """max_upstream_connections_per_host: 1 with one slow call in flight: a second call to the same host waits in
    line, and past its deadline is a 504 that says the host's connections were busy; it never reached the host."""
    import threading
    import time

    import httpx

    base = fake_openai.url + "/v1"
    gw = start_gateway({
        "model_list": [
            {"model_name": "slow", "litellm_params": {"model": "openai/slow-1.5", "api_base": base, "api_key": "k",
                                                      "timeout": 10}},
            {"model_name": "quick", "litellm_params": {"model": "openai/gpt-4o", "api_base": base, "api_key": "k",
                                                       "timeout": 0.3}},
        ],
        "general_settings": {"max_upstream_connections_per_host": 1},
    })
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    slow: list[httpx.Response] = []
    worker = threading.Thread(target=lambda: slow.append(
        httpx.post(gw.url + "/v1/chat/completions", json={"model": "slow", **chat}, timeout=10)))
    worker.start()
    deadline = time.monotonic() + 5
    while not fake_openai.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(fake_openai.requests) == 1
    r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "quick", **chat}, timeout=10)
    worker.join()
    assert r.status_code == 504
    err = r.json()["error"]
    assert err["code"] == "upstream_timeout" and "all 1 connections to its host were busy" in err["message"]
    assert "quick (openai/gpt-4o" in err["message"] and "127.0.0.1" not in err["message"]
    assert [q["body"]["model"] for q in fake_openai.requests] == ["slow-1.5"]  # the waiting call never went out
    assert slow[0].status_code == 200
    r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "quick", **chat}, timeout=10)
    assert r.status_code == 200  # the line is free again


@pytest.mark.parametrize(("value", "problem"), [
    (0, "general_settings.max_upstream_connections_per_host: must be >= 1, got 0"),
    ("many", 'general_settings.max_upstream_connections_per_host: expected integer, got string "many"'),
])
def test_the_per_host_cap_is_checked_at_startup(value, problem):
    from kernel.config import parse_config
    from kernel.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config({"general_settings": {"max_upstream_connections_per_host": value}}, "config.yaml")
    assert any(problem in p for p in info.value.problems), info.value.problems
    assert parse_config({}, "config.yaml").general.max_upstream_connections_per_host == 512
    assert parse_config({"general_settings": {"max_upstream_connections_per_host": 64}},
                        "config.yaml").general.max_upstream_connections_per_host == 64
