"""Slow and oversized requests cannot hold or exhaust the server: header and body timeouts, head and connection caps.

Driven with raw sockets against relaykit's own server (kernel/serve/protocol.py), in a thread through tests/servers.py
or as the CLI process, with the limits set short. Before these limits, uvicorn held 450 of 450 trickling heads
for 60 s and accepted heads of any size.
"""

from __future__ import annotations

import os
import resource
import socket
import time

import httpx
import orjson
import pytest

from kernel.serve.protocol import Limits
from tests.cli_process import Relaykit

CHAT = b"/v1/chat/completions"


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_answer(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def parse(answer: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, orjson.loads(body)


def post(path: bytes, body: bytes, declared: int | None = None, extra: bytes = b"") -> bytes:
    return (b"POST %s HTTP/1.1\r\nHost: relaykit\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s"
            % (path, len(body) if declared is None else declared, extra, body))


def chat_body(model: str = "gpt-4o") -> bytes:
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})


@pytest.fixture
def config(fake_openai) -> dict:
    return {"model_list": [
        {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o", "api_base": fake_openai.url + "/v1",
                                                    "api_key": "sk-upstream-slow"}},
        {"model_name": "whisper-1", "litellm_params": {"model": "openai/whisper-1",
                                                       "api_base": fake_openai.url + "/v1", "api_key": "sk-upstream-slow"}},
        {"model_name": "echo/*", "litellm_params": {"model": "echo/*"}}]}


# -- header timeout

@pytest.mark.parametrize("after_a_response", [False, True], ids=["fresh-connection", "keep-alive"])
def test_trickled_head_is_answered_408_and_closed_after_the_header_timeout(start_gateway, config, after_a_response):
    gw = start_gateway(config, limits=Limits(header_timeout=2, keepalive_timeout=30))
    sock = connect(gw)
    if after_a_response:  # the clock restarts at the end of the previous answer
        sock.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: relaykit\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        time.sleep(1)  # half the timeout spent idle counts towards it, too
    started = time.monotonic()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: relaykit\r\nX-Slow: ")
    sock.settimeout(1)
    answer = b""
    while time.monotonic() - started < 10:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            try:
                sock.sendall(b"a")  # one byte a second, forever
            except OSError:
                break
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        answer += chunk
    took = time.monotonic() - started
    sock.close()
    assert (1 if after_a_response else 1.9) <= took < 4.5, f"closed after {took:.1f}s with a 2s header timeout"
    status, headers, body = parse(answer)
    assert status == 408
    assert headers["connection"] == "close"
    assert body["error"]["code"] == "request_timeout"
    assert body["error"]["message"] == "the request head did not arrive within 2s"


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(start_gateway, config):
    gw = start_gateway(config, limits=Limits(header_timeout=1))
    sock = connect(gw)
    started = time.monotonic()
    assert read_answer(sock) == b""
    assert time.monotonic() - started < 3.5


def test_two_hundred_slow_loris_connections_do_not_stop_a_normal_request(start_gateway, config, fake_openai):
    gw = start_gateway(config, limits=Limits(header_timeout=10))
    loris = []
    for _ in range(200):
        sock = connect(gw)
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: relaykit\r\nX-Slow: a")
        loris.append(sock)
    try:
        started = time.monotonic()
        reply = httpx.post(gw.url + "/v1/chat/completions", content=chat_body(), timeout=10,
                           headers={"content-type": "application/json"})
        assert reply.status_code == 200
        assert reply.json()["object"] == "chat.completion"
        assert time.monotonic() - started < 2
        assert len(fake_openai.requests) == 1
        for sock in loris:  # and they were all still held: it was not a matter of them having been dropped
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
    finally:
        for sock in loris:
            sock.close()


# -- body timeout

