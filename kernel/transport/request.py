"""What a provider (or a pass-through link) asks the transport to send: a plain description of one HTTP request."""

from __future__ import annotations

from typing import Any

from attrs import Factory, define


@define(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str] = Factory(dict)
    content: bytes | None = None
    data: dict[str, Any] | None = None  # multipart form fields
    files: list[tuple[str, tuple[str, Any, str]]] | None = None  # multipart files (name, (filename, fileobj, type))
    stream: bool = False  # expect a streamed response (SSE or binary)
    wire: str | None = None  # the reply's format when it differs from the provider's usual one ("binary" for audio)
    passthrough: bool = False  # a client's own call sent on (forward, /vertex_ai): over httpx, as any client sends it

    SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "x-goog-api-key"})

    def masked_headers(self) -> dict[str, str]:
        """Headers with credentials replaced, for snapshots and logs."""
        return {k: ("***" if k.lower() in self.SECRET_HEADERS else v) for k, v in sorted(self.headers.items())}
