"""The AWS event-stream decoder against the recorded Bedrock fixtures, botocore's own parser, and corrupt input."""

from __future__ import annotations

import asyncio
import struct
import uuid
import zlib
from pathlib import Path

import pytest
from botocore.eventstream import EventStreamBuffer

from providers.aws_eventstream import EventStreamError, decode_headers, messages

FIXTURES = Path(__file__).parent / "fixtures" / "bedrock"
STREAMS = sorted(FIXTURES.glob("*.bin"))


def decode(data: bytes, piece: int) -> list[tuple[dict, bytes]]:
    async def chunks():
        for i in range(0, len(data), piece):
            yield data[i:i + piece]

    async def run():
        return [m async for m in messages(chunks())]

    return asyncio.run(run())


def botocore_decode(data: bytes) -> list[tuple[dict, bytes]]:
    buf = EventStreamBuffer()
    buf.add_data(data)
    return [(dict(m.headers), m.payload) for m in buf]


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
@pytest.mark.parametrize("piece", [1, 5, 64, 1 << 20])
def test_fixtures_decode_like_botocore_whatever_the_chunking(path, piece):
    data = path.read_bytes()
    ours = decode(data, piece)
    assert ours == botocore_decode(data)
    assert ours[0][0][":event-type"] == "messageStart"


def test_corrupt_payload_fails_the_message_checksum():
    data = bytearray((FIXTURES / "chat_stream.bin").read_bytes())
    data[40] ^= 0x01  # inside the first message's headers, past the prelude
    with pytest.raises(EventStreamError, match="message checksum"):
        decode(bytes(data), 64)


def test_corrupt_prelude_fails_before_waiting_for_the_body():
    data = bytearray((FIXTURES / "chat_stream.bin").read_bytes())
    data[3] ^= 0x10  # the total length: must not make the decoder wait for bytes that never come
    with pytest.raises(EventStreamError, match="prelude checksum"):
        decode(bytes(data), 1)


def test_impossible_length_with_a_valid_prelude_checksum():
    prelude = struct.pack(">II", 8, 0)
    with pytest.raises(EventStreamError, match="impossible message length"):
        decode(prelude + struct.pack(">I", zlib.crc32(prelude)), 64)


def test_stream_cut_inside_a_message():
    data = (FIXTURES / "chat_stream.bin").read_bytes()
    first = decode(data, 1 << 20)
    with pytest.raises(EventStreamError, match="ended inside a message"):
        decode(data[:-10], 7)
    assert len(first) == 7


def test_every_header_value_type():
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")

    def h(name: str, kind: int, value: bytes) -> bytes:
        return bytes([len(name)]) + name.encode() + bytes([kind]) + value

    block = b"".join([
        h("t", 0, b""), h("f", 1, b""), h("b", 2, struct.pack(">b", -3)), h("s", 3, struct.pack(">h", -300)),
        h("i", 4, struct.pack(">i", 70000)), h("l", 5, struct.pack(">q", 1 << 40)),
        h("by", 6, struct.pack(">H", 3) + b"\x00\x01\x02"), h("str", 7, struct.pack(">H", 2) + "é".encode()),
        h("ts", 8, struct.pack(">q", 1700000000000)), h("u", 9, u.bytes),
    ])
    assert decode_headers(block) == {"t": True, "f": False, "b": -3, "s": -300, "i": 70000, "l": 1 << 40,
                                     "by": b"\x00\x01\x02", "str": "é", "ts": 1700000000000, "u": str(u)}


def test_unknown_header_type_is_refused():
    with pytest.raises(EventStreamError, match="unknown value type"):
        decode_headers(b"\x01x\x0f")
