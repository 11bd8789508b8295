"""The upstream hot-path client (kernel/transport/http1.py) against real sockets: the cases the gateway tests rarely hit."""

from __future__ import annotations

import asyncio

import pytest

from kernel.transport.http1 import _PAUSE_AT, Pool, PoolFullError, ResponseTooLargeError, UpstreamTimeoutError
from tests.servers import free_port

OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


async def serve(handler) -> tuple[asyncio.AbstractServer, str, list]:
    """A raw TCP server; `handler(reader, writer, seen)` answers; `seen` collects each request head."""
    seen: list[bytes] = []

    async def on_conn(reader, writer):
        try:
            await handler(reader, writer, seen)
        finally:
            writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1/chat/completions", seen


async def read_request(reader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


async def test_a_pooled_connection_the_upstream_drops_is_retried_once_on_a_fresh_one():
    connections = []

    async def flaky(reader, writer, seen):
        connections.append(writer)
        seen.append(await read_request(reader))
        writer.write(OK)  # HTTP/1.1: the client keeps the connection for the next request
        await writer.drain()
        if len(connections) == 1:
            seen.append(await read_request(reader))  # the next request on it is dropped without an answer,
            return  # as when an upstream times out an idle connection just as the client reuses it

    server, url, seen = await serve(flaky)
    pool = Pool()
    try:
        for _ in range(2):
            conn = await pool.request("POST", url, {"content-type": "application/json"}, b'{"a":1}', None)
            assert conn.status == 200
            assert await conn.read() == b"{}"
        assert len(seen) == 3 and all(s.endswith(b'{"a":1}') for s in seen)
        assert seen[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:")
        assert len(connections) == 2
    finally:
        await pool.close()
        server.close()


async def test_a_connection_closed_while_idle_is_not_reused():
    connections = []

    async def one_answer_then_close(reader, writer, seen):
        connections.append(writer)
        seen.append(await read_request(reader))
        writer.write(OK)
        await writer.drain()

    server, url, seen = await serve(one_answer_then_close)
    pool = Pool()
    try:
        for _ in range(2):
            conn = await pool.request("POST", url, {}, b"x", None)
            assert await conn.read() == b"{}"
            await asyncio.sleep(0.05)  # the server's close reaches the idle connection in the pool
        assert len(seen) == 2 and len(connections) == 2
    finally:
        await pool.close()
        server.close()


async def test_keep_alive_reuses_one_connection():
    connections = []

    async def keep_alive(reader, writer, seen):
        connections.append(writer)
        while True:
            try:
                seen.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                return
            writer.write(OK)

    server, url, seen = await serve(keep_alive)
    pool = Pool()
    try:
        for _ in range(5):
            conn = await pool.request("POST", url, {}, b"x", None)
            assert await conn.read() == b"{}"
        assert len(seen) == 5 and len(connections) == 1
    finally:
        await pool.close()
        server.close()


async def test_deadline_raises_and_the_connection_is_not_reused():
    async def never_answers(reader, writer, seen):
        seen.append(await read_request(reader))
        await asyncio.sleep(5)

    server, url, seen = await serve(never_answers)
    pool = Pool()
    try:
        with pytest.raises(UpstreamTimeoutError):
            await pool.request("POST", url, {}, b"x", pool.loop.time() + 0.1)
        assert len(seen) == 1  # it was sent, and not retried: a timeout is not a dropped idle connection
        assert not any(pool.idle.values())
    finally:
        await pool.close()
        server.close()


async def test_connection_refused_is_an_oserror():
    pool = Pool()
    with pytest.raises(ConnectionRefusedError):
        await pool.request("POST", f"http://127.0.0.1:{free_port()}/v1/x", {}, b"x", None)


async def test_a_body_delimited_by_close_and_a_chunked_stream_both_arrive_whole():
    async def until_close(reader, writer, seen):
        seen.append(await read_request(reader))
        if b"/stream" in seen[-1]:
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for part in (b"data: 1\n\n", b"data: 2\n\n"):
                writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(b"0\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it")
        await writer.drain()

    server, url, _ = await serve(until_close)
    pool = Pool()
    try:
        conn = await pool.request("GET", url, {}, None, None)
        assert await conn.read() == b"all of it"
        conn = await pool.request("POST", url.replace("/v1/", "/stream/"), {}, b"{}", None)
        assert [c async for c in conn.chunks()] == [b"data: 1\n\n", b"data: 2\n\n"]
    finally:
        await pool.close()
        server.close()


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent():
    pool = Pool()
    with pytest.raises(ValueError, match="line break"):
        await pool.request("POST", "http://127.0.0.1:9/x", {"authorization": "Bearer k\r\nx-evil: 1"}, b"", None)


async def test_the_request_head_is_exact_and_provider_copies_of_host_or_length_are_not_duplicated():
    async def answer(reader, writer, seen):
        seen.append(await read_request(reader))
        writer.write(OK)
        await writer.drain()

    server, url, seen = await serve(answer)
    pool = Pool()
    try:
        conn = await pool.request("POST", url.replace("/v1/chat/completions", "/model/a b/x%2Fy:converse"),
                                  {"Host": "elsewhere", "content-length": "999", "x-api-key": "k"}, b"{}", None)
        assert await conn.read() == b"{}"
        port = url.split(":")[2].split("/")[0]
        assert seen == [b"POST /model/a%20b/x%2Fy:converse HTTP/1.1\r\nhost: 127.0.0.1:" + port.encode()
                        + b"\r\nx-api-key: k\r\ncontent-length: 2\r\n\r\n{}"]
    finally:
        await pool.close()
        server.close()


def _tls_pair(tmp_path):
    """A throwaway CA and a certificate for 127.0.0.1/localhost signed by it (cryptography, when installed)."""
    import datetime
    import ipaddress
    import ssl

    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(subject, issuer, key, sign_key, sans=None, ca=False):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(hours=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return b.sign(sign_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relaykit test CA")])
    ca_cert = cert(ca_name, ca_name, ca_key, ca_key, ca=True)
    leaf = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), ca_name, key, ca_key,
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    pem = serialization.Encoding.PEM
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem) + key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "leaf.pem")
    client = ssl.create_default_context(cadata=ca_cert.public_bytes(pem).decode())
    return server, client


async def test_https_upstreams_are_verified_and_pooled(tmp_path):
    server_ctx, client_ctx = _tls_pair(tmp_path)
    connections, seen = [], []

    async def on_conn(reader, writer):
        connections.append(writer)
        try:
            while True:
                seen.append(await read_request(reader))
                writer.write(OK)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    pool = Pool()
    pool._ssl = client_ctx  # the test CA instead of certifi's
    try:
        for _ in range(2):
            conn = await pool.request("POST", f"https://localhost:{port}/v1/x", {}, b"{}", pool.loop.time() + 5)
            assert conn.status == 200 and await conn.read() == b"{}"
        assert len(seen) == 2 and len(connections) == 1
        assert seen[0].startswith(b"POST /v1/x HTTP/1.1\r\nhost: localhost:%d\r\n" % port)
        untrusted = Pool()  # certifi's CAs: the test CA is not among them
        with pytest.raises(OSError):  # ssl.SSLCertVerificationError, which the gateway maps to UpstreamUnavailable
            await untrusted.request("POST", f"https://localhost:{port}/v1/x", {}, b"{}", untrusted.loop.time() + 5)
        await untrusted.close()
    finally:
        await pool.close()
        server.close()


BIG = bytes(range(256)) * 4096  # 1 MiB, four times _PAUSE_AT


def big_answer(body: bytes, *, chunked: bool = False, encoding: bytes | None = None) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
    if encoding:
        head += b"content-encoding: " + encoding + b"\r\n"
    if not chunked:
        return head + b"content-length: %d\r\n\r\n" % len(body) + body
    pieces = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000]) for i in range(0, len(body), 1000))
    return head + b"transfer-encoding: chunked\r\n\r\n" + pieces + b"0\r\n\r\n"


