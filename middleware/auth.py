"""Auth: with a master key configured, every call must present it (Bearer, api-key or x-api-key)."""

from __future__ import annotations

import hmac

from kernel.call import Call, Next, Reply
from kernel.errors import AuthError
from kernel.registry import middleware
from middleware.governance.credentials import presented_key  # a shared module, not a link


@middleware("auth")
class Auth:
    def __init__(self, options, gateway) -> None:
        key = gateway.settings.general.master_key
        self.master = key.encode() if key else None

    async def __call__(self, call: Call, next: Next) -> Reply:
        if self.master is not None:
            given = presented_key(call.headers)
            if not given:
                raise AuthError("missing API key: send the gateway key as 'Authorization: Bearer <key>', "
                                "'x-api-key: <key>' or 'api-key: <key>'")
            if not hmac.compare_digest(given.encode(), self.master):
                raise AuthError("invalid API key")
            call.identity = "master"
        return await next(call)