@pytest.mark.parametrize("how", ["stalled", "trickled"])
@pytest.mark.parametrize(("path", "dialect"), [(CHAT, "openai"), (b"/v1/messages", "anthropic")])
def test_a_body_that_does_not_arrive_in_time_gets_408_in_the_clients_envelope(start_gateway, config, fake_openai,
                                                                               path, dialect, how):
    gw = start_gateway(config, limits=Limits(body_timeout=1.5))
    body = chat_body()
    sock = connect(gw)
    started = time.monotonic()
    sock.sendall(post(path, body[:10], declared=len(body)))
    sock.settimeout(0.3)
    answer = b""
    sent = 10
    while time.monotonic() - started < 10:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if how == "trickled" and sent < len(body) - 1:  # never stalls, but never finishes in time either
                sock.sendall(body[sent:sent + 1])
                sent += 1
            continue
        if not chunk:
            break
        answer += chunk
    took = time.monotonic() - started
    sock.close()
    status, headers, envelope = parse(answer)
    assert status == 408
    assert headers["connection"] == "close"
    assert 1.4 <= took < 4.5
    message = "the request body did not arrive within 1.5s"
    if dialect == "openai":
        assert envelope == {"error": {"message": message, "type": "invalid_request_error", "param": None,
                                      "code": "request_timeout"}}
    else:
        assert envelope == {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    assert fake_openai.requests == []


# Transcriptions parse the form in relaykit; files stream it through to the upstream as it arrives.
@pytest.mark.parametrize("path", [b"/v1/audio/transcriptions", b"/v1/files"])
def test_a_stalled_multipart_upload_gets_408(start_gateway, config, fake_openai, path):
    gw = start_gateway(config, limits=Limits(body_timeout=1))
    boundary = b"relaykitboundary"
    part = (b"--%s\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--%s\r\n"
            b"Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
            % (boundary, boundary))
    sock = connect(gw)
    sock.sendall(b"POST %s HTTP/1.1\r\nHost: relaykit\r\nContent-Length: 100000\r\n"
                 b"Content-Type: multipart/form-data; boundary=%s\r\n\r\n%s%s" % (path, boundary, part, b"\0" * 1000))
    status, _, envelope = parse(read_answer(sock))
    assert status == 408
    assert envelope["error"]["code"] == "request_timeout"
    assert fake_openai.requests == []  # no request reached the upstream whole


def test_an_upload_streamed_through_that_goes_over_the_size_limit_gets_413_not_an_upstream_error(start_gateway, config):
    # The same path as the stalled /v1/files upload: the client's failure surfaces inside the upstream client.
    gw = start_gateway({**config, "general_settings": {"max_request_size_mb": 0.01}}, limits=Limits())
    files = {"file": ("big.jsonl", b"x" * 50_000, "application/jsonl")}
    reply = httpx.post(gw.url + "/v1/files", data={"purpose": "batch"}, files=files, timeout=10)
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "request_too_large"


def test_a_body_that_arrives_slowly_but_in_time_is_served(start_gateway, config, fake_openai):
    gw = start_gateway(config, limits=Limits(body_timeout=3))
    body = chat_body()
    sock = connect(gw)
    sock.sendall(post(CHAT, body[:10], declared=len(body)))
    time.sleep(1)
    sock.sendall(body[10:])
    status, _, reply = parse(sock.recv(65536))
    sock.close()
    assert status == 200
    assert reply["object"] == "chat.completion"
    assert len(fake_openai.requests) == 1


# -- head size

def test_a_100_kb_header_gets_431_and_the_connection_closed(start_gateway, config, fake_openai):
    gw = start_gateway(config, limits=Limits())  # the default: 64 KB
    sock = connect(gw)
    sock.sendall(post(CHAT, chat_body(), extra=b"X-Big: " + b"a" * 100_000 + b"\r\n"))
    status, headers, envelope = parse(read_answer(sock))
    assert status == 431
    assert headers["connection"] == "close"
    assert envelope["error"]["code"] == "request_header_fields_too_large"
    assert envelope["error"]["message"] == "the request head is over the 65536-byte limit"
    assert fake_openai.requests == []


def test_a_head_just_under_the_limit_is_served(start_gateway, config, fake_openai):
    gw = start_gateway(config, limits=Limits())
    reply = httpx.post(gw.url + "/v1/chat/completions", content=chat_body(), timeout=10,
                       headers={"content-type": "application/json", "x-big": "a" * 60_000})
    assert reply.status_code == 200
    assert len(fake_openai.requests) == 1


def test_an_oversized_head_that_arrives_whole_is_refused_in_the_routes_envelope(start_gateway, config, fake_openai):
    gw = start_gateway(config, limits=Limits(max_header_bytes=8192))
    sock = connect(gw)
    sock.sendall(post(b"/v1/messages", chat_body(), extra=b"X-Big: " + b"a" * 20_000 + b"\r\n"))
    status, _, envelope = parse(read_answer(sock))
    assert status == 431
    assert envelope == {"type": "error", "error": {"type": "invalid_request_error",
                                                   "message": "the request head is over the 8192-byte limit"}}
    assert fake_openai.requests == []


def test_a_head_that_never_ends_is_refused_once_over_the_limit(start_gateway, config):
    gw = start_gateway(config, limits=Limits(max_header_bytes=8192, header_timeout=30))
    sock = connect(gw)
    sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: relaykit\r\nX-Endless: " + b"a" * 20_000)
    started = time.monotonic()
    status, _, envelope = parse(read_answer(sock))
    assert status == 431
    assert envelope["error"]["code"] == "request_header_fields_too_large"
    assert time.monotonic() - started < 5  # answered at the limit, not at the header timeout


# -- connection cap

def test_past_the_connection_cap_a_new_connection_gets_503_while_the_held_ones_stay(start_gateway, config):
    gw = start_gateway(config, limits=Limits(max_connections=4, keepalive_timeout=30))
    ask = b"GET /health/liveliness HTTP/1.1\r\nHost: relaykit\r\n\r\n"
    held = [connect(gw) for _ in range(4)]
    for sock in held:
        sock.sendall(ask)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    extra = connect(gw)
    extra.sendall(post(CHAT, chat_body("echo/x")))
    status, headers, envelope = parse(read_answer(extra))
    assert status == 503
    assert headers["retry-after"] == "1"
    assert headers["connection"] == "close"
    assert envelope == {"error": {"message": "relaykit is at its limit of 4 connections; retry shortly",
                                  "type": "server_error", "param": None, "code": "server_busy"}}
    for sock in held:  # the connections already in are still served, on the same sockets
        sock.sendall(ask)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        sock.close()
    time.sleep(0.2)
    fresh = connect(gw)  # and once they have gone, a new one is admitted
    fresh.sendall(ask)
    assert fresh.recv(65536).startswith(b"HTTP/1.1 200 ")
    fresh.close()


# -- the CLI's own process

def _lower_soft_nofile() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))


def _open_files_limit(pid: int) -> tuple[str, str]:
    with open(f"/proc/{pid}/limits") as fh:
        for line in fh:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return soft, hard
    raise AssertionError("no open-files line")


@pytest.mark.skipif(not os.path.exists("/proc/self/limits"), reason="needs /proc")
def test_the_cli_raises_the_soft_open_file_limit_to_the_hard_one(tmp_path):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip("the hard limit is already as low as the test would set the soft one")
    with Relaykit([], preexec_fn=_lower_soft_nofile) as gateway:
        soft, hard_seen = _open_files_limit(gateway.proc.pid)
        assert soft == hard_seen
        assert soft != "256"


def test_num_workers_serve_with_the_same_limits(tmp_path):
    with Relaykit(["--num_workers", "2", "--max_header_size_kb", "8"]) as gateway:
        for _ in range(4):  # several connections, so both workers are likely to answer one
            sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: relaykit\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
            status, _, envelope = parse(read_answer(sock))
            assert status == 431
            assert envelope["error"]["code"] == "request_header_fields_too_large"
        assert httpx.get(gateway.url + "/health/liveliness", timeout=10).status_code == 200
