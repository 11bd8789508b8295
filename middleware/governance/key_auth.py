"""key_auth: the master key, or a virtual key that exists, has not expired and is not blocked (nor its team).

It takes `auth`'s place on the model routes. The master key is compared in constant time first; any other
key is hashed (SHA-256) and looked up in the record cache, so a cached key costs a hash and a dict lookup.
The caller's records go on `call.caller` for the links after it (model access, and later limits and spend).
Without a master key configured the gateway is open, as with `auth`, and no store is touched.
"""

from __future__ import annotations

import logging

from kernel.call import Call, Next, Reply
from kernel.errors import AuthError
from kernel.registry import middleware
from kernel.store import StoreError
from middleware.governance.credentials import presented_key
from middleware.governance.state import MISSING_KEY, governance_of

log = logging.getLogger("relaykit.governance")


@middleware("key_auth")
class KeyAuth:
    def __init__(self, options, gateway) -> None:
        self.governance = governance_of(gateway)
        self.open = self.governance.master is None
        # LiteLLM's switch: with the store unreachable, a key not in the cache passes unchecked (no limits) rather
        # than getting a 503. Off by default; keys already cached keep working either way.
        self.pass_when_store_down = gateway.settings.general.allow_requests_on_db_unavailable

    async def __call__(self, call: Call, next: Next) -> Reply:
        if self.open:
            return await next(call)
        given = presented_key(call.headers)
        if not given:
            raise AuthError(MISSING_KEY)
        if self.governance.is_master(given):
            call.identity = "master"
            return await next(call)
        try:
            caller = await self.governance.caller(given)
        except StoreError as exc:
            if not self.pass_when_store_down:
                raise
            log.warning("call %s: the store is unreachable (%s); the key passes unchecked because "
                        "allow_requests_on_db_unavailable is on", call.id, exc.message)
            call.identity = "unverified"
            return await next(call)
        call.caller = caller
        call.identity = caller.key.token
        return await next(call)
