"""The Server-Timing header: where a call's time went (read, auth, decode, route, upstream, respond), in ms."""

from __future__ import annotations

from typing import Any


def server_timing(call: Any, total_ms: float) -> bytes:
    """Phases from the marks the links left on the call (the first of each: a retry routes again), the upstream
    wait, and `respond` for the rest (the way back through normalize, meter and encode, plus retry waits and a
    stream's wait for its first chunk); `total` last. A call that passed no marks has only `total`."""
    marks = call.marks
    if not marks:
        return b"total;dur=%.3f" % total_ms
    parts = []
    started = prev = call.started
    seen: tuple = ()  # a handful of names: a tuple scan beats building a set per call
    for name, at in marks:
        if name in seen:
            continue
        seen += (name,)
        parts.append(f"{name};dur={(at - prev) * 1000:.3f}")
        prev = at
    upstream_ms = call.upstream_s * 1000
    if upstream_ms:
        parts.append(f"upstream;dur={upstream_ms:.3f}")
    rest = max(0.0, total_ms - (prev - started) * 1000 - upstream_ms)
    parts.append(f"respond;dur={rest:.3f}, total;dur={total_ms:.3f}")
    return ", ".join(parts).encode()