@pytest.mark.parametrize("chunked", [False, True])
async def test_read_takes_a_body_past_the_pause_threshold_and_keeps_the_connection(chunked):
    """read() once stalled here: the socket paused at _PAUSE_AT and only chunks() resumed it (a 504 at the deadline)."""
    assert len(BIG) > 4 * _PAUSE_AT - 1

    async def answer(reader, writer, seen):
        while True:
            try:
                seen.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                return
            writer.write(big_answer(BIG, chunked=chunked))
            await writer.drain()

    server, url, seen = await serve(answer)
    pool = Pool()
    try:
        for _ in range(2):
            conn = await pool.request("POST", url, {}, b"{}", pool.loop.time() + 5)
            assert await conn.read() == BIG
        assert len(seen) == 2 and len(pool.idle[conn.key]) == 1  # read to the end: pooled and reused
    finally:
        await pool.close()
        server.close()


async def test_read_resumes_a_body_that_was_paused_before_it_was_asked_for():
    async def answer(reader, writer, seen):
        seen.append(await read_request(reader))
        writer.write(big_answer(BIG))
        await writer.drain()

    server, url, _ = await serve(answer)
    pool = Pool()
    try:
        conn = await pool.request("POST", url, {}, b"{}", pool.loop.time() + 5)
        await asyncio.sleep(0.2)  # the body arrives meanwhile; with no reader yet, the socket pauses
        assert conn.paused
        assert await conn.read() == BIG
    finally:
        await pool.close()
        server.close()


