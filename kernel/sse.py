"""Server-sent events: split an upstream byte stream into events, and frame events for a client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson


async def lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Yield each line (CR/LF stripped) of a byte stream however it was chunked, the unterminated tail last."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        start = 0
        while True:
            nl = buffer.find(b"\n", start)
            if nl < 0:
                break
            yield buffer[start:nl].rstrip(b"\r")
            start = nl + 1
        buffer = buffer[start:]
    if buffer:
        yield buffer.rstrip(b"\r")


async def sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str | None, bytes]]:
    """Yield (event name, data) for each event; tolerant of any chunking and of CRLF line ends."""
    event: str | None = None
    data: list[bytes] = []
    async for line in lines(chunks):
        if not line:
            if data:
                yield event, b"\n".join(data)
            event, data = None, []
            continue
        if line.startswith(b":"):
            continue  # comment / keep-alive
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            event = value.decode()
    if data:
        yield event, b"\n".join(data)


def frame(data: object, event: str | None = None) -> bytes:
    """One SSE event; `data` is JSON-encoded unless it is already bytes."""
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    if event is None:
        return b"data: " + payload + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"
