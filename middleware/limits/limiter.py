"""The rate-limit counters of one process, behind the small interface a shared (Redis) backend will implement.

Windows are fixed and aligned to the clock: a window is [n·W, (n+1)·W) for W = 60 s, so every counter rolls
over at the same instant and the old window is evicted by dropping one dict (memory holds only the scopes
active in the current window, plus the in-flight counters, each deleted when it returns to 0).

- rpm: a call is counted when admitted, before it goes upstream (so a call that then fails still counts);
  refused when the window already holds `limit` admitted calls.
- tpm: a call's tokens are added when it completes (`record_tokens`, from its `on_done` hook), to the window
  it completes in; a call is refused while the window's tokens are at or over the limit.
- max_parallel_requests: held from admission until the answer is complete (or failed), by a Lease that
  frees its slots once however many times it is released.

Admission is atomic: every rule is checked, then every counter is charged, with no await in between, so
concurrent calls on one event loop cannot both take the last slot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from kernel.store.records import Caller
from middleware.limits.refusal import RateLimitExceeded, reset_text, window_headers
from middleware.limits.rules import PARALLEL, RPM, TPM, Rule, token_counters

WINDOW_S = 60.0


class Lease:
    """The parallel slots one admitted call holds, and the headers describing its tightest limits."""

    __slots__ = ("_held", "_limiter", "headers")

    def __init__(self, limiter: InProcessLimiter, held: tuple, headers: dict[str, str]) -> None:
        self._limiter = limiter
        self._held = held
        self.headers = headers

    def release(self) -> None:
        """Free the slots; later calls do nothing (the hook, the error path and the reply may all call it)."""
        held = self._held
        if held:
            self._held = ()
            self._limiter._free(held)


class RateLimiter(Protocol):
    """What the rate_limit link needs from a backend. A shared one (Redis) keeps the same semantics across
    processes: `acquire` may await its round trip; `release` and `record_tokens` must not block (queue them)."""

    async def acquire(self, rules: Sequence[Rule]) -> Lease: ...  # raises RateLimitExceeded
    def record_tokens(self, caller: Caller, model: str | None, n: int) -> None: ...


class InProcessLimiter:
    """Counters in this process's memory. `clock` (epoch seconds) and `window` may be replaced, e.g. by a test."""

    __slots__ = ("_parallel", "_requests", "_slot", "_tokens", "clock", "window")

    def __init__(self, *, window: float = WINDOW_S, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self.clock = clock
        self._slot: int | None = None  # index of the current window
        self._requests: dict[tuple, int] = {}
        self._tokens: dict[tuple, int] = {}
        self._parallel: dict[tuple, int] = {}

    def _roll(self) -> float:
        """Move to the window holding now (evicting the old one); seconds until it ends."""
        now = self.clock()
        slot = math.floor(now / self.window)
        if slot != self._slot:
            self._slot = slot
            self._requests = {}
            self._tokens = {}
        return (slot + 1) * self.window - now

    async def acquire(self, rules: Sequence[Rule]) -> Lease:
        return self.admit(rules)

    def admit(self, rules: Sequence[Rule]) -> Lease:
        reset = self._roll()
        requests, tokens, parallel = self._requests, self._tokens, self._parallel
        for rule in rules:
            counts = requests if rule.kind == RPM else tokens if rule.kind == TPM else parallel
            used = counts.get(rule.ident, 0)
            if used >= rule.limit:
                raise self._refusal(rule, used, rules, reset)
        held = []
        for rule in rules:
            if rule.kind == RPM:
                requests[rule.ident] = requests.get(rule.ident, 0) + 1
            elif rule.kind == PARALLEL:
                parallel[rule.ident] = parallel.get(rule.ident, 0) + 1
                held.append(rule.ident)
        return Lease(self, tuple(held), self._headers(rules, reset))

    def record_tokens(self, caller: Caller, model: str | None, n: int) -> None:
        """Add a completed call's tokens to the current window of each tpm counter of its key, team and user."""
        if n <= 0:
            return
        self._roll()
        tokens = self._tokens
        for ident in token_counters(caller, model):
            tokens[ident] = tokens.get(ident, 0) + n

    def in_flight(self, ident: tuple) -> int:
        return self._parallel.get(ident, 0)

    def _free(self, held: tuple) -> None:
        parallel = self._parallel
        for ident in held:
            left = parallel.get(ident, 0) - 1
            if left > 0:
                parallel[ident] = left
            else:
                parallel.pop(ident, None)

    def _headers(self, rules: Sequence[Rule], reset: float) -> dict[str, str]:
        """The tightest request limit and the tightest token limit, as they stand now, as x-ratelimit-* headers."""
        req = tok = None
        for rule in rules:
            if rule.kind == RPM:
                left = rule.limit - self._requests.get(rule.ident, 0)
                if req is None or left < req[1]:
                    req = (rule.limit, left)
            elif rule.kind == TPM:
                left = rule.limit - self._tokens.get(rule.ident, 0)
                if tok is None or left < tok[1]:
                    tok = (rule.limit, left)
        return window_headers(req, tok, reset)

    def _refusal(self, rule: Rule, used: int, rules: Sequence[Rule], reset: float) -> RateLimitExceeded:
        headers = self._headers(rules, reset)
        if rule.kind == PARALLEL:
            # A slot frees when one of the calls in flight ends, which no clock can say: try again in a second.
            wait = 1
            what = f"max_parallel_requests {rule.limit} reached ({used} in flight)"
        else:
            wait = max(1, math.ceil(reset))
            unit = "requests" if rule.kind == RPM else "tokens"
            what = f"{rule.kind} limit {rule.limit} reached ({used} {unit} this minute; resets in {reset_text(reset)})"
        headers["retry-after"] = str(wait)
        return RateLimitExceeded(f"rate limit exceeded: {rule.owner} {what}", headers=headers)


def limiter_of(gateway) -> RateLimiter:
    """The process's limiter, made on first use; a shared backend will be chosen here from the settings."""
    limiter = gateway.shared.get("rate_limits")
    if limiter is None:
        limiter = gateway.shared["rate_limits"] = InProcessLimiter()
    return limiter
