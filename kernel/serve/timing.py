"""The Server-Timing header: where a call's time went (read, auth, decode, route, upstream, respond), in ms."""

from __future__ import annotations

from typing import Any


def server_timing(call: Any, total_ms: float) -> bytes:
    """Phases from the marks the links left on the call (the first of each: a retry routes again), the upstream
    wait, and `respond` for the rest (the way back through normalize, meter and encode, plus retry waits and a
    stream's wait for its first chunk); `total` last. A call that passed no marks has only `total`."""
    parts = []
    marks = call.marks
    if marks:
        started = prev = call.started
        seen = set()
        for name, at in marks:
            if name in seen:
                continue
            seen.add(name)
            parts.append(b"%s;dur=%.3f" % (name.encode(), (at - prev) * 1000))
            prev = at
        upstream_ms = call.upstream_s * 1000
        if upstream_ms:
            parts.append(b"upstream;dur=%.3f" % upstream_ms)
        parts.append(b"respond;dur=%.3f" % max(0.0, total_ms - (prev - started) * 1000 - upstream_ms))
    parts.append(b"total;dur=%.3f" % total_ms)
    return b", ".join(parts)
