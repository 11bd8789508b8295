"""Decode AWS event-stream framing (`application/vnd.amazon.eventstream`), as Bedrock's ConverseStream sends it.

Each message: a 12-byte prelude (total length, headers length, both big-endian uint32, then the CRC32 of
those 8 bytes), the headers, the payload, and the CRC32 of everything before it. A header is a 1-byte
name length, the name, a 1-byte value type and the value. Both checksums are verified; a message that
fails one ends the stream with EventStreamError rather than yielding corrupt data.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from typing import Any

PRELUDE = 12
MAX_MESSAGE = 16 * 1024 * 1024  # the format's documented ceiling; anything larger is corruption
MAX_HEADERS = 128 * 1024
_U32X2 = struct.Struct(">II")
_U32 = struct.Struct(">I")
# Fixed-size value types: type id → (struct, width).
_FIXED = {2: struct.Struct(">b"), 3: struct.Struct(">h"), 4: struct.Struct(">i"), 5: struct.Struct(">q"),
          8: struct.Struct(">q")}


class EventStreamError(ValueError):
    """The bytes are not a valid event stream (bad checksum, impossible length, cut short)."""


def decode_headers(data: bytes) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    pos, end = 0, len(data)
    while pos < end:
        name_len = data[pos]
        pos += 1
        name = data[pos:pos + name_len].decode("utf-8")
        pos += name_len
        if pos >= end:
            raise EventStreamError(f"header {name!r} has no value")
        kind = data[pos]
        pos += 1
        if kind == 0 or kind == 1:  # booleans carry their value in the type
            value: Any = kind == 0
        elif kind in _FIXED:
            fmt = _FIXED[kind]
            (value,) = fmt.unpack_from(data, pos)
            pos += fmt.size
        elif kind == 6 or kind == 7:  # bytes / string: 2-byte length prefix
            (length,) = struct.unpack_from(">H", data, pos)
            pos += 2
            raw = data[pos:pos + length]
            pos += length
            value = raw.decode("utf-8") if kind == 7 else bytes(raw)
        elif kind == 9:
            value = str(uuid.UUID(bytes=bytes(data[pos:pos + 16])))
            pos += 16
        else:
            raise EventStreamError(f"header {name!r} has unknown value type {kind}")
        if pos > end:
            raise EventStreamError(f"header {name!r} runs past the header block")
        headers[name] = value
    return headers


def decode_message(message: bytes) -> tuple[dict[str, Any], bytes]:
    """One complete message (prelude checked already) → (headers, payload)."""
    (expected,) = _U32.unpack_from(message, len(message) - 4)
    if zlib.crc32(memoryview(message)[:-4]) != expected:
        raise EventStreamError("message checksum mismatch")
    _, headers_len = _U32X2.unpack_from(message, 0)
    headers = decode_headers(message[PRELUDE:PRELUDE + headers_len])
    return headers, message[PRELUDE + headers_len:-4]


def check_prelude(buffer: bytes | bytearray) -> int:
    """The total length a prelude announces, once its checksum and bounds are verified."""
    total, headers_len = _U32X2.unpack_from(buffer, 0)
    (crc,) = _U32.unpack_from(buffer, 8)
    if zlib.crc32(memoryview(buffer)[:8]) != crc:
        raise EventStreamError("prelude checksum mismatch")
    if total < PRELUDE + 4 or total > MAX_MESSAGE or headers_len > min(MAX_HEADERS, total - PRELUDE - 4):
        raise EventStreamError(f"impossible message length {total} (headers {headers_len})")
    return total


async def messages(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[dict[str, Any], bytes]]:
    """Yield (headers, payload) per message, whatever the chunking of the bytes underneath."""
    buffer = bytearray()
    total = 0  # length of the message at the front of the buffer, once its prelude is in
    async for chunk in chunks:
        buffer += chunk
        while True:
            if not total:
                if len(buffer) < PRELUDE:
                    break
                total = check_prelude(buffer)
            if len(buffer) < total:
                break
            message = bytes(buffer[:total])
            del buffer[:total]
            total = 0
            yield decode_message(message)
    if buffer:
        raise EventStreamError(f"stream ended inside a message ({len(buffer)} bytes left over)")
