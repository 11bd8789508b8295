"""A client that leaves stops its call: the upstream request is closed at once, quietly; SIGTERM has a grace period.

The upstream here holds every request unanswered (tests/fakes/holding_upstream.py), so the only way its
connections end is relaykit closing them. Before the fix, all of them stayed open until the deployment timeout
(600 s) and a SIGTERM waited 30 s for them.
"""

from __future__ import annotations

import socket
import time

import orjson
import pytest

from tests.cli_process import Relaykit
from tests.fakes.holding_upstream import HoldingUpstream

CLIENTS = 20


@pytest.fixture
def upstream():
    with HoldingUpstream() as fake:
        yield fake


def config(upstream: HoldingUpstream) -> dict:
    return {"model_list": [{"model_name": "held", "litellm_params": {
        "model": "openai/gpt-4o", "api_base": upstream.url + "/v1", "api_key": "sk-upstream-held"}}]}


def send_chat(port: int, stream: bool) -> socket.socket:
    body = orjson.dumps({"model": "held", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: relaykit\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    return sock


def errors_logged(lines: list[str]) -> list[str]:
    return [line for line in lines if "ERROR" in line or "Traceback" in line or "Exception in ASGI" in line]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_clients_that_hang_up_have_their_upstream_calls_closed(upstream, tmp_path, stream):
    with Relaykit([], config=config(upstream), tmp_path=tmp_path) as gateway:
        clients = [send_chat(gateway.port, stream) for _ in range(CLIENTS)]
        assert upstream.wait_for("requests", CLIENTS, timeout=10), f"upstream saw {upstream.requests} requests"
        time.sleep(0.3)
        assert upstream.closed == 0  # held while the clients wait
        for sock in clients:
            sock.close()
        # The bound is "within about a second"; every connection, not most.
        assert upstream.wait_for("closed", CLIENTS, timeout=2), f"{upstream.closed} of {CLIENTS} upstream calls closed"
        # The gateway still serves, and nothing about the cancelled calls was logged as an error.
        probe = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
        probe.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: relaykit\r\n\r\n")
        assert probe.recv(65536).startswith(b"HTTP/1.1 200 ")
        probe.close()
        assert gateway.stop() == 0
        assert errors_logged(gateway.stderr) == []


def test_sigterm_with_a_call_stuck_upstream_exits_within_the_grace_period(upstream, tmp_path):
    gateway = Relaykit(["--graceful_timeout", "2"], config=config(upstream), tmp_path=tmp_path)
    try:
        client = send_chat(gateway.port, stream=False)
        assert upstream.wait_for("requests", 1, timeout=10)
        started = time.monotonic()
        gateway.proc.send_signal(15)
        code = gateway.proc.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        gateway.stop()
    assert code == 0
    assert 1.9 <= took < 5, f"exit took {took:.1f}s with a 2s grace period"  # the call was given its grace, no more
    assert upstream.wait_for("closed", 1, timeout=2)
    # The client still connected is told, in its envelope, rather than cut off.
    client.settimeout(5)
    answer = b""
    while chunk := client.recv(65536):
        answer += chunk
    client.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ")
    assert orjson.loads(body)["error"]["code"] == "server_busy"
