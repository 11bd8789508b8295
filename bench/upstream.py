"""The zero-delay upstream: canned OpenAI and Anthropic answers from nginx when installed, else a built-in server.

Paths decide the answer, so nginx needs no scripting: `.../messages` answers in Anthropic's shape,
`.../chat/completions` in OpenAI's, and anything under `/stream/` answers with an SSE stream instead.
Run the built-in one alone with `python -m bench.upstream --port 9000`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import orjson

STREAM_CHUNKS = 40  # content deltas per streamed answer

CHAT = orjson.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
    "system_fingerprint": "fp_bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help you today?",
                                         "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18},
})
MESSAGE = orjson.dumps({
    "id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-latest",
    "content": [{"type": "text", "text": "Hello! How can I help you today?"}],
    "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 9},
})


def _chat_events() -> list[bytes]:
    def chunk(delta: dict, finish: str | None = None) -> bytes:
        return b"data: " + orjson.dumps({
            "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}) + b"\n\n"

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": f"tok{i} "}) for i in range(STREAM_CHUNKS)]
    out += [chunk({}, "stop"), b"data: [DONE]\n\n"]
    return out


def _message_events() -> list[bytes]:
    def event(name: str, data: dict) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"

    out = [event("message_start", {"message": {
        "id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-latest", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 1}}}),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})]
    out += [event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": f"tok{i} "}})
            for i in range(STREAM_CHUNKS)]
    out += [event("content_block_stop", {"index": 0}),
            event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                    "usage": {"output_tokens": STREAM_CHUNKS}}),
            event("message_stop", {})]
    return out


CHAT_EVENTS = _chat_events()
MESSAGE_EVENTS = _message_events()


def answer_for(path: str) -> tuple[bytes, list[bytes] | None]:
    """(content type, events) for a streamed path, or (body, None) for a plain one."""
    anthropic = path.endswith("/messages")
    if path.startswith("/stream/"):
        return b"text/event-stream", MESSAGE_EVENTS if anthropic else CHAT_EVENTS
    return MESSAGE if anthropic else CHAT, None


class _Upstream(asyncio.Protocol):
    """HTTP/1.1 keep-alive, just enough of it: Content-Length request bodies, canned responses."""

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            path = head.split(" ", 2)[1].split("?", 1)[0]
            self.respond(path)

    def respond(self, path: str) -> None:
        body, events = answer_for(path)
        if events is None:
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                                 % (len(body), body))
            return
        # One write per event, as a token-by-token upstream sends them: the gateway sees real chunking.
        self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
                             b"cache-control: no-cache\r\n\r\n")
        for event in events:
            self.transport.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.transport.write(b"0\r\n\r\n")


def serve(port: int) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Upstream, "127.0.0.1", port, backlog=1024)
        print(f"bench upstream on http://127.0.0.1:{port}", flush=True)
        await server.serve_forever()

    asyncio.run(main())


def _quote_safe(body: bytes) -> str:
    text = body.decode()
    assert "'" not in text, "nginx return strings are single-quoted"
    return text


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    tcp_nodelay on;
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        location ~ /messages$ {{ default_type application/json; return 200 '{message}'; }}
        location / {{ default_type application/json; return 200 '{chat}'; }}
    }}
}}
"""


def nginx_available() -> bool:
    return shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()


def start_nginx(port: int) -> tuple[subprocess.Popen, str]:
    """nginx with one worker serving the canned plain answers (streams come from the built-in upstream)."""
    workdir = tempfile.mkdtemp(prefix="relaykit-bench-nginx-")
    conf = NGINX_CONF.format(dir=workdir, port=port, chat=_quote_safe(CHAT), message=_quote_safe(MESSAGE))
    path = os.path.join(workdir, "nginx.conf")
    Path(path).write_text(conf)
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([binary, "-c", path, "-p", workdir, "-e", os.path.join(workdir, "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, workdir


def start_builtin(port: int) -> subprocess.Popen:
    import sys

    return subprocess.Popen([sys.executable, "-m", "bench.upstream", "--port", str(port)],
                            stdout=subprocess.DEVNULL, cwd=str(Path(__file__).resolve().parent.parent))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=9000)
    serve(p.parse_args().port)
