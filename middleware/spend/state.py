"""What the spend links of one process share: the price book, the budget ledger and the spend writer.

It exists only where key management does (a master key is set, so a store is open), and is built once,
by the first link that asks. The writer starts with the gateway and, at shutdown, writes what it holds
before the store closes.
"""

from __future__ import annotations

from kernel.store import store_of
from middleware.governance.state import governance_of
from middleware.spend.ledger import Ledger
from middleware.spend.prices import PriceBook
from middleware.spend.writer import SpendWriter


class SpendState:
    __slots__ = ("ledger", "prices", "writer")

    def __init__(self, gateway) -> None:
        general = gateway.settings.general
        store = store_of(gateway)
        self.prices = PriceBook.of(gateway)
        self.writer = SpendWriter(store, interval=general.proxy_batch_write_at,
                                  keep_rows=not general.disable_spend_logs)
        self.ledger = Ledger(self.writer.add_op)
        gateway.on_startup(self.writer.start)
        # Before the store's own close hook, which store_of registered first: the last batch needs the store.
        gateway.shutdown.insert(0, self.writer.stop)
        cache = governance_of(gateway).cache
        if cache is not None:
            cache.on_change.append(self.ledger.forget)


def spend_of(gateway) -> SpendState | None:
    """The process's spend state, or None where there is no key management (no master key)."""
    if governance_of(gateway).master is None:
        return None
    state = gateway.shared.get("spend")
    if state is None:
        state = gateway.shared["spend"] = SpendState(gateway)
    return state