async def test_read_past_its_limit_fails_at_once_and_closes_the_connection():
    closed = asyncio.Event()

    async def answer(reader, writer, seen):
        seen.append(await read_request(reader))
        writer.write(big_answer(BIG))
        try:
            await writer.drain()
            await reader.read()  # returns at EOF: the client closed its end
        except ConnectionError:
            pass
        closed.set()

    server, url, _ = await serve(answer)
    pool = Pool()
    try:
        conn = await pool.request("POST", url, {}, b"{}", pool.loop.time() + 5)
        with pytest.raises(ResponseTooLargeError) as info:
            await conn.read(limit=len(BIG) - 1)
        assert info.value.limit == len(BIG) - 1
        await asyncio.wait_for(closed.wait(), 2)
        assert conn.closed and not any(pool.idle.values()) and conn.body == []
    finally:
        await pool.close()
        server.close()


async def test_the_limit_counts_a_compressed_body_once_decompressed():
    import gzip

    packed = gzip.compress(BIG)
    assert len(packed) < len(BIG) // 20

    async def answer(reader, writer, seen):
        seen.append(await read_request(reader))
        writer.write(big_answer(packed, encoding=b"gzip"))
        await writer.drain()

    server, url, _ = await serve(answer)
    pool = Pool()
    try:
        conn = await pool.request("POST", url, {}, b"{}", pool.loop.time() + 5)
        with pytest.raises(ResponseTooLargeError):
            await conn.read(limit=len(BIG) - 1)
        conn = await pool.request("POST", url, {}, b"{}", pool.loop.time() + 5)
        assert await conn.read(limit=len(BIG)) == BIG
    finally:
        await pool.close()
        server.close()


async def test_read_at_exactly_its_limit_succeeds():
    async def answer(reader, writer, seen):
        seen.append(await read_request(reader))
        writer.write(big_answer(BIG))
        await writer.drain()

    server, url, _ = await serve(answer)
    pool = Pool()
    try:
        conn = await pool.request("POST", url, {}, b"{}", pool.loop.time() + 5)
        assert await conn.read(limit=len(BIG)) == BIG
    finally:
        await pool.close()
        server.close()


