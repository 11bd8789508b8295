"""master_key_only: the management API's gate. The master key passes; a valid virtual key gets 403; no key or
an invalid one gets 401; a gateway with no master key configured has no key management, so 403."""

from __future__ import annotations

from kernel.call import Call, Next, Reply
from kernel.registry import middleware
from middleware.governance.state import governance_of


@middleware("master_key_only")
class MasterKeyOnly:
    def __init__(self, options, gateway) -> None:
        self.governance = governance_of(gateway)

    async def __call__(self, call: Call, next: Next) -> Reply:
        await self.governance.require_master(call.headers)
        call.identity = "master"
        return await next(call)
