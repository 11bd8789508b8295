"""What the governance links of one process share: the master key, the store, the record cache, the key check.

Key management exists only with a master key (as in LiteLLM): without one, nothing here opens a store, the
model routes stay open as before, and the management API answers 403.
"""

from __future__ import annotations

import hmac
import time
from datetime import UTC, datetime

from kernel.errors import AuthError, PermissionDenied
from kernel.store import Store, store_of
from kernel.store.records import Caller
from middleware.governance.cache import RecordCache
from middleware.governance.credentials import hash_key, presented_key

MISSING_KEY = ("missing API key: send the gateway key as 'Authorization: Bearer <key>', "
               "'x-api-key: <key>' or 'api-key: <key>'")


class Governance:
    __slots__ = ("cache", "master", "store")

    def __init__(self, gateway) -> None:
        key = gateway.settings.general.master_key
        self.master: bytes | None = key.encode() if key else None
        self.store: Store | None = None
        self.cache: RecordCache | None = None
        if self.master is not None:
            self.store = store_of(gateway)
            self.cache = RecordCache(self.store, gateway.settings.general.user_api_key_cache_ttl)

    def is_master(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.master)

    async def caller(self, given: str) -> Caller:
        """The records behind a virtual key, or AuthError: unknown, deleted, expired or blocked (key or team)."""
        cache = self.cache
        key = await cache.key(hash_key(given))
        if key is None:
            raise AuthError("invalid API key")
        if key.expires_at is not None and key.expires_at <= time.time():
            when = datetime.fromtimestamp(key.expires_at, UTC).isoformat(timespec="seconds")
            raise AuthError(f"this key expired at {when}", code="key_expired")
        if key.blocked:
            raise AuthError("this key is blocked (POST /key/unblock lifts it)", code="key_blocked")
        team = None
        if key.team_id is not None:
            team = await cache.team(key.team_id)
            if team is None:
                raise AuthError(f"this key's team {key.team_id!r} no longer exists", code="team_not_found")
            if team.blocked:
                raise AuthError(f"this key's team {key.team_id!r} is blocked", code="team_blocked")
        user = await cache.user(key.user_id) if key.user_id is not None else None
        return Caller(key=key, team=team, user=user)

    async def require_master(self, headers: dict[str, str]) -> None:
        """The management API's check: 403 without a master key configured or for a virtual key, 401 otherwise."""
        if self.master is None:
            raise PermissionDenied("key management needs a master key: set general_settings.master_key "
                                   "(or RELAYKIT_MASTER_KEY)", code="master_key_required")
        given = presented_key(headers)
        if not given:
            raise AuthError(MISSING_KEY)
        if self.is_master(given):
            return
        await self.caller(given)  # an invalid key is a 401, as anywhere else
        raise PermissionDenied("the management API needs the master key; a virtual key may not call it",
                               code="master_key_required")


def governance_of(gateway) -> Governance:
    gov = gateway.shared.get("governance")
    if gov is None:
        gov = gateway.shared["governance"] = Governance(gateway)
    return gov
