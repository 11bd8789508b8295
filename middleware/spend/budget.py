"""budget: a call over any budget it counts against is refused (429, `budget_exceeded`) before it goes upstream.

The budgets of a call: its key's `max_budget`, the key's `model_max_budget` for the model asked for, its team's
and its user's `max_budget`, and the gateway's `litellm_settings.max_budget`. Each is an account in the ledger
(ledger.py). The call reserves its cost ceiling (the price book's upper estimate, from `max_tokens` or the
model's output limit) on every one; when the meter has priced it, the reservation is replaced by the real
cost. A call whose ceiling does not fit beside what calls in flight have reserved is refused too, unless it
would be alone: so 40 calls at once on a budget that covers 10 let at most 11 through. `soft_budget` never
refuses: crossing it is logged and marked on the key (`soft_budget_cooldown`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from kernel.call import Call, Next, Reply
from kernel.errors import ClientError
from kernel.registry import middleware
from kernel.store import Update
from kernel.store.migrations import DAILY_SPEND, KEYS, TEAMS, USERS
from middleware.governance.durations import after
from middleware.routing.context import routing_of
from middleware.spend.ledger import Account, now
from middleware.spend.state import spend_of

log = logging.getLogger("relaykit.spend")
_SLACK = 1 + 1e-9  # float sums of prices land a hair either side of a budget they meet exactly


class BudgetExceeded(ClientError):
    status = 429
    type = "budget_exceeded"
    code = "budget_exceeded"


@middleware("budget")
class Budget:
    def __init__(self, options, gateway) -> None:
        self.state = spend_of(gateway)
        settings = gateway.settings
        self.global_max = settings.max_budget
        self.global_duration = settings.budget_duration
        self.routing = routing_of(gateway)
        self.store = gateway.shared.get("store")  # opened by spend_of above, when there is key management
        self.global_account: Account | None = None
        self.soft_warned: set[str] = set()  # keys whose soft-budget crossing was logged by this process
        if self.state is not None and self.global_max is not None:
            gateway.on_startup(self._load_global)

    async def _load_global(self) -> None:
        """The gateway's spend so far in this budget period, from the daily roll-ups."""
        self.global_account = self.state.ledger.account(
            "global", "", None, await self._spent_since(None, None, self.global_duration), None, self.global_duration,
            now())

    async def _spent_since(self, api_key: str | None, model: str | None, duration: str | None) -> float:
        """Spend in the daily roll-ups (of one key and model, or all), over the days of the current period."""
        where = {} if api_key is None else {"api_key": api_key, "model_group": model}
        rows = await self.store.find(DAILY_SPEND, where)
        since = None
        if duration:
            t = datetime.now(UTC)
            since = (t - (after(duration, t) - t)).strftime("%Y-%m-%d")
        return sum(r["spend"] for r in rows if since is None or r["date"] >= since)

    async def __call__(self, call: Call, next: Next) -> Reply:
        state = self.state
        if state is None or (call.caller is None and self.global_account is None):
            return await next(call)  # the master key, with no global budget: nothing to count against
        accounts = await self._accounts(call)
        if not accounts:
            return await next(call)
        for label, account, limit in accounts:
            if account.spent * _SLACK >= limit:
                raise BudgetExceeded(f"Budget has been exceeded! Current cost: {account.spent:.10g}, "
                                     f"Max budget: {limit:.10g} ({label})")
        ceiling = state.prices.ceiling(self._group(call), call.endpoint, call.body, len(call.raw))
        for label, account, limit in accounts:
            if account.reserved > 0 and account.spent + account.reserved + ceiling > limit * _SLACK:
                raise BudgetExceeded(
                    f"Budget has been exceeded! Current cost: {account.spent:.10g}, Max budget: {limit:.10g} "
                    f"({label}); calls in flight hold {account.reserved:.10g} of what is left and this call may "
                    f"cost up to {ceiling:.10g}: retry when they finish")
        for _, account, _ in accounts:
            account.reserved += ceiling
        settled = False

        def settle(usage) -> None:
            nonlocal settled
            if settled:
                return
            settled = True
            cost = call.spend.cost if usage is not None and call.spend is not None else 0.0
            for _, account, _ in accounts:
                account.reserved -= ceiling
                if cost:
                    account.spent += cost
                    if account.table is not None:
                        account.unwritten += cost
                        call.spend.charged.append((account, cost))
            if cost and call.caller is not None:
                self._soft_budget(call)

        if call.on_done is None:
            call.on_done = []
        call.on_done.append(settle)
        return await next(call)

    def _group(self, call: Call) -> list:
        try:
            return self.routing.group(call)
        except Exception:  # an unknown model is the router's 400 to give, not this link's
            return []

    async def _accounts(self, call: Call) -> list[tuple[str, Account, float]]:
        """(who, account, limit) for each budget this call counts against."""
        out: list[tuple[str, Account, float]] = []
        ledger = self.state.ledger
        t = now()
        caller = call.caller
        if caller is not None:
            key = caller.key
            lim = key.limits
            if lim.max_budget is not None or lim.budget_duration:
                acct = ledger.account("key", key.token, KEYS, lim.spend, lim.budget_reset_at, lim.budget_duration, t)
                if lim.max_budget is not None:
                    out.append((f"key {key.key_alias or key.key_name}", acct, float(lim.max_budget)))
            model_budget = lim.model_max_budget.get(call.model) if call.model else None
            if isinstance(model_budget, dict) and model_budget.get("budget_limit") is not None:
                ident, period = f"{key.token}\x00{call.model}", model_budget.get("time_period")
                acct = ledger.accounts.get(("key-model", ident))
                if acct is None:  # first use in this process: what the roll-ups hold for this key and model
                    spent = await self._spent_since(key.token, call.model, period)
                    acct = ledger.account("key-model", ident, None, spent, None, period, t)
                else:
                    acct.roll(t, ledger.enqueue)
                out.append((f"model {call.model!r} for this key", acct, float(model_budget["budget_limit"])))
            for kind, record, table in (("team", caller.team, TEAMS), ("user", caller.user, USERS)):
                if record is None:
                    continue
                lim = record.limits
                if lim.max_budget is not None:
                    ident = record.team_id if kind == "team" else record.user_id
                    acct = ledger.account(kind, ident, table, lim.spend, lim.budget_reset_at, lim.budget_duration, t)
                    out.append((f"this key's {kind} {ident!r}", acct, float(lim.max_budget)))
        if self.global_account is not None:
            self.global_account.roll(t, ledger.enqueue)
            out.append(("the gateway's litellm_settings.max_budget", self.global_account, float(self.global_max)))
        return out

    def _soft_budget(self, call: Call) -> None:
        key = call.caller.key
        soft = key.limits.soft_budget
        if soft is None:
            return
        for account, _ in call.spend.charged:
            if account.table == KEYS and account.ident == key.token and account.spent >= soft:
                if key.token not in self.soft_warned:
                    self.soft_warned.add(key.token)
                    log.warning("key %s (%s) crossed its soft budget: spend %.6g of %.6g", key.key_name,
                                key.key_alias or "no alias", account.spent, soft)
                    self.state.writer.add_op(Update(KEYS, key.token, {"soft_budget_cooldown": True}, must_match=False))
                return
