"""Per-deployment routing state: failures and cooldowns, requests in flight, latency, and usage this minute.

One event loop per process touches it, so plain dicts and counters suffice: no locks. Entries are made on
first use, so a gateway that never fails and uses a stateless strategy never allocates any.
"""

from __future__ import annotations

import time
from collections import deque

MINUTE = 60.0
MAX_TRACKED = 4096  # wildcard groups let clients name deployments: keep the tables bounded


def state_key(d) -> str:
    """Whose state a deployment's outcome is: a wildcard entry keeps one per upstream model it was asked for,
    so one model failing behind `openai/*` does not cool every other."""
    return d.id if "*" not in d.model_name else d.id + "\x00" + d.upstream_model


class DeploymentStats:
    """What the router has seen of one deployment."""

    __slots__ = ("fails", "in_flight", "latencies", "minute", "rpm_used", "tpm_used")

    def __init__(self) -> None:
        self.in_flight = 0
        self.latencies: deque[float] = deque(maxlen=10)
        self.minute = 0  # the wall-clock minute the usage counters belong to
        self.rpm_used = 0
        self.tpm_used = 0
        self.fails: dict[str, deque[float]] = {}  # failure kind → monotonic times within the last minute

    def usage(self, minute: int) -> DeploymentStats:
        """The counters for `minute`, reset when a new minute starts (LiteLLM counts per calendar minute)."""
        if self.minute != minute:
            self.minute, self.rpm_used, self.tpm_used = minute, 0, 0
        return self

    def mean_latency(self) -> float:
        lat = self.latencies
        return sum(lat) / len(lat) if lat else 0.0


class RouterState:
    """Cooldowns and stats of every deployment of one router (the gateway's, or one request's user_config)."""

    __slots__ = ("cooling", "stats")

    def __init__(self) -> None:
        self.stats: dict[str, DeploymentStats] = {}
        self.cooling: dict[str, float] = {}  # deployment id → monotonic time its cooldown ends

    def of(self, deployment_id: str) -> DeploymentStats:
        stats = self.stats.get(deployment_id)
        if stats is None:
            if len(self.stats) >= MAX_TRACKED:
                self.stats.clear()  # forgetting history is safe: a strategy then explores again
            stats = self.stats[deployment_id] = DeploymentStats()
        return stats

    def cooling_until(self, deployment_id: str, now: float) -> float | None:
        """When the deployment's cooldown ends, or None when it is available (an ended cooldown is dropped)."""
        until = self.cooling.get(deployment_id)
        if until is None:
            return None
        if until <= now:
            del self.cooling[deployment_id]
            return None
        return until

    def record_failure(self, deployment_id: str, kind: str, allowed: int, cooldown: float, now: float) -> bool:
        """Count a failure; past `allowed` failures of this kind within a minute the deployment cools down."""
        fails = self.of(deployment_id).fails
        times = fails.get(kind)
        if times is None:
            times = fails[kind] = deque()
        times.append(now)
        while times and times[0] <= now - MINUTE:
            times.popleft()
        if len(times) > allowed:
            if len(self.cooling) >= MAX_TRACKED:
                self.cooling = {k: t for k, t in self.cooling.items() if t > now}
            self.cooling[deployment_id] = now + cooldown
            times.clear()
            return True
        return False


def current_minute() -> int:
    return int(time.time() // MINUTE)
