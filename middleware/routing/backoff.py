"""How long to wait before retrying: exponential with jitter, never less than the upstream's Retry-After."""

from __future__ import annotations

import random

DEFAULT_BASE = 0.5  # seconds before the first retry when router_settings.retry_after is not set
MAX_DELAY = 8.0  # the exponential part stops growing here
MAX_RETRY_AFTER = 60.0  # an upstream asking for longer is not waited for: its Retry-After is ignored


def retry_delay(retry: int, *, floor: float = 0.0, retry_after: float | None = None,
                rng: random.Random | None = None) -> float:
    """Seconds to sleep before retry number `retry` (0 for the first).

    `floor` is router_settings.retry_after: the least wait, and the base the exponential grows from
    (0.5 s when unset). Jitter stretches each delay by up to a quarter so clients that failed together
    do not come back together. An upstream Retry-After up to a minute is honoured as a lower bound.
    """
    base = floor if floor > 0 else DEFAULT_BASE
    delay = min(MAX_DELAY, base * (2 ** retry))
    delay *= 1.0 + 0.25 * (rng or random).random()
    delay = max(delay, floor)
    if retry_after is not None and 0 < retry_after <= MAX_RETRY_AFTER:
        delay = max(delay, retry_after)
    return delay
