"""What every management endpoint shares: the link shape (one `action` per pipeline), the clock, the audit row.

Each management link is registered by its own module (key_api, team_api, user_api, budget_api) and runs
after `master_key_only` in its pipeline; it checks `call.identity` again so a pipelines file that leaves
the check out fails closed rather than open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from attrs import frozen

from kernel.call import Call, Next, Reply
from kernel.errors import PermissionDenied
from kernel.store import Insert, Store
from kernel.store.migrations import AUDIT
from middleware.governance.cache import RecordCache
from middleware.governance.state import governance_of

CHANGED_BY = "litellm-changed-by"  # LiteLLM's header naming the person behind an admin call, kept in the audit log


def now() -> datetime:
    return datetime.now(UTC)


def actor(call: Call) -> str:
    return call.headers.get(CHANGED_BY) or "master_key"


def audit(call: Call, action: str, object_type: str, object_id: str | None,
          before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> Insert:
    """The audit row for one change. Rows hold key hashes only: a raw key is never in a row, so never here."""
    return Insert(AUDIT, {"at": now(), "actor": "master_key", "changed_by": call.headers.get(CHANGED_BY),
                          "action": action, "object_type": object_type, "object_id": object_id,
                          "before": dict(before) if before is not None else None,
                          "after": dict(after) if after is not None else None, "call_id": call.id})


class ManagementLink:
    """Base of the management links: `Options.action` picks the handler once, at start-up."""

    ACTIONS: ClassVar[dict[str, str]] = {}  # action → method name

    @frozen
    class Options:
        action: str

    def __init__(self, options: Options | None, gateway) -> None:
        action = options.action if options is not None else None
        if action not in self.ACTIONS:
            raise ValueError(f"`action` must be one of {', '.join(sorted(self.ACTIONS))}")
        self.governance = governance_of(gateway)
        self.handler: Callable[[Call], Awaitable[Any]] = getattr(self, self.ACTIONS[action])

    @property
    def store(self) -> Store:
        return self.governance.store

    @property
    def cache(self) -> RecordCache:
        return self.governance.cache

    async def __call__(self, call: Call, next: Next) -> Reply:
        if call.identity != "master":
            raise PermissionDenied("the management API needs the master key (put master_key_only before this link)",
                                   code="master_key_required")
        return Reply(body=await self.handler(call))
