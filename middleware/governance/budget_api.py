"""budget_management: LiteLLM's POST /budget/new, a named set of limits that keys, teams and users link to by
`budget_id` (enforcing them is the budget links' job, not this one's)."""

from __future__ import annotations

import uuid

from kernel.call import Call
from kernel.errors import ClientError
from kernel.registry import middleware
from kernel.store import Conflict, Insert
from kernel.store.migrate import table
from kernel.store.migrations import BUDGETS
from middleware.governance.api import ManagementLink, actor, audit, now
from middleware.governance.requests import BUDGET_NEW, body_of, check


@middleware("budget_management")
class BudgetManagement(ManagementLink):
    ACTIONS = {"new": "new"}

    async def new(self, call: Call) -> dict:
        body = check(BUDGET_NEW, body_of(call, empty_ok=True))
        at, by = now(), actor(call)
        budget_id = body.get("budget_id") or str(uuid.uuid4())
        exists = ClientError(f"Budget with id {budget_id!r} already exists.", param="budget_id", code="invalid_field")
        if await self.store.get(BUDGETS, budget_id) is not None:
            raise exists
        row = table(BUDGETS).complete({**body, "budget_id": budget_id, "created_at": at, "created_by": by,
                                       "updated_at": at, "updated_by": by})
        try:
            await self.store.write([Insert(BUDGETS, row), audit(call, "budget.new", "budget", budget_id, None, row)])
        except Conflict:
            raise exists from None
        return row
