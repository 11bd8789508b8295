"""The webhook outlet (`callbacks: ["webhook"]`, LiteLLM's `generic_api`): batches of records POSTed as a JSON array
(or NDJSON) with the configured headers, retried with exponential backoff, over one httpx.AsyncClient.

A batch that fails with a connection error, a timeout, 408, 429 or 5xx is sent again after 0.5 s, 1 s, 2 s, ...
(at most 30 s apart) up to `max_retries` times; any other 4xx means the endpoint refuses it and it is dropped at
once (counted). Records carry their `request_id`, so an endpoint that answered but whose answer was lost can drop
the repeat. Nothing here is awaited by a client call: the outlet's task does the sending.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from middleware.observe.outlet import Outlet

log = logging.getLogger("relaykit.observe")

_RETRY_STATUS = frozenset({408, 425, 429})
MAX_BACKOFF = 30.0


class Webhook(Outlet):
    backoff = 0.5  # seconds before the first retry; doubled each time

    def __init__(self, name: str, settings, scrubber) -> None:
        super().__init__(f"webhook {name}", scrubber, max_queued=settings["max_queued"],
                         batch_size=settings["batch_size"], flush_interval=settings["flush_interval"])
        self.endpoint = settings["endpoint"]
        self.ndjson = settings["log_format"] == "ndjson"
        self.max_retries = settings["max_retries"]
        content_type = "application/x-ndjson" if self.ndjson else "application/json"
        self.client = httpx.AsyncClient(timeout=settings["timeout"],
                                        headers={"content-type": content_type, **settings["headers"]})

    async def deliver(self, lines: list[bytes]) -> None:
        body = b"\n".join(lines) + b"\n" if self.ndjson else b"[" + b",".join(lines) + b"]"
        for attempt in range(self.max_retries + 1):
            why = await self._post(body)
            if why is None:
                self.sent += len(lines)
                self.last_error = None
                return
            # For readiness, which anyone may read: the failure without the URL (it may carry a token).
            self.last_error = why.split(" from ", 1)[0]
            if why.startswith("refused"):
                break
            if attempt < self.max_retries:
                await asyncio.sleep(min(MAX_BACKOFF, self.backoff * 2 ** attempt))
        log.warning("request log %s: %d records not delivered (%s)", self.name, len(lines), why)
        self.lost(len(lines), why)

    async def _post(self, body: bytes) -> str | None:
        """None when the endpoint took the batch, else why not ("refused ..." when trying again cannot help)."""
        try:
            r = await self.client.post(self.endpoint, content=body)
        except httpx.HTTPError as exc:  # the URL only: headers hold the endpoint's credentials
            return f"{type(exc).__name__} from {self.endpoint}"
        if r.status_code < 300:
            return None
        if r.status_code >= 500 or r.status_code in _RETRY_STATUS:
            return f"HTTP {r.status_code} from {self.endpoint}"
        return f"refused: HTTP {r.status_code} from {self.endpoint}"

    async def close(self) -> None:
        await self.client.aclose()
