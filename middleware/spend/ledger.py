"""The running spend of every budget in this process: what was spent, what calls in flight have reserved, and
when each budget period ends.

A budget (a key's, a team's, a user's, a key's per-model one, or the global one) is an Account. A call reserves
its cost ceiling on every account it touches before it goes upstream, and settles to its real cost when it is
done; a call that does not fit beside the reservations already held is refused, unless nothing else is in
flight. So however many calls arrive at once, spend passes a budget by at most one call's cost.

The accounts start from the spend the store holds (the record the key check loaded) and from then on count in
memory; the spend writer (writer.py) carries each settled cost to the store in batches. When a later load of
a record shows more spend than this process has seen written (another process spent it), the account moves up
to it; management changes made in this process (POST /key/update, a reset) drop the account, which restarts
from the new record. A budget's period ends at its `budget_reset_at` exactly, checked on each call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from kernel.store import Update
from middleware.governance.durations import after

_EPSILON = 1e-9


class Account:
    __slots__ = ("duration", "ident", "reserved", "reset_at", "spent", "stored", "table", "unwritten")

    def __init__(self, table: str | None, ident: str, spent: float, reset_at: float | None,
                 duration: str | None) -> None:
        self.table, self.ident = table, ident  # where the budget's row lives (None: the global budget)
        self.spent = spent
        self.stored = spent  # what the store holds, as far as this process knows
        self.unwritten = 0.0  # settled here, not yet written by the spend writer
        self.reserved = 0.0
        self.reset_at = reset_at  # epoch seconds, or None: the budget never resets
        self.duration = duration

    def roll(self, now: float, enqueue: Callable[[Update], None]) -> None:
        """Start a new period if this one has ended: the spend goes to zero and the store is told."""
        if self.reset_at is None or now < self.reset_at:
            return
        start = datetime.fromtimestamp(self.reset_at, UTC)
        while True:  # a process that slept through several periods lands in the current one
            nxt = after(self.duration, start)
            if nxt.timestamp() > now:
                break
            start = nxt
        self.reset_at = nxt.timestamp()
        self.spent = self.stored = self.unwritten = 0.0
        if self.table is not None:
            enqueue(Update(self.table, self.ident, {"spend": 0.0, "budget_reset_at": nxt, "model_spend": {}},
                           must_match=False))

    def written(self, amount: float) -> None:
        """The spend writer stored `amount` of this account's spend."""
        self.unwritten = max(self.unwritten - amount, 0.0)
        self.stored += amount

    def seen(self, stored: float) -> None:
        """A freshly loaded record says the store holds `stored`: more than we wrote means another writer."""
        if stored > self.stored + _EPSILON:
            self.spent += stored - self.stored
            self.stored = stored


class Ledger:
    """Every account of this process, by (kind, id); bounded by the records the cache holds."""

    __slots__ = ("accounts", "enqueue", "max_accounts")

    def __init__(self, enqueue: Callable[[Update], None], *, max_accounts: int = 200_000) -> None:
        self.accounts: dict[tuple[str, str], Account] = {}
        self.enqueue = enqueue  # hands a reset to the spend writer, in order with the spend before it
        self.max_accounts = max_accounts

    def account(self, kind: str, ident: str, table: str | None, spent: float, reset_at: datetime | None,
                duration: str | None, now: float) -> Account:
        acct = self.accounts.get((kind, ident))
        if acct is None:
            if len(self.accounts) >= self.max_accounts:
                self._evict()
            first_reset = reset_at.timestamp() if reset_at is not None else None
            if first_reset is None and duration:  # a budget period with no end yet: it starts now
                first_reset = after(duration, datetime.fromtimestamp(now, UTC)).timestamp()
                if table is not None:
                    self.enqueue(Update(table, ident, {"budget_reset_at": datetime.fromtimestamp(first_reset, UTC)},
                                        must_match=False))
            acct = self.accounts[(kind, ident)] = Account(table, ident, spent, first_reset, duration)
        else:
            acct.seen(spent)
        acct.roll(now, self.enqueue)
        return acct

    def forget(self, kind: str, ident: str) -> None:
        """The record changed through the management API: the next call starts from the new row. Calls in
        flight settle on the account they reserved on, which is no longer counted."""
        self.accounts.pop((kind, ident), None)

    def _evict(self) -> None:
        # Accounts with nothing in flight and nothing unwritten can be rebuilt from the store at any time.
        for k in [k for k, a in self.accounts.items() if a.reserved <= _EPSILON and a.unwritten <= _EPSILON]:
            del self.accounts[k]


def now() -> float:
    return time.time()
