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
from middleware.limits.rules import PARALLEL, RPM, TPM, Rule, owner_text, token_counters

WINDOW_S = 60.0


class Lease:
    """What an admitted call holds: its parallel slots, whether a token limit wants its tokens, and the headers
    describing its tightest limits."""

    __slots__ = ("_held", "_limiter", "counts_tokens", "headers")

    def __init__(self, limiter: InProcessLimiter, held: tuple, counts_tokens: bool, headers: dict[str, str]) -> None:
        self._limiter = limiter
        self._held = held
        self.counts_tokens = counts_tokens
        self.headers = headers

    @property
    def holds(self) -> bool:
        """Whether the call still holds parallel slots."""
        return bool(self._held)

    def release(self) -> None:
        """Free the slots; later calls do nothing (the hook, the error path and the reply may all call it)."""
        held = self._held
        if held:
            self._held = ()
            self._limiter._free(held)


class RateLimiter(Protocol):
    """What the rate_limit link needs from a backend. A shared one (Redis) keeps the same semantics across
    processes: `acquire` may await its round trip; `record_tokens` and a lease's `release` must not block
    (they queue their writes)."""

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
            ident, kind, limit, _ = rule
            used = (requests if kind == RPM else tokens if kind == TPM else parallel).get(ident, 0)
            if used >= limit:
                raise self._refusal(rule, used, rules, reset)
        # All fit: charge each counter, and keep the tightest request and token limits for the headers.
        held = []
        req = tok = None
        for ident, kind, limit, _ in rules:
            if kind == RPM:
                used = requests[ident] = requests.get(ident, 0) + 1
                if req is None or limit - used < req[1]:
                    req = (limit, limit - used)
            elif kind == TPM:
                left = limit - tokens.get(ident, 0)
                if tok is None or left < tok[1]:
                    tok = (limit, left)
            else:
                parallel[ident] = parallel.get(ident, 0) + 1
                held.append(ident)
        headers = window_headers(req, tok, reset) if req is not None or tok is not None else {}
        return Lease(self, tuple(held), tok is not None, headers)

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

    def _refusal(self, rule: Rule, used: int, rules: Sequence[Rule], reset: float) -> RateLimitExceeded:
        _, kind, limit, owner = rule
        req = tok = None  # the tightest limits as they stand, for the refusal's x-ratelimit-* headers
        for r_ident, r_kind, r_limit, _ in rules:
            if r_kind == RPM:
                left = r_limit - self._requests.get(r_ident, 0)
                if req is None or left < req[1]:
                    req = (r_limit, left)
            elif r_kind == TPM:
                left = r_limit - self._tokens.get(r_ident, 0)
                if tok is None or left < tok[1]:
                    tok = (r_limit, left)
        headers = window_headers(req, tok, reset)
        if kind == PARALLEL:
            # A slot frees when one of the calls in flight ends, which no clock can say: try again in a second.
            wait = 1
            what = f"max_parallel_requests {limit} reached ({used} in flight)"
        else:
            wait = max(1, math.ceil(reset))
            unit = "requests" if kind == RPM else "tokens"
            what = f"{kind} limit {limit} reached ({used} {unit} this minute; resets in {reset_text(reset)})"
        headers["retry-after"] = str(wait)
        return RateLimitExceeded(f"rate limit exceeded: {owner_text(owner)} {what}", headers=headers)


def limiter_of(gateway) -> RateLimiter:
    """The process's limiter, made on first use; a shared backend will be chosen here from the settings."""
    limiter = gateway.shared.get("rate_limits")
    if limiter is None:
        limiter = gateway.shared["rate_limits"] = InProcessLimiter()
    return limiter
