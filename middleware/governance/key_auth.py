"""key_auth: the master key, or a virtual key that exists, has not expired and is not blocked (nor its team).

It takes `auth`'s place on the model routes. The master key is compared in constant time first; any other
key is hashed (SHA-256) and looked up in the record cache, so a cached key costs a hash and a dict lookup.
The caller's records go on `call.caller` for the links after it (model access, and later limits and spend).
Without a master key configured the gateway is open, as with `auth`, and no store is touched.
"""

from __future__ import annotations

from kernel.call import Call, Next, Reply
from kernel.errors import AuthError
from kernel.registry import middleware
from middleware.governance.credentials import presented_key
from middleware.governance.state import MISSING_KEY, governance_of


@middleware("key_auth")
class KeyAuth:
    def __init__(self, options, gateway) -> None:
        self.governance = governance_of(gateway)
        self.open = self.governance.master is None

    async def __call__(self, call: Call, next: Next) -> Reply:
        if self.open:
            return await next(call)
        given = presented_key(call.headers)
        if not given:
            raise AuthError(MISSING_KEY)
        if self.governance.is_master(given):
            call.identity = "master"
            return await next(call)
        caller = await self.governance.caller(given)
        call.caller = caller
        call.identity = caller.key.token
        return await next(call)