async def held_server(answer: bytes = OK):
    """A keep-alive server that holds each request until `release` is set; `open_now` counts live connections."""
    release = asyncio.Event()
    state = {"open_now": 0, "most_open": 0, "connections": 0}

    async def held(reader, writer, seen):
        state["connections"] += 1
        state["open_now"] += 1
        state["most_open"] = max(state["most_open"], state["open_now"])
        try:
            while True:
                try:
                    seen.append(await read_request(reader))
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                await release.wait()
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer:
                    return
        finally:
            state["open_now"] -= 1

    server, url, seen = await serve(held)
    return server, url, seen, release, state


async def test_at_most_max_per_host_connections_are_open_and_the_rest_wait_in_line():
    server, url, seen, release, state = await held_server()
    pool = Pool(max_per_host=2)
    try:
        async def one(i):
            conn = await pool.request("POST", url, {}, b"%d" % i, pool.loop.time() + 5)
            return conn.status, await conn.read()

        tasks = [asyncio.create_task(one(i)) for i in range(5)]
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(seen) == 2:
                break
        await asyncio.sleep(0.1)  # time enough for a third connection, were the cap not there
        assert len(seen) == 2 and state["connections"] == 2  # three wait in line, nothing of theirs sent
        assert len(pool.waiting[next(iter(pool.waiting))]) == 3
        release.set()
        assert await asyncio.gather(*tasks) == [(200, b"{}")] * 5
        assert len(seen) == 5 and state["connections"] == 2 and state["most_open"] == 2  # handed on, reused
        key = next(iter(pool.open))
        assert pool.open[key] == 2 and len(pool.idle[key]) == 2 and not pool.waiting[key]
    finally:
        release.set()
        await pool.close()
        server.close()


async def test_a_request_that_waits_in_line_past_its_deadline_fails_with_pool_full_and_sends_nothing():
    server, url, seen, release, state = await held_server()
    pool = Pool(max_per_host=1)
    try:
        first = asyncio.create_task(pool.request("POST", url, {}, b"first", pool.loop.time() + 5))
        while not seen:
            await asyncio.sleep(0.01)
        with pytest.raises(PoolFullError) as info:
            await pool.request("POST", url, {}, b"second", pool.loop.time() + 0.2)
        assert isinstance(info.value, UpstreamTimeoutError) and info.value.limit == 1
        assert len(seen) == 1 and state["connections"] == 1  # the second request never reached the upstream
        key = next(iter(pool.open))
        assert not pool.waiting[key]  # it left the line
        release.set()
        conn = await first
        assert await conn.read() == b"{}"
        conn = await pool.request("POST", url, {}, b"third", pool.loop.time() + 5)  # the line is free again
        assert await conn.read() == b"{}"
        assert state["connections"] == 1 and pool.open[key] == 1
    finally:
        release.set()
        await pool.close()
        server.close()


async def test_a_connection_that_closes_passes_its_slot_to_the_next_in_line():
    server, url, seen, release, state = await held_server(
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}")
    pool = Pool(max_per_host=1)
    try:
        async def one():
            conn = await pool.request("POST", url, {}, b"x", pool.loop.time() + 5)
            return await conn.read()

        tasks = [asyncio.create_task(one()) for _ in range(3)]
        while not seen:
            await asyncio.sleep(0.01)
        release.set()
        assert await asyncio.gather(*tasks) == [b"{}"] * 3
        assert state["connections"] == 3 and state["most_open"] == 1  # one at a time, each on a fresh connection
        await asyncio.sleep(0.05)
        assert pool.open[next(iter(pool.open))] == 0
    finally:
        release.set()
        await pool.close()
        server.close()


async def test_failed_connects_give_their_slot_back():
    pool = Pool(max_per_host=1)
    url = f"http://127.0.0.1:{free_port()}/v1/x"
    for _ in range(3):  # each refused connect frees its slot: the next does not wait for one
        with pytest.raises(ConnectionRefusedError):
            await pool.request("POST", url, {}, b"x", pool.loop.time() + 1)
    assert list(pool.open.values()) == [0]
