"""Load drivers: wrk when installed, else a keep-alive asyncio client; and a client that times SSE streams."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from urllib.parse import urlsplit

import orjson
from attrs import define

_WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\nBENCH {"requests":%d,"duration_us":%d,"errors":%d,"status_errors":%d,'
    .. '"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
"""


@define
class Result:
    """One load run against one target."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    mean_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {"requests": self.requests, "seconds": round(self.seconds, 3), "errors": self.errors,
                "rps": round(self.rps, 1), "p50_ms": round(self.p50_ms, 4), "p99_ms": round(self.p99_ms, 4),
                "mean_ms": round(self.mean_ms, 4)}


@define
class Target:
    """What to send: one POST, the same every time."""

    url: str
    body: bytes
    headers: dict[str, str]


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _lua_long_string(data: bytes) -> str:
    text = data.decode()
    level = "=" * 4
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def run_wrk(target: Target, connections: int, seconds: float) -> Result:
    """wrk, one thread (the gateway and the upstream share this machine's cores with it)."""
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_long_string(target.body)}"]
    lines += [f"wrk.headers[ {_lua_long_string(k.encode())} ] = {_lua_long_string(v.encode())}"
              for k, v in target.headers.items()]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write("\n".join(lines) + _WRK_DONE)
        script = f.name
    try:
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
                              "-s", script, target.url], capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(script)
    m = re.search(r"^BENCH (\{.*\})$", out.stdout, re.M)
    if m is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    d = orjson.loads(m.group(1))
    return Result(requests=d["requests"], seconds=d["duration_us"] / 1e6, errors=d["errors"] + d["status_errors"],
                  p50_ms=d["p50_us"] / 1000, p99_ms=d["p99_us"] / 1000, mean_ms=d["mean_us"] / 1000)


def _request_bytes(target: Target) -> tuple[str, int, bytes]:
    parts = urlsplit(target.url)
    head = [f"POST {parts.path or '/'} HTTP/1.1", f"host: {parts.hostname}:{parts.port}",
            f"content-length: {len(target.body)}"]
    head += [f"{k}: {v}" for k, v in target.headers.items()]
    return parts.hostname, parts.port, ("\r\n".join(head) + "\r\n\r\n").encode() + target.body


async def _read_response(reader: asyncio.StreamReader, on_chunk=None) -> int:
    """Read one HTTP/1.1 response (Content-Length or chunked); returns the status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    i = lower.find(b"content-length:")
    if i >= 0:
        length = int(lower[i + 15:lower.find(b"\r\n", i)])
        data = await reader.readexactly(length)
        if on_chunk is not None:
            on_chunk(data)
        return status
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
        data = await reader.readexactly(size + 2)
        if size == 0:
            return status
        if on_chunk is not None:
            on_chunk(data)


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


async def _drive(target: Target, connections: int, seconds: float, max_requests: int | None) -> Result:
    host, port, request = _request_bytes(target)
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    budget = [max_requests if max_requests is not None else 1 << 62]

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while budget[0] > 0 and time.perf_counter() < deadline:
                budget[0] -= 1
                t0 = time.perf_counter()
                writer.write(request)
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - t0)
                if status >= 400:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Result(requests=len(latencies), seconds=elapsed, errors=errors,
                  p50_ms=_percentile(latencies, 50) * 1000, p99_ms=_percentile(latencies, 99) * 1000,
                  mean_ms=(sum(latencies) / len(latencies) * 1000) if latencies else 0.0)


def run_asyncio(target: Target, connections: int, seconds: float, max_requests: int | None = None) -> Result:
    """The fallback driver: slower than wrk (it is Python), so it caps the requests/s it can show."""
    return _run(_drive(target, connections, seconds, max_requests))


def _run(coro):
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


@define
class StreamResult:
    ttft_ms: float  # median time to the first SSE data frame
    total_ms: float  # median time to the end of the stream
    per_chunk_ms: float  # median (total - ttft) / frames after the first
    frames: int
    streams: int
    errors: int

    def as_dict(self) -> dict:
        return {"ttft_ms": round(self.ttft_ms, 4), "total_ms": round(self.total_ms, 4),
                "per_chunk_ms": round(self.per_chunk_ms, 5), "frames": self.frames, "streams": self.streams,
                "errors": self.errors}


async def _streams(target: Target, count: int) -> StreamResult:
    host, port, request = _request_bytes(target)
    reader, writer = await asyncio.open_connection(host, port)
    ttfts, totals, per_chunk = [], [], []
    frames = errors = 0
    try:
        for _ in range(count):
            first = [0.0]
            seen = [0]

            def on_chunk(data: bytes, first=first, seen=seen) -> None:
                n = data.count(b"data:")
                if n and not first[0]:
                    first[0] = time.perf_counter()
                seen[0] += n

            t0 = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader, on_chunk)
            end = time.perf_counter()
            if status >= 400 or not first[0]:
                errors += 1
                continue
            frames = seen[0]
            ttfts.append(first[0] - t0)
            totals.append(end - t0)
            per_chunk.append((end - first[0]) / max(1, seen[0] - 1))
    finally:
        writer.close()
    for v in (ttfts, totals, per_chunk):
        v.sort()
    return StreamResult(ttft_ms=_percentile(ttfts, 50) * 1000, total_ms=_percentile(totals, 50) * 1000,
                        per_chunk_ms=_percentile(per_chunk, 50) * 1000, frames=frames, streams=len(ttfts),
                        errors=errors)


def run_streams(target: Target, count: int) -> StreamResult:
    """`count` streamed requests one after another on one keep-alive connection."""
    return _run(_streams(target, count))
